"""Tasks moving through their lifecycle on the simulated clock.

A task goes PROVISIONING -> PENDING -> RUNNING, each step after the number of
simulated seconds below; asked to stop it goes STOPPING -> STOPPED. A task
whose essential container's image is marked as failing goes PENDING -> STOPPED
instead, the way a container that exits at start-up does on ECS.
"""

from __future__ import annotations

import copy

from reconciler.emulator.ecs.records import (
    ClusterRecord,
    ContainerInstanceRecord,
    Json,
    TaskDefinitionRecord,
    TaskRecord,
)
from reconciler.emulator.ecs.world import World

# Seconds a task spends in each state before the next one (ENI and image pull,
# container start, and draining before the stop is complete).
PROVISIONING_SECONDS = 1.0
PENDING_SECONDS = 2.0
STOPPING_SECONDS = 2.0

# What Fargate's LATEST platform resolves to on each task and deployment.
FARGATE_PLATFORM_VERSION = "1.4.0"

# The states a task leaves on its own when its time has come.
MOVING_STATUSES = frozenset({"PROVISIONING", "PENDING", "STOPPING"})

FAILED_STOP_CODE = "EssentialContainerExited"
FAILED_STOP_REASON = "Essential container in task exited"
FAILED_EXIT_CODE = 1


def start_task(
    world: World,
    region: str,
    cluster: ClusterRecord,
    task_definition: TaskDefinitionRecord,
    placement: Json,
    *,
    group: str,
    started_by: str | None,
    service_name: str | None = None,
    deployment_id: str | None = None,
    tags: list[Json] | None = None,
    extra: Json | None = None,
    container_instance: ContainerInstanceRecord | None = None,
) -> TaskRecord:
    """Create a task in PROVISIONING and file it under its cluster.

    An EC2 task runs on ``container_instance``, or on the cluster's instances in
    turn when none is given; Fargate tasks run on no instance.
    """
    if container_instance is None and placement.get("launchType") == "EC2":
        container_instance = cluster.next_instance()
    now = world.now()
    task_id = world.new_task_id()
    scope = world.scope(region)
    arn = scope.task(cluster.name, task_id)
    containers = []
    for definition in task_definition.body["containerDefinitions"]:
        container: Json = {
            "containerArn": scope.container(cluster.name, world.new_task_id()),
            "taskArn": arn,
            "name": definition["name"],
            "image": definition["image"],
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [],
            "healthStatus": "UNKNOWN",
            "cpu": str(definition.get("cpu", 0)),
        }
        for key in ("memory", "memoryReservation"):
            if key in definition:
                container[key] = str(definition[key])
        containers.append(container)
    task = TaskRecord(
        arn=arn,
        task_id=task_id,
        cluster_arn=cluster.arn,
        task_definition=task_definition,
        group=group,
        started_by=started_by,
        placement=copy.deepcopy(placement),
        containers=containers,
        created_at=now,
        next_change_at=now + PROVISIONING_SECONDS,
        tags=copy.deepcopy(tags or []),
        service_name=service_name,
        deployment_id=deployment_id,
        extra=copy.deepcopy(extra or {}),
        container_instance_arn=container_instance.arn if container_instance else None,
    )
    cluster.tasks[task_id] = task
    return task


def progress_task(world: World, task: TaskRecord) -> str | None:
    """Move ``task`` one state on when its time has come; the new state, or None."""
    now = world.now()
    if task.last_status not in MOVING_STATUSES or now < task.next_change_at:
        return None
    task.version += 1

    if task.last_status == "PROVISIONING":
        task.last_status = "PENDING"
        task.times["pullStartedAt"] = now
        task.next_change_at = now + PENDING_SECONDS
        return "PENDING"

    if task.last_status == "PENDING":
        task.times["pullStoppedAt"] = now
        if fail_containers(world, task):
            task.failed = True
            task.desired_status = "STOPPED"
            task.stop_code = FAILED_STOP_CODE
            task.stopped_reason = FAILED_STOP_REASON
            finish_stop(task, now)
            return "STOPPED"
        task.last_status = "RUNNING"
        task.times["startedAt"] = now
        task.times["connectivityAt"] = now
        for container in task.containers:
            if container["lastStatus"] == "PENDING":
                container["lastStatus"] = "RUNNING"
        return "RUNNING"

    # STOPPING: draining is over.
    finish_stop(task, now)
    return "STOPPED"


def fail_containers(world: World, task: TaskRecord) -> bool:
    """Stop the containers whose image fails; True when one of them was essential."""
    essential_failed = False
    definitions = {c["name"]: c for c in task.task_definition.body["containerDefinitions"]}
    for container in task.containers:
        if world.image_fails(container["image"]):
            container["lastStatus"] = "STOPPED"
            container["exitCode"] = FAILED_EXIT_CODE
            essential_failed = essential_failed or definitions[container["name"]]["essential"]
    return essential_failed


def finish_stop(task: TaskRecord, now: float) -> None:
    task.last_status = "STOPPED"
    task.times.setdefault("stoppingAt", now)
    task.times["executionStoppedAt"] = now
    task.times["stoppedAt"] = now
    for container in task.containers:
        if container["lastStatus"] != "STOPPED":
            container["lastStatus"] = "STOPPED"
            # A container that never ran has no exit code; a stopped one exits on SIGTERM.
            if "startedAt" in task.times:
                container["exitCode"] = 0


def request_stop(world: World, task: TaskRecord, reason: str, stop_code: str) -> None:
    """Ask ``task`` to stop: it drains (STOPPING) and is STOPPED a little later."""
    if not task.live:
        return
    now = world.now()
    task.version += 1
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.times["stoppingAt"] = now
    task.last_status = "STOPPING"
    task.next_change_at = now + STOPPING_SECONDS


def visible(task: TaskRecord, now: float, retention: float) -> bool:
    """Stopped tasks disappear from ECS's answers after a while."""
    return not task.stopped or now - task.times.get("stoppedAt", now) <= retention


def describe_task(task: TaskRecord, include_tags: bool) -> Json:
    body = task.task_definition.body
    described: Json = {
        "taskArn": task.arn,
        "clusterArn": task.cluster_arn,
        "taskDefinitionArn": task.task_definition.arn,
        "group": task.group,
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "healthStatus": "UNKNOWN",
        "containers": copy.deepcopy(task.containers),
        "createdAt": task.created_at,
        "version": task.version,
        "attachments": [],
        "attributes": [],
        "enableExecuteCommand": bool(task.extra.get("enableExecuteCommand", False)),
        "overrides": task_overrides(task),
    }
    if include_tags:
        described["tags"] = copy.deepcopy(task.tags)
    described.update(copy.deepcopy(task.placement))
    for key in ("cpu", "memory"):
        if key in body:
            described[key] = body[key]
    if task.started_by is not None:
        described["startedBy"] = task.started_by
    if task.container_instance_arn is not None:
        described["containerInstanceArn"] = task.container_instance_arn
    if task.last_status == "RUNNING":
        described["connectivity"] = "CONNECTED"
    described.update(task.times)
    if task.stopped_reason is not None:
        described["stoppedReason"] = task.stopped_reason
    if task.stop_code is not None:
        described["stopCode"] = task.stop_code
    return described


def task_overrides(task: TaskRecord) -> Json:
    """The overrides ECS reports: one entry per container even when none were given."""
    overrides: Json = copy.deepcopy(task.extra.get("overrides", {}))
    given = {item["name"]: item for item in overrides.get("containerOverrides", [])}
    overrides["containerOverrides"] = [
        given.get(container["name"], {"name": container["name"]}) for container in task.containers
    ]
    overrides.setdefault("inferenceAcceleratorOverrides", [])
    return overrides
