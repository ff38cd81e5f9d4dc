"""Read ECS and Application Auto Scaling for many units at once.

A steady-state cycle over N services of one cluster costs about N/10 calls:

- ``DescribeServices`` takes ten services a call, tags included;
- ``DescribeScalableTargets`` takes fifty resource ids a call;
- a task definition is described only when the service does not run the
  revision it is tagged with, or git wants a different digest; described ones
  are cached by ARN for the life of the process (a revision never changes).

One unit's failure never hides another's: a batch that fails marks only its
own units with the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import ReconcilerError
from reconciler.model import (
    TAG_DIGEST,
    TAG_TASK_DEFINITION,
    JsonObject,
    LiveUnit,
    ScalableTarget,
)

log = logging.getLogger(__name__)

SERVICES_PER_CALL = 10
SCALABLE_TARGETS_PER_CALL = 50
DESIRED_COUNT = "ecs:service:DesiredCount"


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """What to read for one unit.

    ``desired_digest`` is the digest of the task definition git wants; when the
    service is tagged with it and still runs the tagged revision, the task
    definition is not described at all.
    """

    unit_id: str
    target: AwsTarget
    cluster: str
    service: str | None
    desired_digest: str | None = None
    task_definition_family: str | None = None


@dataclass(frozen=True, slots=True)
class LiveResult:
    unit_id: str
    live: LiveUnit | None
    error: ReconcilerError | None = None


class TaskDefinitionCache:
    """Task definitions by ARN: a registered revision never changes."""

    def __init__(self) -> None:
        self._by_arn: dict[str, tuple[JsonObject, dict[str, str]]] = {}

    def get(self, arn: str) -> tuple[JsonObject, dict[str, str]] | None:
        return self._by_arn.get(arn)

    def put(self, arn: str, definition: JsonObject, tags: dict[str, str]) -> None:
        self._by_arn[arn] = (definition, tags)

    def __len__(self) -> int:
        return len(self._by_arn)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _tags(raw: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in raw or ()}


def _service_name(service: Mapping[str, Any]) -> str:
    return str(service["serviceName"])


def _resource_id(cluster: str, service: Mapping[str, Any]) -> str:
    """The Application Auto Scaling id of a service: ``service/CLUSTER/NAME``."""
    return f"service/{cluster.rsplit('/', 1)[-1]}/{_service_name(service)}"


def _request_name(request: LiveRequest) -> str:
    assert request.service is not None
    return request.service.rsplit("/", 1)[-1]


async def fetch_live(
    aws: Aws,
    requests: Sequence[LiveRequest],
    cache: TaskDefinitionCache | None = None,
) -> list[LiveResult]:
    """Read every unit's service, task definition and scaling target.

    Results come back in the order of ``requests``.
    """
    cache = cache if cache is not None else TaskDefinitionCache()
    services: dict[str, JsonObject | None] = {}
    errors: dict[str, ReconcilerError] = {}

    # Services: ten a call, per account, region and cluster.
    groups: dict[tuple[AwsTarget, str], list[LiveRequest]] = {}
    for request in requests:
        if request.service is None:
            services[request.unit_id] = None
        else:
            groups.setdefault((request.target, request.cluster), []).append(request)
    batches = [
        (target, cluster, batch)
        for (target, cluster), members in groups.items()
        for batch in _chunks(members, SERVICES_PER_CALL)
    ]
    await asyncio.gather(
        *(_describe_services(aws, t, c, b, services, errors) for t, c, b in batches)
    )

    # Scaling targets: fifty resource ids a call, per account and region.
    targets: dict[str, ScalableTarget] = {}
    by_target: dict[AwsTarget, list[tuple[str, str]]] = {}
    for request in requests:
        service = services.get(request.unit_id)
        if service is not None:
            resource = _resource_id(request.cluster, service)
            by_target.setdefault(request.target, []).append((resource, request.unit_id))
    await asyncio.gather(
        *(
            _describe_scalable_targets(aws, target, chunk, targets, errors)
            for target, members in by_target.items()
            for chunk in _chunks(members, SCALABLE_TARGETS_PER_CALL)
        )
    )

    # Task definitions: only those we cannot vouch for from the tags.
    results: list[LiveResult] = []
    to_describe: dict[tuple[AwsTarget, str], list[str]] = {}
    for request in requests:
        service = services.get(request.unit_id)
        if request.unit_id in errors or service is None:
            continue
        arn = str(service.get("taskDefinition") or "")
        if (
            arn
            and not _reusable(service, _tags(service.get("tags")), request)
            and cache.get(arn) is None
        ):
            to_describe.setdefault((request.target, arn), []).append(request.unit_id)
    await asyncio.gather(
        *(
            _describe_task_definition(aws, target, arn, units, cache, errors)
            for (target, arn), units in to_describe.items()
        )
    )

    for request in requests:
        if request.unit_id in errors:
            results.append(LiveResult(request.unit_id, None, errors[request.unit_id]))
            continue
        service = services.get(request.unit_id)
        results.append(LiveResult(request.unit_id, _live_unit(request, service, targets, cache)))
    return results


def _reusable(service: Mapping[str, Any], tags: Mapping[str, str], request: LiveRequest) -> bool:
    """The service runs the revision it was tagged with, and git wants that digest."""
    return (
        request.desired_digest is not None
        and tags.get(TAG_DIGEST) == request.desired_digest
        and tags.get(TAG_TASK_DEFINITION) == service.get("taskDefinition")
    )


def _live_unit(
    request: LiveRequest,
    service: JsonObject | None,
    targets: Mapping[str, ScalableTarget],
    cache: TaskDefinitionCache,
) -> LiveUnit:
    if service is None:
        return LiveUnit(request.unit_id, None, {}, None, None, False, None)
    arn = str(service.get("taskDefinition") or "") or None
    cached = cache.get(arn) if arn else None
    tags = _tags(service.get("tags"))
    reused = _reusable(service, tags, request) and cached is None
    return LiveUnit(
        unit_id=request.unit_id,
        service=service,
        tags=tags,
        task_definition_arn=arn,
        task_definition=_with_tags(*cached) if cached else None,
        task_definition_reused=reused,
        scalable_target=targets.get(_resource_id(request.cluster, service)),
    )


def _with_tags(definition: JsonObject, tags: Mapping[str, str]) -> JsonObject:
    """The described body with its tags, which DescribeTaskDefinition returns beside it.

    Without them a unit's task definition tags would read as changed every time
    the revision is described, and be registered again.
    """
    if not tags or definition.get("tags"):
        return definition
    return {**definition, "tags": [{"key": k, "value": v} for k, v in tags.items()]}


async def _describe_services(
    aws: Aws,
    target: AwsTarget,
    cluster: str,
    batch: Sequence[LiveRequest],
    services: dict[str, JsonObject | None],
    errors: dict[str, ReconcilerError],
) -> None:
    names = [_request_name(r) for r in batch]
    try:
        response = await aws.call(
            "ecs", "describe_services", target, cluster=cluster, services=names, include=["TAGS"]
        )
    except ReconcilerError as exc:
        for request in batch:
            errors[request.unit_id] = exc
        return
    found = {
        _service_name(s): s for s in response.get("services", []) if s.get("status") != "INACTIVE"
    }
    for request in batch:
        services[request.unit_id] = found.get(_request_name(request))


async def _describe_scalable_targets(
    aws: Aws,
    target: AwsTarget,
    members: Sequence[tuple[str, str]],
    out: dict[str, ScalableTarget],
    errors: dict[str, ReconcilerError],
) -> None:
    try:
        response = await aws.call(
            "application-autoscaling",
            "describe_scalable_targets",
            target,
            ServiceNamespace="ecs",
            ResourceIds=[resource for resource, _ in members],
            ScalableDimension=DESIRED_COUNT,
        )
    except ReconcilerError as exc:
        # Without its scaling target a unit's plan would fight auto scaling
        # over the desired count: that unit fails this cycle, the others go on.
        for _, unit in members:
            errors[unit] = exc
        return
    for item in response.get("ScalableTargets", []):
        suspended = item.get("SuspendedState", {})
        out[item["ResourceId"]] = ScalableTarget(
            resource_id=item["ResourceId"],
            min=int(item["MinCapacity"]),
            max=int(item["MaxCapacity"]),
            dynamic_scaling_in_suspended=bool(suspended.get("DynamicScalingInSuspended")),
            dynamic_scaling_out_suspended=bool(suspended.get("DynamicScalingOutSuspended")),
            scheduled_scaling_suspended=bool(suspended.get("ScheduledScalingSuspended")),
        )


async def _describe_task_definition(
    aws: Aws,
    target: AwsTarget,
    arn: str,
    units: Sequence[str],
    cache: TaskDefinitionCache,
    errors: dict[str, ReconcilerError],
) -> None:
    try:
        response = await aws.call(
            "ecs", "describe_task_definition", target, taskDefinition=arn, include=["TAGS"]
        )
    except ReconcilerError as exc:
        for unit in units:
            errors[unit] = exc
        return
    cache.put(arn, response["taskDefinition"], _tags(response.get("tags")))
