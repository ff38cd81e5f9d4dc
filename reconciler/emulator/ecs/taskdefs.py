"""Task definitions: registered with the defaults AWS fills in, resolved, listed."""

from __future__ import annotations

import copy
import re

from reconciler.emulator.ecs.errors import client_error, invalid_parameter
from reconciler.emulator.ecs.pagination import paginate
from reconciler.emulator.ecs.records import Json, RegionState, TaskDefinitionRecord
from reconciler.emulator.ecs.tags import check_tags
from reconciler.emulator.ecs.world import World

_FAMILY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(vcpu|gb|mb)?\s*$", re.IGNORECASE)

# Who registered things: the account root, as for a call made with root credentials.
REGISTERED_BY = "arn:aws:iam::{account}:root"


def normalise_size(value: str, unit_per_one: int, field: str) -> str:
    """``"0.25 vCPU"`` as ``"256"``, ``"1 GB"`` as ``"1024"``; plain numbers unchanged."""
    match = _SIZE_PATTERN.match(value)
    if not match:
        raise client_error(f"Invalid '{field}' setting for task.")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit in ("vcpu", "gb"):
        number *= unit_per_one
    if number != int(number):
        raise client_error(f"Invalid '{field}' setting for task.")
    return str(int(number))


def fill_container_defaults(container: Json, network_mode: str) -> Json:
    filled = copy.deepcopy(container)
    filled.setdefault("cpu", 0)
    filled.setdefault("essential", True)
    for key in ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"):
        filled.setdefault(key, [])
    for mapping in filled["portMappings"]:
        mapping.setdefault("protocol", "tcp")
        # Under awsvpc and host the task owns its ports: the host port is the container's.
        if network_mode in ("awsvpc", "host") and "containerPort" in mapping:
            mapping.setdefault("hostPort", mapping["containerPort"])
    return filled


def required_attributes(body: Json) -> list[Json]:
    """The capabilities an instance needs for this task definition, as ECS derives them."""
    names = ["com.amazonaws.ecs.capability.docker-remote-api.1.18"]
    if body.get("networkMode") == "awsvpc":
        names.append("ecs.capability.task-eni")
    if body.get("taskRoleArn"):
        names.append("com.amazonaws.ecs.capability.task-iam-role")
    for container in body["containerDefinitions"]:
        driver = (container.get("logConfiguration") or {}).get("logDriver")
        if driver:
            names.append(f"com.amazonaws.ecs.capability.logging-driver.{driver}")
            names.append("com.amazonaws.ecs.capability.docker-remote-api.1.19")
            if driver == "awslogs" and body.get("executionRoleArn"):
                names.append("ecs.capability.execution-role-awslogs")
        if container.get("secrets") and body.get("executionRoleArn"):
            names.append("ecs.capability.secrets.asm.environment-variables")
    return [{"name": name} for name in dict.fromkeys(names)]


def compatibilities(body: Json) -> list[str]:
    """Where the task definition can run: EC2 always, Fargate when it fits Fargate."""
    required = body.get("requiresCompatibilities", [])
    found = ["EC2"]
    if body.get("networkMode") == "awsvpc" and body.get("cpu") and body.get("memory"):
        found.append("FARGATE")
    if "EXTERNAL" in required:
        found.append("EXTERNAL")
    if "MANAGED_INSTANCES" in required:
        found.append("MANAGED_INSTANCES")
    return found


def check_task_definition(params: Json) -> None:
    """The refusals ECS makes beyond the model's shape."""
    if not _FAMILY_PATTERN.match(params["family"]):
        raise client_error(
            "Family contains invalid characters: up to 255 letters, numbers, "
            "hyphens and underscores are allowed."
        )
    containers = params["containerDefinitions"]
    if not containers:
        raise client_error("Container list cannot be empty.")
    names = [container.get("name") for container in containers]
    if len(set(names)) != len(names):
        raise client_error("Container names must be unique.")

    fargate = "FARGATE" in params.get("requiresCompatibilities", [])
    if fargate and params.get("networkMode", "bridge") != "awsvpc":
        raise client_error("Fargate only supports network mode 'awsvpc'.")
    for field in ("cpu", "memory"):
        if fargate and not params.get(field):
            raise client_error(f"Fargate requires that '{field}' be defined at the task level.")
    if not params.get("memory"):
        for container in containers:
            if "memory" not in container and "memoryReservation" not in container:
                raise client_error(
                    f"Invalid setting for container '{container.get('name')}'. At least one "
                    "of 'memory' or 'memoryReservation' must be specified."
                )


def register_task_definition(world: World, region: str, params: Json) -> Json:
    check_task_definition(params)
    state = world.region(region)
    tags = params.get("tags", [])
    check_tags(tags)

    # Everything the caller sent is kept; AWS's defaults are filled around it.
    body = {key: copy.deepcopy(value) for key, value in params.items() if key != "tags"}
    body.setdefault("networkMode", "bridge")
    if "cpu" in body:
        body["cpu"] = normalise_size(body["cpu"], 1024, "cpu")
    if "memory" in body:
        body["memory"] = normalise_size(body["memory"], 1024, "memory")
    body["containerDefinitions"] = [
        fill_container_defaults(container, body["networkMode"])
        for container in body["containerDefinitions"]
    ]
    body.setdefault("volumes", [])
    body.setdefault("placementConstraints", [])

    family = body["family"]
    revisions = state.families.setdefault(family, [])
    revision = len(revisions) + 1
    arn = world.scope(region).task_definition(family, revision)
    body.update(
        taskDefinitionArn=arn,
        revision=revision,
        status="ACTIVE",
        requiresAttributes=required_attributes(body),
        compatibilities=compatibilities(body),
        registeredAt=world.now(),
        registeredBy=REGISTERED_BY.format(account=world.account_id),
    )
    record = TaskDefinitionRecord(arn, family, revision, body, copy.deepcopy(tags))
    revisions.append(record)
    return {"taskDefinition": copy.deepcopy(body), "tags": copy.deepcopy(record.tags)}


def find_task_definition(state: RegionState, reference: str) -> TaskDefinitionRecord | None:
    """``family`` (latest ACTIVE revision), ``family:revision`` or an ARN."""
    name = reference.split("task-definition/", 1)[1] if reference.startswith("arn:") else reference
    family, _, revision = name.partition(":")
    revisions = state.families.get(family, [])
    if not revision:
        active = [record for record in revisions if record.active]
        return active[-1] if active else None
    if not revision.isdigit() or not 1 <= int(revision) <= len(revisions):
        return None
    return revisions[int(revision) - 1]


def resolve_task_definition(state: RegionState, reference: str) -> TaskDefinitionRecord:
    """The task definition a service or task is started from; it must be ACTIVE."""
    record = find_task_definition(state, reference)
    if record is None:
        raise client_error("TaskDefinition not found.")
    if not record.active:
        raise client_error(f"TaskDefinition is inactive: {record.arn}")
    return record


def describe_task_definition(world: World, region: str, params: Json) -> Json:
    record = find_task_definition(world.region(region), params["taskDefinition"])
    if record is None:
        raise client_error("Unable to describe task definition.")
    response: Json = {"taskDefinition": copy.deepcopy(record.body)}
    if "TAGS" in params.get("include", []):
        response["tags"] = copy.deepcopy(record.tags)
    return response


def deregister_task_definition(world: World, region: str, params: Json) -> Json:
    reference = params["taskDefinition"]
    if ":" not in reference.rsplit("/", 1)[-1]:
        raise client_error("Invalid revision number. Number: ")
    record = find_task_definition(world.region(region), reference)
    if record is None:
        raise client_error("The specified task definition does not exist.")
    if record.active:
        record.body["status"] = "INACTIVE"
        record.body["deregisteredAt"] = world.now()
    return {"taskDefinition": copy.deepcopy(record.body)}


def list_task_definitions(world: World, region: str, params: Json) -> Json:
    state = world.region(region)
    status = params.get("status", "ACTIVE")
    family_filter = params.get("familyPrefix")
    records = [
        record
        for family, revisions in sorted(state.families.items())
        if family_filter is None or family == family_filter
        for record in revisions
        if record.body["status"] == status
    ]
    arns = [record.arn for record in records]
    if params.get("sort", "ASC") == "DESC":
        arns.reverse()
    page, token = paginate(arns, params, default_size=100)
    return with_token({"taskDefinitionArns": page}, token)


def list_task_definition_families(world: World, region: str, params: Json) -> Json:
    state = world.region(region)
    status = params.get("status", "ACTIVE")
    prefix = params.get("familyPrefix", "")
    families = []
    for family, revisions in sorted(state.families.items()):
        active = any(record.active for record in revisions)
        wanted = status == "ALL" or (status == "ACTIVE") == active
        if family.startswith(prefix) and wanted:
            families.append(family)
    page, token = paginate(families, params, default_size=100)
    return with_token({"families": page}, token)


def with_token(response: Json, token: str | None) -> Json:
    if token is not None:
        response["nextToken"] = token
    return response


def task_definition_container_images(record: TaskDefinitionRecord) -> list[tuple[str, str]]:
    return [(c["name"], c["image"]) for c in record.body["containerDefinitions"]]


def check_launchable(record: TaskDefinitionRecord, fargate: bool) -> None:
    """Refuse to place a task definition where it cannot run."""
    if fargate and "FARGATE" not in record.body["compatibilities"]:
        raise invalid_parameter("Task definition does not support launch_type FARGATE.")
