"""What ran for a unit, and when: the read side of ``reconciler history``.

AWS keeps the history of a service's deployments (ListServiceDeployments), each
pointing at a service revision that names the task definition it ran
(DescribeServiceRevisions). It keeps no history of the service's tags, so which
git revision each deployment came from is put together from what is kept:

1. the commit statuses (``ecs/<unit>``) the reconciler posted, whose
   descriptions name the task definition revision each commit rolled out;
2. the service's own ``gitops:revision`` and ``gitops:task-definition`` tags,
   which say what the last successful rollout applied;
3. the ``gitops:revision`` tag of the task definition: the commit that
   registered it (a revert reuses that revision, so it is shown as such).

Each deployment is matched, newest first, to the newest commit not yet
matched that the first two sources tie to it; the third is a fallback, said
as "registered by". Commits that changed the unit and match no deployment are
listed apart: invalid revisions, changes not applied yet.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.model import (
    STATUS_CONTEXT_PREFIX,
    TAG_REVISION,
    TAG_TASK_DEFINITION,
    CommitStatus,
    DesiredUnit,
    JsonObject,
)
from reconciler.source.revert import UnitCommit

REVISIONS_PER_CALL = 20
"""DescribeServiceRevisions takes twenty ARNs at a time."""


@dataclass(frozen=True, slots=True)
class DeploymentRun:
    """One ECS service deployment of a unit's service, as AWS remembers it.

    ``status`` is ECS's (``SUCCESSFUL``, ``ROLLBACK_SUCCESSFUL``, ``IN_PROGRESS``,
    ``STOPPED``...); ``registered_by`` is the task definition's ``gitops:revision``.
    """

    arn: str
    status: str
    task_definition: str | None
    created_at: datetime.datetime | None
    finished_at: datetime.datetime | None = None
    reason: str | None = None
    registered_by: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A deployment and the commit it rolled out (when known), or a commit alone.

    ``matched_by`` says how the commit was tied to the deployment: ``status``,
    ``service tags`` or ``registered by`` (the weakest: the commit that first
    registered the task definition).
    """

    deployment: DeploymentRun | None
    commit: UnitCommit | None
    revision: str | None
    matched_by: str | None = None
    status: CommitStatus | None = None


@dataclass(frozen=True, slots=True)
class UnitHistory:
    unit: str
    deployments: tuple[HistoryEntry, ...]
    undeployed: tuple[HistoryEntry, ...] = ()
    notes: tuple[str, ...] = field(default=())


def short_task_definition(arn: str | None) -> str | None:
    return arn.rsplit("/", 1)[-1] if arn else None


def _target(unit: DesiredUnit) -> AwsTarget:
    return AwsTarget(unit.config.region, unit.policy.aws.role_arn, unit.policy.aws.external_id)


def _moment(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return None


async def read_deployments(aws: Aws, unit: DesiredUnit, *, limit: int = 20) -> list[DeploymentRun]:
    """The unit's service deployments, newest first, with their task definitions."""
    target = _target(unit)
    listed: list[JsonObject] = []
    params: dict[str, Any] = {
        "cluster": unit.config.cluster,
        "service": unit.config.service,
        "maxResults": min(max(limit, 1), 100),
    }
    while len(listed) < limit:
        page = await aws.call("ecs", "list_service_deployments", target, **params)
        listed.extend(page.get("serviceDeployments", []))
        token = page.get("nextToken")
        if not token:
            break
        params["nextToken"] = token
    listed.sort(
        key=lambda d: (
            _moment(d.get("createdAt")) or datetime.datetime.min.replace(tzinfo=datetime.UTC)
        ),
        reverse=True,
    )
    listed = listed[:limit]

    # Service revisions name the task definitions; task definitions their revision.
    revision_arns = list(dict.fromkeys(str(d["targetServiceRevisionArn"]) for d in listed))
    task_definitions: dict[str, str] = {}
    for start in range(0, len(revision_arns), REVISIONS_PER_CALL):
        described = await aws.call(
            "ecs",
            "describe_service_revisions",
            target,
            serviceRevisionArns=revision_arns[start : start + REVISIONS_PER_CALL],
        )
        for revision in described.get("serviceRevisions", []):
            if revision.get("taskDefinition"):
                task_definitions[str(revision["serviceRevisionArn"])] = str(
                    revision["taskDefinition"]
                )
    registered_by: dict[str, str | None] = {}
    for arn in dict.fromkeys(task_definitions.values()):
        described = await aws.call(
            "ecs", "describe_task_definition", target, taskDefinition=arn, include=["TAGS"]
        )
        tags = {t["key"]: t.get("value", "") for t in described.get("tags", [])}
        registered_by[arn] = tags.get(TAG_REVISION)

    runs = []
    for deployment in listed:
        task_definition = task_definitions.get(str(deployment["targetServiceRevisionArn"]))
        runs.append(
            DeploymentRun(
                arn=str(deployment["serviceDeploymentArn"]),
                status=str(deployment.get("status", "")),
                task_definition=task_definition,
                created_at=_moment(deployment.get("createdAt")),
                finished_at=_moment(deployment.get("finishedAt")),
                reason=deployment.get("statusReason"),
                registered_by=registered_by.get(task_definition) if task_definition else None,
            )
        )
    return runs


async def read_service_tags(aws: Aws, unit: DesiredUnit) -> dict[str, str]:
    """The unit's service tags, empty when the service does not exist."""
    response = await aws.call(
        "ecs",
        "describe_services",
        _target(unit),
        cluster=unit.config.cluster,
        services=[unit.config.service],
        include=["TAGS"],
    )
    for service in response.get("services", []):
        if service.get("status") != "INACTIVE":
            return {t["key"]: t.get("value", "") for t in service.get("tags") or ()}
    return {}


def assemble_history(
    unit_id: str,
    deployments: Sequence[DeploymentRun],
    commits: Sequence[UnitCommit],
    statuses: Mapping[str, CommitStatus],
    service_tags: Mapping[str, str],
) -> UnitHistory:
    """Tie deployments (newest first) to the commits that rolled them out.

    ``statuses`` are each commit's ``ecs/<unit>`` status, by revision.
    """
    by_revision = {c.revision: c for c in commits}
    order = [c.revision for c in commits]
    taken: set[str] = set()
    entries = []
    live_revision = service_tags.get(TAG_REVISION)
    live_task_definition = service_tags.get(TAG_TASK_DEFINITION)

    for deployment in deployments:
        short = short_task_definition(deployment.task_definition)
        revision, matched_by = None, None
        # A status naming this task definition: the newest commit not yet taken.
        for candidate in order:
            status = statuses.get(candidate)
            if candidate in taken or status is None or short is None:
                continue
            if f"task definition {short}" in status.description:
                revision, matched_by = candidate, "status"
                break
        if (
            revision is None
            and live_revision
            and live_revision not in taken
            and deployment.status == "SUCCESSFUL"
            and deployment.task_definition == live_task_definition
        ):
            revision, matched_by = live_revision, "service tags"
        if revision is None and deployment.registered_by not in (None, *taken):
            revision, matched_by = deployment.registered_by, "registered by"
        if revision is not None:
            taken.add(revision)
        entries.append(
            HistoryEntry(
                deployment=deployment,
                commit=by_revision.get(revision) if revision else None,
                revision=revision,
                matched_by=matched_by,
                status=statuses.get(revision) if revision else None,
            )
        )
    undeployed = tuple(
        HistoryEntry(None, c, c.revision, status=statuses.get(c.revision))
        for c in commits
        if c.revision not in taken
    )
    return UnitHistory(unit_id, tuple(entries), undeployed)


def unit_statuses(unit_id: str, statuses: Sequence[CommitStatus]) -> dict[str, CommitStatus]:
    """The ``ecs/<unit>`` status of each revision, out of all a provider holds."""
    context = f"{STATUS_CONTEXT_PREFIX}{unit_id}"
    return {s.revision: s for s in statuses if s.context == context}
