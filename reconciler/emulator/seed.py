"""Seed files: create in the emulator what a repository's units refer to.

A seed file is YAML::

    region: us-east-1
    clusters:
      - {name: prod, capacity_providers: [FARGATE, FARGATE_SPOT]}
      - {name: edge, instances: 3}
    vpcs:
      - name: prod
        cidr: 10.0.0.0/16
        subnets: [{name: private-a, cidr: 10.0.1.0/24, availability_zone: us-east-1a}]
        security_groups: [{name: api, description: api tasks}]
    ssm_parameters:
      - {name: /prod/network/subnets, type: StringList, value: "${subnet:private-a}"}
    secrets:
      - {name: prod/api/database, value: "postgres://..."}
    load_balancers:
      - name: web
        vpc: prod
        subnets: [private-a]
        security_groups: [api]
        target_groups:
          - {name: web-blue, port: 8080, protocol: HTTP, target_type: ip}
          - {name: web-green, port: 8080, protocol: HTTP, target_type: ip}
        listeners:
          - port: 80
            protocol: HTTP
            default_target_group: web-blue
            rules:
              - priority: 10
                paths: ["/*"]
                forward: [{target_group: web-blue, weight: 100},
                          {target_group: web-green, weight: 0}]
          - {port: 8080, protocol: HTTP, default_target_group: web-green}
      - name: shop
        vpc: prod
        subnets: [private-a]
        target_groups: [{name: shop-blue, port: 8080}, {name: shop-green, port: 8080}]
        listeners:
          - {port: 80, default_target_group: shop-blue}
          - {port: 8080, default_target_group: shop-blue}
    log_groups: [/ecs/prod/api]
    codedeploy:
      - application: shop
        deployment_groups:
          - name: shop
            service: prod/shop
            target_groups: [shop-blue, shop-green]
            listener: shop:80
            test_listener: shop:8080
            config: CodeDeployDefault.ECSAllAtOnce
            auto_rollback: true
            ready_wait_minutes: 30
            termination_wait_minutes: 5

A cluster has ``instances`` simulated EC2 container instances (default 2):
a DAEMON service runs one task on each, and other EC2 tasks are spread over
them. Seeding a cluster that exists sets its number of instances again.

A listener rule forwards the paths it lists to its target groups with their
weights (ECS-native blue/green names such a rule as ``productionListenerRule``
or ``testListenerRule``). A CodeDeploy deployment group names its ECS service
as CLUSTER/SERVICE; the service need not exist yet, because the repository
usually creates it: CodeDeploy looks it up when a deployment starts. Its
``config`` defaults to CodeDeployDefault.ECSAllAtOnce; ``auto_rollback`` (default
true) rolls back failed and stopped deployments; ``ready_wait_minutes`` makes a
deployment wait, Ready, for ContinueDeployment that long before production
traffic moves; ``termination_wait_minutes`` (default 0) keeps the original task
set that long after it.

Values may refer to what the seed creates: ``${subnet:NAME}``,
``${security_group:NAME}``, ``${vpc:NAME}``, ``${target_group:NAME}``,
``${load_balancer:NAME}``, ``${listener:LB:PORT}``, ``${rule:LB:PORT:PRIORITY}``,
``${secret:NAME}``, ``${codedeploy_group:APPLICATION:GROUP}``, ``${account}``
and ``${region}``. Applying returns every such reference with the id or ARN it
resolved to.

Resources are created through the emulator's own endpoint with boto3, exactly as
a user would, marked internal so that they neither count in the call statistics
nor meet injected faults.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import boto3
import botocore.config

ACCOUNT_ID = "123456789012"
INTERNAL_HEADER = "X-Emulator-Internal"

SECTIONS = {
    "region",
    "clusters",
    "vpcs",
    "ssm_parameters",
    "secrets",
    "load_balancers",
    "log_groups",
    "codedeploy",
}
_REFERENCE = re.compile(r"\$\{(?P<ref>[a-z_]+(?::[^}]+)?)\}")


class SeedError(ValueError):
    """The seed document asks for something the emulator cannot create."""


def _fields(section: str, item: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SeedError(f"{section}: each entry must be a mapping, got {item!r}")
    missing = required - item.keys()
    if missing:
        raise SeedError(f"{section}: entry {item!r} lacks {', '.join(sorted(missing))}")
    unknown = item.keys() - required - optional
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise SeedError(f"{section}: unknown key(s) {', '.join(sorted(unknown))}; use {allowed}")
    return item


class Seeder:
    """Applies seed documents to the emulator listening at ``endpoint``.

    ``set_instances(region, cluster, count)`` sets a cluster's number of
    container instances: no ECS call registers a simulated one, so the emulator
    that owns the seeder lends its own hand.
    """

    def __init__(
        self, endpoint: str, set_instances: Callable[[str, str, int], None] | None = None
    ) -> None:
        self._endpoint = endpoint
        self._set_instances = set_instances
        self.references: dict[str, str] = {}

    def client(self, service: str, region: str) -> Any:
        client = boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self._endpoint,
            aws_access_key_id="seed",
            aws_secret_access_key="seed",
            config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )

        def mark_internal(request: Any, **_: Any) -> None:
            request.headers[INTERNAL_HEADER] = "1"

        client.meta.events.register("before-send", mark_internal)
        return client

    def resolve(self, value: Any) -> Any:
        """Replace ``${kind:name}`` references in strings (and lists of them)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str):
            return value

        def lookup(match: re.Match[str]) -> str:
            ref = match["ref"]
            if ref not in self.references:
                known = ", ".join(sorted(self.references)) or "none yet"
                raise SeedError(f"${{{ref}}} refers to nothing the seed created (known: {known})")
            return self.references[ref]

        return _REFERENCE.sub(lookup, value)

    def apply(self, document: Any) -> dict[str, str]:
        if document is None:
            return {}
        if not isinstance(document, dict):
            raise SeedError("a seed document is a mapping of sections")
        unknown = document.keys() - SECTIONS
        if unknown:
            raise SeedError(
                f"unknown seed section(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(SECTIONS))}"
            )
        region = str(document.get("region", "us-east-1"))
        self.references.update({"account": ACCOUNT_ID, "region": region})
        steps: list[tuple[str, Callable[[Any, str], None]]] = [
            ("clusters", self._cluster),
            ("vpcs", self._vpc),
            ("secrets", self._secret),
            ("load_balancers", self._load_balancer),
            ("log_groups", self._log_group),
            ("ssm_parameters", self._parameter),
            ("codedeploy", self._codedeploy_application),
        ]
        for section, create in steps:
            items = document.get(section) or []
            if not isinstance(items, list):
                raise SeedError(f"{section} must be a list")
            for item in items:
                create(item, region)
        return dict(self.references)

    def _cluster(self, item: Any, region: str) -> None:
        if isinstance(item, str):
            item = {"name": item}
        item = _fields("clusters", item, {"name"}, {"capacity_providers", "instances"})
        instances = item.get("instances")
        if instances is not None and (
            isinstance(instances, bool) or not isinstance(instances, int) or instances < 0
        ):
            raise SeedError(
                f"clusters: {item['name']}: instances is a whole number of container "
                f"instances (0 or more), got {instances!r}"
            )
        if instances is not None and self._set_instances is None:
            raise SeedError(
                f"clusters: {item['name']}: instances can only be set by the emulator itself "
                "(reconciler emulator --seed, or POST /_emulator/seed)"
            )
        ecs = self.client("ecs", region)
        arn = ecs.create_cluster(clusterName=item["name"])["cluster"]["clusterArn"]
        if instances is not None and self._set_instances is not None:
            self._set_instances(region, item["name"], instances)
        providers = item.get("capacity_providers") or []
        if providers:
            ecs.put_cluster_capacity_providers(
                cluster=item["name"],
                capacityProviders=providers,
                defaultCapacityProviderStrategy=[{"capacityProvider": providers[0], "weight": 1}],
            )
        self.references[f"cluster:{item['name']}"] = arn

    def _vpc(self, item: Any, region: str) -> None:
        item = _fields("vpcs", item, {"name", "cidr"}, {"subnets", "security_groups"})
        ec2 = self.client("ec2", region)
        name = item["name"]
        vpc_id = ec2.create_vpc(CidrBlock=item["cidr"])["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": name}])
        self.references[f"vpc:{name}"] = vpc_id
        for subnet in item.get("subnets") or []:
            subnet = _fields("subnets", subnet, {"name", "cidr"}, {"availability_zone"})
            params = {"VpcId": vpc_id, "CidrBlock": subnet["cidr"]}
            if subnet.get("availability_zone"):
                params["AvailabilityZone"] = subnet["availability_zone"]
            subnet_id = ec2.create_subnet(**params)["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "Name", "Value": subnet["name"]}])
            self.references[f"subnet:{subnet['name']}"] = subnet_id
        for group in item.get("security_groups") or []:
            group = _fields("security_groups", group, {"name"}, {"description"})
            group_id = ec2.create_security_group(
                GroupName=group["name"],
                Description=group.get("description") or group["name"],
                VpcId=vpc_id,
            )["GroupId"]
            self.references[f"security_group:{group['name']}"] = group_id

    def _secret(self, item: Any, region: str) -> None:
        item = _fields("secrets", item, {"name", "value"}, {"description"})
        arn = self.client("secretsmanager", region).create_secret(
            Name=item["name"], SecretString=str(self.resolve(item["value"]))
        )["ARN"]
        self.references[f"secret:{item['name']}"] = arn

    def _parameter(self, item: Any, region: str) -> None:
        item = _fields("ssm_parameters", item, {"name", "value"}, {"type", "description"})
        kind = item.get("type", "String")
        if kind not in {"String", "StringList", "SecureString"}:
            raise SeedError(
                f"ssm_parameters: {item['name']}: type must be String, StringList or SecureString"
            )
        self.client("ssm", region).put_parameter(
            Name=item["name"], Value=str(self.resolve(item["value"])), Type=kind, Overwrite=True
        )

    def _log_group(self, item: Any, region: str) -> None:
        name = (
            item if isinstance(item, str) else _fields("log_groups", item, {"name"}, set())["name"]
        )
        logs = self.client("logs", region)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=name)

    def _load_balancer(self, item: Any, region: str) -> None:
        item = _fields(
            "load_balancers",
            item,
            {"name", "subnets"},
            {"vpc", "security_groups", "target_groups", "listeners", "scheme"},
        )
        elb = self.client("elbv2", region)
        subnets = [self.resolve(f"${{subnet:{s}}}") for s in item["subnets"]]
        groups = [
            self.resolve(f"${{security_group:{g}}}") for g in item.get("security_groups") or []
        ]
        params: dict[str, Any] = {"Name": item["name"], "Subnets": subnets, "Type": "application"}
        if groups:
            params["SecurityGroups"] = groups
        if item.get("scheme"):
            params["Scheme"] = item["scheme"]
        lb_arn = elb.create_load_balancer(**params)["LoadBalancers"][0]["LoadBalancerArn"]
        self.references[f"load_balancer:{item['name']}"] = lb_arn
        vpc_id = self.resolve(f"${{vpc:{item['vpc']}}}") if item.get("vpc") else None
        for group in item.get("target_groups") or []:
            group = _fields(
                "target_groups",
                group,
                {"name", "port"},
                {"protocol", "target_type", "health_check_path"},
            )
            tg: dict[str, Any] = {
                "Name": group["name"],
                "Port": int(group["port"]),
                "Protocol": group.get("protocol", "HTTP"),
                "TargetType": group.get("target_type", "ip"),
            }
            if vpc_id:
                tg["VpcId"] = vpc_id
            if group.get("health_check_path"):
                tg["HealthCheckPath"] = group["health_check_path"]
            arn = elb.create_target_group(**tg)["TargetGroups"][0]["TargetGroupArn"]
            self.references[f"target_group:{group['name']}"] = arn
        for listener in item.get("listeners") or []:
            listener = _fields(
                "listeners", listener, {"port", "default_target_group"}, {"protocol", "rules"}
            )
            target = self.resolve(f"${{target_group:{listener['default_target_group']}}}")
            arn = elb.create_listener(
                LoadBalancerArn=lb_arn,
                Port=int(listener["port"]),
                Protocol=listener.get("protocol", "HTTP"),
                DefaultActions=[{"Type": "forward", "TargetGroupArn": target}],
            )["Listeners"][0]["ListenerArn"]
            name = f"{item['name']}:{listener['port']}"
            self.references[f"listener:{name}"] = arn
            for rule in listener.get("rules") or []:
                self._listener_rule(elb, name, arn, rule)

    def _listener_rule(self, elb: Any, listener_name: str, listener_arn: str, rule: Any) -> None:
        rule = _fields("rules", rule, {"priority", "forward"}, {"paths"})
        forward = rule["forward"]
        if not isinstance(forward, list) or not forward:
            raise SeedError(f"rules: {listener_name} priority {rule['priority']}: forward is empty")
        groups = []
        for target in forward:
            target = _fields("forward", target, {"target_group"}, {"weight"})
            groups.append(
                {
                    "TargetGroupArn": self.resolve(f"${{target_group:{target['target_group']}}}"),
                    "Weight": int(target.get("weight", 1)),
                }
            )
        paths = rule.get("paths") or ["/*"]
        arn = elb.create_rule(
            ListenerArn=listener_arn,
            Priority=int(rule["priority"]),
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}],
            Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
        )["Rules"][0]["RuleArn"]
        self.references[f"rule:{listener_name}:{rule['priority']}"] = arn

    def _codedeploy_application(self, item: Any, region: str) -> None:
        item = _fields("codedeploy", item, {"application"}, {"deployment_groups"})
        codedeploy = self.client("codedeploy", region)
        name = item["application"]
        codedeploy.create_application(applicationName=name, computePlatform="ECS")
        for group in item.get("deployment_groups") or []:
            self._deployment_group(codedeploy, name, group)

    def _deployment_group(self, codedeploy: Any, application: str, group: Any) -> None:
        group = _fields(
            "deployment_groups",
            group,
            {"name", "service", "target_groups", "listener"},
            {
                "test_listener",
                "config",
                "auto_rollback",
                "ready_wait_minutes",
                "termination_wait_minutes",
            },
        )
        cluster, _, service = str(group["service"]).partition("/")
        if not cluster or not service:
            raise SeedError(f"deployment_groups: {group['name']}: service is CLUSTER/SERVICE")
        targets = group["target_groups"]
        if not isinstance(targets, list) or len(targets) != 2:
            raise SeedError(
                f"deployment_groups: {group['name']}: target_groups lists two target groups"
            )
        pair: dict[str, Any] = {
            "targetGroups": [{"name": name} for name in targets],
            "prodTrafficRoute": {
                "listenerArns": [self.resolve(f"${{listener:{group['listener']}}}")]
            },
        }
        if group.get("test_listener"):
            test = self.resolve(f"${{listener:{group['test_listener']}}}")
            pair["testTrafficRoute"] = {"listenerArns": [test]}
        ready: dict[str, Any] = {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}
        if group.get("ready_wait_minutes") is not None:
            ready = {
                "actionOnTimeout": "STOP_DEPLOYMENT",
                "waitTimeInMinutes": int(group["ready_wait_minutes"]),
            }
        rollback = bool(group.get("auto_rollback", True))
        group_id = codedeploy.create_deployment_group(
            applicationName=application,
            deploymentGroupName=group["name"],
            deploymentConfigName=group.get("config", "CodeDeployDefault.ECSAllAtOnce"),
            serviceRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ecsCodeDeployRole",
            ecsServices=[{"clusterName": cluster, "serviceName": service}],
            loadBalancerInfo={"targetGroupPairInfoList": [pair]},
            deploymentStyle={
                "deploymentType": "BLUE_GREEN",
                "deploymentOption": "WITH_TRAFFIC_CONTROL",
            },
            blueGreenDeploymentConfiguration={
                "terminateBlueInstancesOnDeploymentSuccess": {
                    "action": "TERMINATE",
                    "terminationWaitTimeInMinutes": int(group.get("termination_wait_minutes", 0)),
                },
                "deploymentReadyOption": ready,
            },
            autoRollbackConfiguration={
                "enabled": rollback,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"] if rollback else [],
            },
        )["deploymentGroupId"]
        self.references[f"codedeploy_group:{application}:{group['name']}"] = group_id
