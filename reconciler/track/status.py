"""What runs for each unit now: the read side of ``reconciler status``.

Services are described ten at a time, scalable targets fifty at a time, and
tasks only when asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import ReconcilerError
from reconciler.model import (
    TAG_DIGEST,
    TAG_OWNER,
    TAG_REVISION,
    TAG_SUSPENDED,
    DesiredUnit,
    JsonObject,
)

SERVICES_PER_CALL = 10
TARGETS_PER_CALL = 50
TASKS_PER_CALL = 100
DIMENSION = "ecs:service:DesiredCount"


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """One unit's service as ECS reports it, with the state the reconciler tagged."""

    unit: str
    cluster: str
    service: str | None
    exists: bool
    task_definition: str | None = None
    applied_revision: str | None = None
    owner: str | None = None
    digest: str | None = None
    suspended: bool = False
    desired_count: int | None = None
    running_count: int | None = None
    deployments: tuple[JsonObject, ...] = ()
    autoscaling: JsonObject | None = None
    events: tuple[JsonObject, ...] = ()
    tasks: tuple[JsonObject, ...] = ()
    error: str | None = None


def short_revision(arn: Any) -> str | None:
    """``arn:...:task-definition/web:3`` as ``web:3``."""
    return str(arn).rsplit("/", 1)[-1] if arn else None


def _target(unit: DesiredUnit) -> AwsTarget:
    return AwsTarget(unit.config.region, unit.policy.aws.role_arn, unit.policy.aws.external_id)


async def read_status(
    aws: Aws, units: Sequence[DesiredUnit], *, events: int = 5, tasks: bool = False
) -> list[UnitStatus]:
    """Every unit's status, in the order given."""
    services: dict[str, JsonObject | None] = {}
    errors: dict[str, str] = {}
    groups: dict[tuple[AwsTarget, str], list[DesiredUnit]] = {}
    for unit in units:
        if unit.is_service and unit.config.service:
            groups.setdefault((_target(unit), unit.config.cluster), []).append(unit)

    async def describe(target: AwsTarget, cluster: str, batch: Sequence[DesiredUnit]) -> None:
        try:
            response = await aws.call(
                "ecs",
                "describe_services",
                target,
                cluster=cluster,
                services=[str(u.config.service) for u in batch],
                include=["TAGS"],
            )
        except ReconcilerError as exc:
            errors.update({u.id: str(exc) for u in batch})
            return
        found = {
            s["serviceName"]: s
            for s in response.get("services", [])
            if s.get("status") != "INACTIVE"
        }
        for unit in batch:
            services[unit.id] = found.get(str(unit.config.service))

    await asyncio.gather(
        *(
            describe(target, cluster, members[i : i + SERVICES_PER_CALL])
            for (target, cluster), members in groups.items()
            for i in range(0, len(members), SERVICES_PER_CALL)
        )
    )
    targets = await _scalable_targets(aws, units, services)
    statuses = []
    for unit in units:
        service = services.get(unit.id)
        task_list: list[JsonObject] = []
        if service is not None and tasks:
            task_list = await _tasks(aws, unit)
        statuses.append(_status(unit, service, targets, events, task_list, errors.get(unit.id)))
    return statuses


async def _scalable_targets(
    aws: Aws, units: Sequence[DesiredUnit], services: dict[str, JsonObject | None]
) -> dict[str, JsonObject]:
    by_target: dict[AwsTarget, list[str]] = {}
    for unit in units:
        if services.get(unit.id) is not None:
            resource = f"service/{unit.config.cluster}/{unit.config.service}"
            by_target.setdefault(_target(unit), []).append(resource)
    found: dict[str, JsonObject] = {}
    for target, resources in by_target.items():
        for i in range(0, len(resources), TARGETS_PER_CALL):
            try:
                response = await aws.call(
                    "application-autoscaling",
                    "describe_scalable_targets",
                    target,
                    ServiceNamespace="ecs",
                    ResourceIds=resources[i : i + TARGETS_PER_CALL],
                    ScalableDimension=DIMENSION,
                )
            except ReconcilerError:
                continue  # status is best effort: the service is still shown
            for item in response.get("ScalableTargets", []):
                found[item["ResourceId"]] = item
    return found


async def _tasks(aws: Aws, unit: DesiredUnit) -> list[JsonObject]:
    target = _target(unit)
    try:
        arns = await aws.paginate(
            "ecs",
            "list_tasks",
            target,
            "taskArns",
            cluster=unit.config.cluster,
            serviceName=unit.config.service,
        )
        described: list[JsonObject] = []
        for i in range(0, len(arns), TASKS_PER_CALL):
            response = await aws.call(
                "ecs",
                "describe_tasks",
                target,
                cluster=unit.config.cluster,
                tasks=arns[i : i + TASKS_PER_CALL],
            )
            described.extend(response.get("tasks", []))
    except ReconcilerError:
        return []
    return [
        {
            "task": str(t.get("taskArn", "")).rsplit("/", 1)[-1],
            "status": t.get("lastStatus"),
            "desired_status": t.get("desiredStatus"),
            "health": t.get("healthStatus"),
            "task_definition": short_revision(t.get("taskDefinitionArn")),
        }
        for t in described
    ]


def _status(
    unit: DesiredUnit,
    service: JsonObject | None,
    targets: dict[str, JsonObject],
    events: int,
    tasks: list[JsonObject],
    error: str | None,
) -> UnitStatus:
    if service is None:
        return UnitStatus(unit.id, unit.config.cluster, unit.config.service, False, error=error)
    tags = {t["key"]: t.get("value", "") for t in service.get("tags") or ()}
    target = targets.get(f"service/{unit.config.cluster}/{unit.config.service}")
    autoscaling = None
    if target is not None:
        suspended = target.get("SuspendedState") or {}
        autoscaling = {
            "min": target["MinCapacity"],
            "max": target["MaxCapacity"],
            "suspended": bool(
                suspended.get("DynamicScalingInSuspended")
                or suspended.get("DynamicScalingOutSuspended")
            ),
        }
    deployments = tuple(
        {
            "id": d.get("id"),
            "status": d.get("status"),
            "rollout_state": d.get("rolloutState"),
            "task_definition": short_revision(d.get("taskDefinition")),
            "desired": d.get("desiredCount"),
            "running": d.get("runningCount"),
            "pending": d.get("pendingCount"),
            "failed": d.get("failedTasks"),
        }
        for d in service.get("deployments") or ()
    )
    recent = tuple(
        {"at": str(e.get("createdAt")), "message": e.get("message")}
        for e in (service.get("events") or [])[: max(0, events)]
    )
    return UnitStatus(
        unit=unit.id,
        cluster=unit.config.cluster,
        service=unit.config.service,
        exists=True,
        task_definition=short_revision(service.get("taskDefinition")),
        applied_revision=tags.get(TAG_REVISION),
        owner=tags.get(TAG_OWNER),
        digest=tags.get(TAG_DIGEST),
        suspended=tags.get(TAG_SUSPENDED, "").lower() not in ("", "false"),
        desired_count=service.get("desiredCount"),
        running_count=service.get("runningCount"),
        deployments=deployments,
        autoscaling=autoscaling,
        events=recent,
        tasks=tuple(tasks),
        error=error,
    )
