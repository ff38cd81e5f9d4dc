"""Seed files: create in the emulator what a repository's units refer to.

A seed file is YAML::

    region: us-east-1
    clusters:
      - {name: prod, capacity_providers: [FARGATE, FARGATE_SPOT]}
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
        target_groups: [{name: web-blue, port: 8080, protocol: HTTP, target_type: ip}]
        listeners: [{port: 80, protocol: HTTP, default_target_group: web-blue}]
    log_groups: [/ecs/prod/api]

Values may refer to what the seed creates: ``${subnet:NAME}``,
``${security_group:NAME}``, ``${vpc:NAME}``, ``${target_group:NAME}``,
``${load_balancer:NAME}``, ``${listener:LB:PORT}``, ``${secret:NAME}``,
``${account}`` and ``${region}``. Applying returns every such reference with the
id or ARN it resolved to.

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
    """Applies seed documents to the emulator listening at ``endpoint``."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
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
        item = _fields("clusters", item, {"name"}, {"capacity_providers"})
        ecs = self.client("ecs", region)
        arn = ecs.create_cluster(clusterName=item["name"])["cluster"]["clusterArn"]
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
                "listeners", listener, {"port", "default_target_group"}, {"protocol"}
            )
            target = self.resolve(f"${{target_group:{listener['default_target_group']}}}")
            arn = elb.create_listener(
                LoadBalancerArn=lb_arn,
                Port=int(listener["port"]),
                Protocol=listener.get("protocol", "HTTP"),
                DefaultActions=[{"Type": "forward", "TargetGroupArn": target}],
            )["Listeners"][0]["ListenerArn"]
            self.references[f"listener:{item['name']}:{listener['port']}"] = arn
