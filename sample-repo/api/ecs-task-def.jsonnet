// The API and its OpenTelemetry collector sidecar.
local imageTag = std.native('must_env')('IMAGE_TAG');
local region = 'us-east-1';

local logs(prefix) = {
  logDriver: 'awslogs',
  options: {
    'awslogs-group': '/ecs/prod/api',
    'awslogs-region': region,
    'awslogs-stream-prefix': prefix,
  },
};

{
  family: 'prod-api',
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '1 vCPU',
  memory: '2048',
  executionRoleArn: '{{ ssm `/prod/iam/ecs-task-execution-role` }}',
  taskRoleArn: '{{ ssm `/prod/iam/api-task-role` }}',
  containerDefinitions: [
    {
      name: 'app',
      image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api:' + imageTag,
      essential: true,
      cpu: 768,
      memory: 1792,
      memoryReservation: 1536,
      portMappings: [
        { name: 'http', containerPort: 8080, protocol: 'tcp', appProtocol: 'http' },
      ],
      environment: [
        { name: 'PORT', value: '8080' },
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://localhost:4317' },
      ],
      secrets: [
        { name: 'DB_PASSWORD', valueFrom: '/prod/api/db-password' },
        { name: 'DATABASE_URL', valueFrom: '{{ secretsmanager_arn `prod/api/database` }}' },
      ],
      dependsOn: [
        { containerName: 'otel-collector', condition: 'START' },
      ],
      healthCheck: {
        command: ['CMD-SHELL', 'curl -fsS http://localhost:8080/healthz || exit 1'],
        interval: 10,
        timeout: 5,
        retries: 3,
        startPeriod: 30,
      },
      logConfiguration: logs('app'),
      stopTimeout: 60,
    },
    {
      name: 'otel-collector',
      image: 'public.ecr.aws/aws-observability/aws-otel-collector:{{ must_env `OTEL_COLLECTOR_TAG` }}',
      // A lost collector costs traces, not requests: it may restart on its own.
      essential: false,
      cpu: 256,
      memory: 512,
      memoryReservation: 256,
      command: ['--config=/etc/ecs/ecs-default-config.yaml'],
      logConfiguration: logs('otel'),
    },
  ],
  tags: [
    { key: 'team', value: 'platform' },
    { key: 'service', value: 'api' },
  ],
}
