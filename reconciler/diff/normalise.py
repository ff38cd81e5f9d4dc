"""Bring task definitions and services to one canonical form.

Both sides go through the same functions: the definition a user wrote (any key
case, ``"0.25 vCPU"``, lists in any order, defaults left out) and the payload
AWS returns for it (read-only fields, defaults filled in, its own order). When
the two mean the same thing their canonical forms are equal, so what AWS fills
in is never reported as drift.

The rules, in the order they run:

1. key case: the first letter of every key is lowered (Go's JSON decoding,
   which ecspresso users rely on, is case-insensitive), except inside maps
   whose keys are the user's own (``dockerLabels``, log ``options``...);
2. read-only and status fields of describe output are dropped, as are fields
   that identify rather than describe (``serviceName``, ``taskDefinition``);
3. ``null``, empty lists and empty maps are dropped;
4. defaults AWS fills in are filled in on both sides (filling, rather than
   removing, keeps a diff explicit: "true -> false", not "true -> absent");
5. lists whose order means nothing are sorted by their natural key;
6. fields owned by someone else (:class:`~reconciler.model.FieldOwnership`)
   are dropped from services.

Any change to these rules that changes a canonical form must bump
:data:`reconciler.diff.digest.NORMALISER_VERSION`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.fields import USER_KEYED_MAPS
from reconciler.model import FieldOwnership, JsonObject

_TASK_DEFINITION_READ_ONLY = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)

_SERVICE_READ_ONLY = frozenset(
    {
        "serviceArn",
        "serviceName",
        "cluster",
        "clusterArn",
        "clientToken",
        "status",
        "events",
        "deployments",
        "runningCount",
        "pendingCount",
        "createdAt",
        "createdBy",
        "taskSets",
        "currentServiceDeployment",
        "currentServiceRevisions",
        "platformFamily",
        "resourceManagementType",
        "forceNewDeployment",
        "service",
        # The service's task definition is given as family[:revision] by the
        # user and as an ARN by AWS; the task definition is diffed on its own,
        # so the service's reference to it is left to the caller.
        "taskDefinition",
    }
)

# Describe output keeps these in the PRIMARY deployment, not on the service.
_DEPLOYMENT_HELD_FIELDS = (
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)

# What a CodeDeploy deployment changes; UpdateService cannot, so the unit's
# values reach AWS through the AppSpec, not through the service.
_CODE_DEPLOY_OWNED = ("loadBalancers", "networkConfiguration", "platformVersion")

# AWS keeps the current value of these when a request leaves them out (or the
# cluster decides them), so they are compared only when the unit sets them.
_KEPT_WHEN_UNSET = ("availabilityZoneRebalancing", "role")
SERVICE_CONNECT_NAMESPACE = "serviceConnectConfiguration.namespace"
"""How :attr:`FieldOwnership.unit_fields` says the unit names its namespace."""
_CAPACITY_FIELDS = ("launchType", "capacityProviderStrategy")

_CONTAINER_FALSE_FLAGS = (
    "disableNetworking",
    "privileged",
    "readonlyRootFilesystem",
    "interactive",
    "pseudoTerminal",
)

_CPU_UNITS = {"": 1, "vcpu": 1024}
_MEMORY_UNITS = {"": 1, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def normalise_task_definition(td: JsonObject, *, ignore_tags: Iterable[str] = ()) -> JsonObject:
    """The canonical form of a task definition, written or described.

    Accepts describe output wrapped as ``{"taskDefinition": {...}, "tags": [...]}``.
    Tags are part of the form (registering a revision is how they change), except
    ``gitops:`` tags, which the reconciler writes itself, and ``ignore_tags``.
    """
    body = lower_key_case(td)
    if isinstance(body.get("taskDefinition"), dict) and "containerDefinitions" not in body:
        # describe_task_definition(include=["TAGS"]) puts tags beside the body.
        outer_tags = body.get("tags")
        body = dict(body["taskDefinition"])
        if outer_tags and not body.get("tags"):
            body["tags"] = outer_tags
    body = {k: v for k, v in body.items() if k not in _TASK_DEFINITION_READ_ONLY}
    for role in ("taskRoleArn", "executionRoleArn"):
        # An empty role is how callers say "none"; AWS then omits the field.
        if body.get(role) == "":
            del body[role]
    body = _prune_empty(body)

    network_mode = body.setdefault("networkMode", "bridge")
    for size in ("cpu", "memory"):
        if size in body:
            body[size] = _task_size(body[size], vcpu=size == "cpu")
    body.setdefault("enableFaultInjection", False)
    body["containerDefinitions"] = sorted(
        (_normalise_container(c, network_mode) for c in body.get("containerDefinitions", [])),
        key=lambda c: str(c.get("name", "")),
    )
    _sort_in(body, "requiresCompatibilities", str)
    _sort_in(body, "placementConstraints", _by("type", "expression"))
    if "volumes" in body:
        body["volumes"] = sorted((_normalise_volume(v) for v in body["volumes"]), key=_by("name"))
    proxy = body.get("proxyConfiguration")
    if isinstance(proxy, dict):
        proxy.setdefault("type", "APPMESH")
        _sort_in(proxy, "properties", _by("name"))
    _sort_in(body, "inferenceAccelerators", _by("deviceName"))
    _filter_tags(body, FieldOwnership(ignore_tags=tuple(ignore_tags)))
    canonical: JsonObject = _prune_empty(body)
    return canonical


def normalise_service(svc: JsonObject, *, context: FieldOwnership) -> JsonObject:
    """The canonical form of a service, written or described, minus what others own.

    Accepts a describe_services item (or ``{"service": {...}}`` as create and
    update return it). ``taskDefinition`` is left out: compare the task
    definitions themselves (see :func:`normalise_task_definition`).
    """
    body = lower_key_case(svc)
    if isinstance(body.get("service"), dict):
        body = dict(body["service"])
    _lift_primary_deployment_fields(body)
    if "roleArn" in body and "role" not in body:
        body["role"] = body["roleArn"]
    body.pop("roleArn", None)
    body = _prune_empty({k: v for k, v in body.items() if k not in _SERVICE_READ_ONLY})
    _drop_fields_owned_by_others(body, context)

    # Fill in what AWS fills in when a request leaves it out.
    body.setdefault("schedulingStrategy", "REPLICA")
    controller = body.setdefault("deploymentController", {"type": "ECS"})
    controller.setdefault("type", "ECS")
    daemon = body["schedulingStrategy"] == "DAEMON"
    if daemon:
        # AWS sets a daemon service's count to the number of instances.
        body.pop("desiredCount", None)
    body["deploymentConfiguration"] = _normalise_deployment_configuration(
        body.get("deploymentConfiguration", {}), controller=controller["type"], daemon=daemon
    )
    body.setdefault("propagateTags", "NONE")
    body.setdefault("enableECSManagedTags", False)
    body.setdefault("enableExecuteCommand", False)
    body.setdefault("healthCheckGracePeriodSeconds", 0)
    if "role" in body:
        body["role"] = _last_arn_segment(body["role"])

    # Then bring each part to one form, sorting lists whose order means nothing.
    _normalise_capacity(body)
    awsvpc = body.get("networkConfiguration", {}).get("awsvpcConfiguration")
    if isinstance(awsvpc, dict):
        awsvpc.setdefault("assignPublicIp", "DISABLED")
        _sort_in(awsvpc, "subnets", str)
        _sort_in(awsvpc, "securityGroups", str)
    _sort_in(body, "loadBalancers", _by("containerName", "containerPort", "targetGroupArn"))
    _sort_in(body, "serviceRegistries", _by("registryArn", "containerName", "containerPort"))
    # placementStrategy is evaluated in order: it is not sorted.
    for strategy in body.get("placementStrategy", []):
        if strategy.get("type") == "spread" and strategy.get("field") == "host":
            # "host" is documented as the same spread as "instanceId".
            strategy["field"] = "instanceId"
    _sort_in(body, "placementConstraints", _by("type", "expression"))
    if "serviceConnectConfiguration" in body:
        connect = _normalise_service_connect(body["serviceConnectConfiguration"], context)
        body["serviceConnectConfiguration"] = connect
    if "volumeConfigurations" in body:
        for volume in body["volumeConfigurations"]:
            ebs = volume.get("managedEBSVolume", {})
            _sort_in(ebs, "tagSpecifications", _by("resourceType", "propagateTags"))
        _sort_in(body, "volumeConfigurations", _by("name"))
    _filter_tags(body, context)
    canonical: JsonObject = _prune_empty(body)
    return canonical


def lower_key_case(value: Any, *, user_keys: bool = False) -> Any:
    """The value with the first letter of each key lowered, user-keyed maps aside."""
    if isinstance(value, dict):
        lowered: JsonObject = {}
        for key, item in value.items():
            name = key if user_keys or not key else key[0].lower() + key[1:]
            lowered[name] = lower_key_case(item, user_keys=name in USER_KEYED_MAPS)
        return lowered
    if isinstance(value, list):
        return [lower_key_case(item) for item in value]
    return value


def _prune_empty(value: Any) -> Any:
    """Drop nulls, empty lists and empty maps, at any depth (empty strings stay)."""
    if isinstance(value, dict):
        pruned = {k: _prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_prune_empty(item) for item in value if item is not None]
    return value


def _task_size(value: Any, *, vcpu: bool) -> Any:
    """``"0.25 vCPU"`` -> ``"256"``, ``"1 GB"`` -> ``"1024"``, ``512`` -> ``"512"``.

    A value that does not parse is kept as written: validating it is the
    renderer's job, and AWS's.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    match = _SIZE.match(str(value))
    if match is None:
        return value
    number, unit = float(match.group(1)), match.group(2).lower()
    scale = _CPU_UNITS if vcpu else _MEMORY_UNITS
    if unit not in scale:
        return value
    return str(round(number * scale[unit]))


def _normalise_container(container: JsonObject, network_mode: str) -> JsonObject:
    body = dict(container)
    body.setdefault("essential", True)
    body.setdefault("cpu", 0)
    body.setdefault("versionConsistency", "enabled")
    for flag in _CONTAINER_FALSE_FLAGS:
        body.setdefault(flag, False)
    if "portMappings" in body:
        body["portMappings"] = sorted(
            (_normalise_port_mapping(p, network_mode) for p in body["portMappings"]),
            key=_by("containerPort", "protocol", "hostPort", "name"),
        )
    for mounts, key in (
        ("mountPoints", _by("containerPath")),
        ("volumesFrom", _by("sourceContainer")),
    ):
        if mounts in body:
            body[mounts] = sorted(({"readOnly": False, **m} for m in body[mounts]), key=key)
    health = body.get("healthCheck")
    if isinstance(health, dict):
        body["healthCheck"] = {"interval": 30, "timeout": 5, "retries": 3, **health}
        if body["healthCheck"].get("startPeriod") == 0:
            del body["healthCheck"]["startPeriod"]
    _sort_in(body, "environment", _by("name"))
    _sort_in(body, "secrets", _by("name"))
    _sort_in(body, "environmentFiles", _by("type", "value"))
    _sort_in(body, "ulimits", _by("name"))
    _sort_in(body, "extraHosts", _by("hostname", "ipAddress"))
    _sort_in(body, "dependsOn", _by("containerName"))
    _sort_in(body, "resourceRequirements", _by("type"))
    _sort_in(body, "systemControls", _by("namespace"))
    _sort_in(body, "links", str)
    logging_config = body.get("logConfiguration")
    if isinstance(logging_config, dict):
        _sort_in(logging_config, "secretOptions", _by("name"))
    linux = body.get("linuxParameters")
    if isinstance(linux, dict):
        capabilities = linux.get("capabilities")
        if isinstance(capabilities, dict):
            _sort_in(capabilities, "add", str)
            _sort_in(capabilities, "drop", str)
        _sort_in(linux, "devices", _by("hostPath", "containerPath"))
        _sort_in(linux, "tmpfs", _by("containerPath"))
    return body


def _normalise_port_mapping(mapping: JsonObject, network_mode: str) -> JsonObject:
    body = {"protocol": "tcp", **mapping}
    if "containerPort" in body:
        if network_mode in ("awsvpc", "host"):
            # Under awsvpc and host the host port is the container port.
            body.setdefault("hostPort", body["containerPort"])
        elif body.get("hostPort") == 0:
            # Under bridge, 0 and no host port both ask for a dynamic port.
            del body["hostPort"]
    return body


def _normalise_volume(volume: JsonObject) -> JsonObject:
    body = dict(volume)
    efs = body.get("efsVolumeConfiguration")
    if isinstance(efs, dict):
        efs.setdefault("transitEncryption", "DISABLED")
        if efs.get("rootDirectory") == "/":
            # "/" and no root directory both mount the root of the file system.
            del efs["rootDirectory"]
    return body


def _lift_primary_deployment_fields(body: JsonObject) -> None:
    """Describe output keeps Service Connect and volumes in the PRIMARY deployment."""
    deployments = body.get("deployments")
    if not isinstance(deployments, list):
        return
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return
    for name in _DEPLOYMENT_HELD_FIELDS:
        if name not in body and name in primary:
            body[name] = primary[name]


def _drop_fields_owned_by_others(body: JsonObject, context: FieldOwnership) -> None:
    if context.autoscaling_owns_desired_count:
        body.pop("desiredCount", None)
    if context.code_deploy:
        for name in _CODE_DEPLOY_OWNED:
            body.pop(name, None)
    if context.unit_fields is None:
        return
    for name in _KEPT_WHEN_UNSET:
        if name not in context.unit_fields:
            body.pop(name, None)
    if not context.unit_fields.intersection(_CAPACITY_FIELDS):
        # Neither set: the cluster's default capacity provider strategy decides.
        for name in _CAPACITY_FIELDS:
            body.pop(name, None)


def _normalise_deployment_configuration(
    configuration: JsonObject, *, controller: str, daemon: bool
) -> JsonObject:
    body = dict(configuration)
    body.setdefault("maximumPercent", 100 if daemon else 200)
    body.setdefault("minimumHealthyPercent", 0 if daemon else 100)
    # Filled whatever the controller: a disabled breaker or alarm is the same
    # whether AWS returns it or leaves it out.
    body["deploymentCircuitBreaker"] = {
        "enable": False,
        "rollback": False,
        "resetOnHealthyTask": True,
        **body.get("deploymentCircuitBreaker", {}),
    }
    alarms = {"enable": False, "rollback": False, **body.get("alarms", {})}
    _sort_in(alarms, "alarmNames", str)
    body["alarms"] = alarms
    if controller == "ECS":
        # Strategies (rolling, blue/green, ...) are ECS's own deployments.
        body.setdefault("strategy", "ROLLING")
    elif body.get("strategy") == "ROLLING":
        # Only ECS's own deployments have a strategy: ROLLING reported for a
        # CODE_DEPLOY or EXTERNAL service is a default that means nothing.
        body.pop("strategy")
    return body


def _normalise_capacity(body: JsonObject) -> None:
    strategy = body.get("capacityProviderStrategy")
    if strategy:
        # A service with a capacity provider strategy has no launch type.
        body.pop("launchType", None)
        body["capacityProviderStrategy"] = sorted(
            ({"base": 0, "weight": 0, **item} for item in strategy), key=_by("capacityProvider")
        )
    providers = {item.get("capacityProvider") for item in strategy or []}
    on_fargate = body.get("launchType") == "FARGATE" or bool(
        providers & {"FARGATE", "FARGATE_SPOT"}
    )
    if on_fargate:
        body.setdefault("platformVersion", "LATEST")


def _normalise_service_connect(configuration: JsonObject, context: FieldOwnership) -> JsonObject:
    body = dict(configuration)
    if body.get("enabled") is False:
        # Disabled is disabled, whatever else the configuration still names.
        return {}
    unit_fields = context.unit_fields
    if unit_fields is not None and SERVICE_CONNECT_NAMESPACE not in unit_fields:
        # Left out, the namespace is the cluster's Service Connect default.
        body.pop("namespace", None)
    namespace = body.get("namespace")
    if isinstance(namespace, str):
        # Written as a name, returned as an ARN: compare by name.
        body["namespace"] = context.namespace_names.get(namespace, _last_arn_segment(namespace))
    namespace_name = body.get("namespace")
    services = []
    for service in body.get("services", []):
        item = dict(service)
        if "portName" in item:
            item.setdefault("discoveryName", item["portName"])
        if isinstance(namespace_name, str) and "discoveryName" in item:
            # AWS names an alias without dnsName "discoveryName.namespace".
            default_dns = f"{item['discoveryName']}.{namespace_name}"
            item["clientAliases"] = [
                {"dnsName": default_dns, **alias} if "dnsName" not in alias else alias
                for alias in item.get("clientAliases", [])
            ]
        _sort_in(item, "clientAliases", _by("port", "dnsName"))
        services.append(item)
    if services:
        body["services"] = sorted(services, key=_by("portName"))
    logging_config = body.get("logConfiguration")
    if isinstance(logging_config, dict):
        _sort_in(logging_config, "secretOptions", _by("name"))
    return body


def _filter_tags(body: JsonObject, context: FieldOwnership) -> None:
    """Leave out the reconciler's own tags and those the unit ignores; sort the rest."""
    tags = body.get("tags")
    if not isinstance(tags, list):
        return
    kept = [tag for tag in tags if not _tag_owned_by_others(str(tag.get("key", "")), context)]
    body["tags"] = sorted(kept, key=_by("key"))


def _tag_owned_by_others(key: str, context: FieldOwnership) -> bool:
    # "aws:" tags are AWS's own (CloudFormation, ...): nobody else may change them.
    if key.startswith((context.reconciler_tag_prefix, "aws:")):
        return True
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in context.ignore_tags)


def _last_arn_segment(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("arn:"):
        return value.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return value


def _sort_in(body: JsonObject, name: str, key: Callable[[Any], Any]) -> None:
    items = body.get(name)
    if isinstance(items, list):
        body[name] = sorted(items, key=key)


def _by(*fields: str) -> Callable[[Any], tuple[str, ...]]:
    """A sort key over some fields of an item; absent fields sort first."""

    def key(item: Any) -> tuple[str, ...]:
        if not isinstance(item, dict):
            return (str(item),)
        return tuple(
            f"{item[f]:>12}" if isinstance(item.get(f), int) else str(item.get(f, ""))
            for f in fields
        )

    return key
