"""Services on the CODE_DEPLOY deployment controller: the AppSpec and the deployment.

ECS refuses a new task definition on such a service through UpdateService:
CodeDeploy rolls it out, from an AppSpec naming the task definition, the
container and port behind the load balancer, the platform version, the network
configuration and capacity providers, and the hooks of the unit's ``appspec:``
section (ecspresso's key). Which CodeDeploy application and deployment group to
deploy through comes from the unit's ``codedeploy:`` section, else from the
deployment group whose ECS service is the unit's, looked up once per process.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import yaml

from reconciler.apply.requests import service_definition
from reconciler.aws import Aws, AwsTarget
from reconciler.errors import InvalidUnitError
from reconciler.model import DesiredUnit, JsonObject

log = logging.getLogger(__name__)

TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"

# What UpdateService may still change on a CODE_DEPLOY service; the rest of
# a change reaches it through the AppSpec, or not at all.
CODE_DEPLOY_UPDATABLE = frozenset(
    {
        "desiredCount",
        "deploymentConfiguration",
        "healthCheckGracePeriodSeconds",
        "placementConstraints",
        "placementStrategy",
        "enableECSManagedTags",
        "propagateTags",
    }
)

HOOK_EVENTS = frozenset(
    {"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic",
     "AfterAllowTraffic"}
)  # fmt: skip

# (application, group) per (region, role, cluster, service), one cache per Aws:
# deployment groups rarely move, and listing them all on every apply is costly.
_GROUPS: weakref.WeakKeyDictionary[Aws, dict[tuple[AwsTarget, str, str], tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def is_code_deploy(unit: DesiredUnit) -> bool:
    controller = service_definition(unit).get("deploymentController") or {}
    return bool(controller.get("type") == "CODE_DEPLOY")


def appspec_document(unit: DesiredUnit, task_definition_arn: str) -> JsonObject:
    """The AppSpec that deploys ``task_definition_arn`` to the unit's service."""
    service = service_definition(unit)
    properties: JsonObject = {"TaskDefinition": task_definition_arn}

    balancers = service.get("loadBalancers") or []
    if balancers:
        first = balancers[0]
        properties["LoadBalancerInfo"] = {
            "ContainerName": first.get("containerName"),
            "ContainerPort": first.get("containerPort"),
        }
    if service.get("platformVersion"):
        properties["PlatformVersion"] = service["platformVersion"]
    awsvpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if awsvpc:
        network: JsonObject = {"Subnets": list(awsvpc.get("subnets") or [])}
        if awsvpc.get("securityGroups"):
            network["SecurityGroups"] = list(awsvpc["securityGroups"])
        if awsvpc.get("assignPublicIp"):
            network["AssignPublicIp"] = awsvpc["assignPublicIp"]
        properties["NetworkConfiguration"] = {"AwsvpcConfiguration": network}
    strategy = service.get("capacityProviderStrategy") or []
    if strategy:
        properties["CapacityProviderStrategy"] = [
            {
                "CapacityProvider": item.get("capacityProvider"),
                "Base": int(item.get("base", 0)),
                "Weight": int(item.get("weight", 0)),
            }
            for item in strategy
        ]

    document: JsonObject = {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}],
    }
    hooks = appspec_hooks(unit)
    if hooks:
        document["Hooks"] = hooks
    return document


def appspec_hooks(unit: DesiredUnit) -> list[JsonObject]:
    """The ``Hooks`` of the unit's ``appspec:`` section, checked."""
    section = unit.config.appspec or {}
    hooks = section.get("Hooks", section.get("hooks")) or []
    where = f"{unit.path}/ecspresso.yml" if unit.path else "ecspresso.yml"
    if not isinstance(hooks, list):
        raise InvalidUnitError(
            "appspec.Hooks must be a list of {EVENT: FUNCTION} mappings",
            unit=unit.id,
            file=where,
            field="appspec.Hooks",
        )
    checked: list[JsonObject] = []
    for index, hook in enumerate(hooks):
        if not isinstance(hook, Mapping) or not all(
            event in HOOK_EVENTS and isinstance(target, str) for event, target in hook.items()
        ):
            raise InvalidUnitError(
                f"appspec.Hooks[{index}] must map one of {', '.join(sorted(HOOK_EVENTS))} "
                "to a Lambda function name or ARN",
                unit=unit.id,
                file=where,
                field=f"appspec.Hooks[{index}]",
            )
        checked.append(dict(hook))
    return checked


def appspec_text(document: Mapping[str, Any]) -> str:
    """The AppSpec as YAML, keys in the order AWS documents them."""
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def update_fields_allowed(request: Mapping[str, Any]) -> JsonObject:
    """The part of an UpdateService request a CODE_DEPLOY service takes."""
    kept = {k: v for k, v in request.items() if k in CODE_DEPLOY_UPDATABLE}
    if kept:
        kept.update(cluster=request["cluster"], service=request["service"])
    return kept


async def find_deployment_group(aws: Aws, target: AwsTarget, unit: DesiredUnit) -> tuple[str, str]:
    """The CodeDeploy application and deployment group that deploy the unit's service."""
    section = unit.config.codedeploy or {}
    application = section.get("application_name")
    group = section.get("deployment_group_name")
    if application and group:
        return str(application), str(group)

    cache = _GROUPS.setdefault(aws, {})
    key = (target, unit.config.cluster, str(unit.config.service))
    if key in cache:
        return cache[key]
    found = await _discover_group(aws, target, unit.config.cluster, str(unit.config.service))
    if found is None:
        raise InvalidUnitError(
            f"no CodeDeploy deployment group deploys service {unit.config.service} of "
            f"cluster {unit.config.cluster}; create one, or name it in ecspresso.yml's "
            "codedeploy section (application_name, deployment_group_name)",
            unit=unit.id,
            field="codedeploy",
        )
    cache[key] = found
    return found


async def _discover_group(
    aws: Aws, target: AwsTarget, cluster: str, service: str
) -> tuple[str, str] | None:
    async for application in _paged(aws, target, "list_applications", "applications", {}):
        groups = _paged(
            aws,
            target,
            "list_deployment_groups",
            "deploymentGroups",
            {"applicationName": application},
        )
        async for group in groups:
            described = await aws.call(
                "codedeploy",
                "get_deployment_group",
                target,
                applicationName=application,
                deploymentGroupName=group,
            )
            info = described.get("deploymentGroupInfo") or {}
            for ecs in info.get("ecsServices") or ():
                if ecs.get("serviceName") == service and _cluster_name(
                    ecs.get("clusterName", "")
                ) == _cluster_name(cluster):
                    log.info(
                        "CodeDeploy deployment group found",
                        extra={"service": service, "application": application, "group": group},
                    )
                    return str(application), str(group)
    return None


async def _paged(
    aws: Aws, target: AwsTarget, operation: str, key: str, params: Mapping[str, Any]
) -> AsyncIterator[Any]:
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        response = await aws.call("codedeploy", operation, target, **params, **extra)
        for item in response.get(key) or ():
            yield item
        token = response.get("nextToken")
        if not token:
            return


def _cluster_name(cluster: str) -> str:
    return cluster.rsplit("/", 1)[-1]


async def create_code_deploy_deployment(
    aws: Aws, target: AwsTarget, unit: DesiredUnit, task_definition_arn: str
) -> str:
    """Start a CodeDeploy deployment of ``task_definition_arn``; its deployment id."""
    application, group = await find_deployment_group(aws, target, unit)
    content = appspec_text(appspec_document(unit, task_definition_arn))
    description = f"reconciler: unit {unit.id}"
    if unit.revision:
        description += f" at {unit.revision[:12]}"
    response = await aws.call(
        "codedeploy",
        "create_deployment",
        target,
        applicationName=application,
        deploymentGroupName=group,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
        description=description,
    )
    deployment_id = str(response["deploymentId"])
    log.info(
        "CodeDeploy deployment created",
        extra={"unit": unit.id, "deployment_id": deployment_id, "application": application},
    )
    return deployment_id
