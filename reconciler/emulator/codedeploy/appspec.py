"""Reading the AppSpec of an ECS deployment (``revisionType: AppSpecContent``).

The AppSpec is YAML or JSON::

    version: 0.0
    Resources:
      - TargetService:
          Type: AWS::ECS::Service
          Properties:
            TaskDefinition: arn:aws:ecs:...:task-definition/web:7
            LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}
            PlatformVersion: LATEST
            NetworkConfiguration:
              AwsvpcConfiguration: {Subnets: [...], SecurityGroups: [...],
                                    AssignPublicIp: DISABLED}
            CapacityProviderStrategy: [{CapacityProvider: FARGATE, Base: 1, Weight: 1}]
    Hooks:
      - BeforeInstall: my-validation-lambda
      - AfterAllowTraffic: arn:aws:lambda:us-east-1:123456789012:function:smoke

and becomes the settings of the green task set plus the hooks per lifecycle event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.emulator.codedeploy.errors import CodeDeployApiError

# The lifecycle events of an ECS deployment, in order, and those that take hooks.
LIFECYCLE_EVENTS = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)
HOOK_EVENTS = frozenset(
    {"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic",
     "AfterAllowTraffic"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppSpec:
    task_definition: str
    container_name: str
    container_port: int
    platform_version: str | None
    network_configuration: dict[str, Any] | None
    capacity_provider_strategy: list[dict[str, Any]] | None
    hooks: dict[str, str]


def invalid_revision(message: str) -> CodeDeployApiError:
    return CodeDeployApiError("InvalidRevisionException", f"The AppSpec is invalid: {message}")


def network_configuration(given: Any) -> dict[str, Any]:
    """The AppSpec's PascalCase AwsvpcConfiguration in ECS's own shape."""
    awsvpc = given.get("AwsvpcConfiguration") if isinstance(given, dict) else None
    if not isinstance(awsvpc, dict) or not awsvpc.get("Subnets"):
        raise invalid_revision("NetworkConfiguration needs AwsvpcConfiguration.Subnets.")
    converted: dict[str, Any] = {"subnets": list(awsvpc["Subnets"])}
    if awsvpc.get("SecurityGroups"):
        converted["securityGroups"] = list(awsvpc["SecurityGroups"])
    if awsvpc.get("AssignPublicIp"):
        converted["assignPublicIp"] = awsvpc["AssignPublicIp"]
    return {"awsvpcConfiguration": converted}


def capacity_provider_strategy(given: Any) -> list[dict[str, Any]]:
    if not isinstance(given, list) or not given:
        raise invalid_revision("CapacityProviderStrategy must be a non-empty list.")
    strategy = []
    for item in given:
        if not isinstance(item, dict) or "CapacityProvider" not in item:
            raise invalid_revision("each CapacityProviderStrategy entry names a CapacityProvider.")
        strategy.append(
            {
                "capacityProvider": item["CapacityProvider"],
                "base": int(item.get("Base", 0)),
                "weight": int(item.get("Weight", 0)),
            }
        )
    return strategy


def parse_appspec(content: str) -> AppSpec:
    """The AppSpec in ``content``, or InvalidRevisionException naming what is wrong."""
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as e:
        raise invalid_revision(f"it is neither YAML nor JSON ({e}).") from e
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), list):
        raise invalid_revision("it needs a Resources list with one TargetService.")
    targets = [
        item["TargetService"]
        for item in document["Resources"]
        if isinstance(item, dict) and isinstance(item.get("TargetService"), dict)
    ]
    if len(targets) != 1:
        raise invalid_revision("Resources must hold exactly one TargetService.")
    target = targets[0]
    if target.get("Type") != "AWS::ECS::Service":
        raise invalid_revision("TargetService.Type must be AWS::ECS::Service.")
    properties = target.get("Properties")
    if not isinstance(properties, dict) or not properties.get("TaskDefinition"):
        raise invalid_revision("TargetService.Properties.TaskDefinition is required.")
    balancer = properties.get("LoadBalancerInfo")
    if not isinstance(balancer, dict) or "ContainerName" not in balancer:
        raise invalid_revision("Properties.LoadBalancerInfo.ContainerName is required.")
    if "ContainerPort" not in balancer:
        raise invalid_revision("Properties.LoadBalancerInfo.ContainerPort is required.")

    hooks: dict[str, str] = {}
    for item in document.get("Hooks") or []:
        if not isinstance(item, dict):
            raise invalid_revision("each Hooks entry maps a lifecycle event to a Lambda.")
        for event, function in item.items():
            if event not in HOOK_EVENTS:
                allowed = ", ".join(sorted(HOOK_EVENTS))
                raise invalid_revision(f"{event} takes no hook; use {allowed}.")
            hooks[event] = str(function)

    network = properties.get("NetworkConfiguration")
    strategy = properties.get("CapacityProviderStrategy")
    return AppSpec(
        task_definition=str(properties["TaskDefinition"]),
        container_name=str(balancer["ContainerName"]),
        container_port=int(balancer["ContainerPort"]),
        platform_version=properties.get("PlatformVersion"),
        network_configuration=network_configuration(network) if network else None,
        capacity_provider_strategy=capacity_provider_strategy(strategy) if strategy else None,
        hooks=hooks,
    )
