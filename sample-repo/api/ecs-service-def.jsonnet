{
  capacityProviderStrategy: [
    { capacityProvider: 'FARGATE', base: 2, weight: 1 },
    { capacityProvider: 'FARGATE_SPOT', base: 0, weight: 2 },
  ],
  platformVersion: 'LATEST',
  schedulingStrategy: 'REPLICA',
  deploymentConfiguration: {
    deploymentCircuitBreaker: { enable: true, rollback: true },
    maximumPercent: 200,
    minimumHealthyPercent: 100,
  },
  deploymentController: { type: 'ECS' },
  networkConfiguration: {
    awsvpcConfiguration: {
      subnets: [
        '{{ ssm `/prod/network/subnets` 0 }}',
        '{{ ssm `/prod/network/subnets` 1 }}',
      ],
      securityGroups: ['{{ ssm `/prod/network/sg/api` }}'],
      assignPublicIp: 'DISABLED',
    },
  },
  loadBalancers: [
    {
      targetGroupArn: '{{ ssm `/prod/lb/target-group/api` }}',
      containerName: 'app',
      containerPort: 8080,
    },
  ],
  healthCheckGracePeriodSeconds: 60,
  enableECSManagedTags: true,
  propagateTags: 'SERVICE',
  enableExecuteCommand: true,
  tags: [
    { key: 'team', value: 'platform' },
    { key: 'service', value: 'api' },
  ],
}
