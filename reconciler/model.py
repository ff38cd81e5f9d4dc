"""The data every stage hands the next: plain, immutable values.

Raw AWS and definition payloads stay JSON-shaped (``JsonObject``); everything the
reconciler decides about them is a frozen dataclass defined here, so that any
stage may import this module and no stage needs another's internals.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonObject = dict[str, Any]
"""A JSON object as boto3 takes and returns it (camelCase ECS shapes)."""


class Sync(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class DriftPolicy(enum.StrEnum):
    ALERT = "alert"
    HEAL = "heal"
    IGNORE = "ignore"


class WaitMode(enum.StrEnum):
    DEPLOYED = "deployed"
    STABLE = "stable"
    NONE = "none"


class OnFailure(enum.StrEnum):
    REPORT = "report"
    REVERT = "revert"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a unit, located as precisely as we can.

    ``field`` is a readable path such as ``containerDefinitions[app].image``;
    ``hint`` says what to do about it.
    """

    severity: Severity
    message: str
    unit: str | None = None
    file: str | None = None
    line: int | None = None
    field: str | None = None
    hint: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        parts = [f"{self.severity}:"]
        if self.unit:
            parts.append(f"[{self.unit}]")
        if where:
            parts.append(f"{where}:")
        parts.append(self.message)
        if self.field:
            parts.append(f"(at {self.field})")
        text = " ".join(parts)
        return f"{text}; {self.hint}" if self.hint else text


@dataclass(frozen=True, slots=True)
class AutoScaling:
    """Application Auto Scaling bounds a unit asks for."""

    min: int
    max: int
    suspend_during_rollout: bool = True


@dataclass(frozen=True, slots=True)
class AwsAccess:
    """The role a unit's calls are made as, if not the reconciler's own."""

    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A unit's ``reconciler.yml`` merged over the repo-wide one (unit wins)."""

    sync: Sync = Sync.AUTO
    drift: DriftPolicy = DriftPolicy.ALERT
    wait: WaitMode = WaitMode.STABLE
    timeout: float | None = None
    wave: int = 0
    depends_on: tuple[str, ...] = ()
    autoscaling: AutoScaling | None = None
    on_failure: OnFailure = OnFailure.REPORT
    prune: bool = False
    aws: AwsAccess = field(default_factory=AwsAccess)
    vars: Mapping[str, str] = field(default_factory=dict)
    env_file: str | None = None


@dataclass(frozen=True, slots=True)
class UnitConfig:
    """What a unit's ``ecspresso.yml`` says, with ecspresso's semantics."""

    region: str
    cluster: str
    service: str | None
    service_definition: str | None
    task_definition: str | None
    timeout: float | None = None
    appspec: JsonObject | None = None
    codedeploy: JsonObject | None = None
    ignore_tags: tuple[str, ...] = ()
    required_version: str | None = None
    plugins: tuple[JsonObject, ...] = ()


@dataclass(frozen=True, slots=True)
class DesiredUnit:
    """A unit rendered at a revision: what git says should run.

    ``secret_paths`` are the field paths whose values came from a secret lookup
    (masked in output); ``unpinned_vars`` are the variables read from the
    reconciler's environment rather than from git (a revert cannot restore them).
    """

    id: str
    revision: str | None
    path: str
    config: UnitConfig
    policy: Policy
    task_definition: JsonObject | None
    service: JsonObject | None
    files: tuple[str, ...] = ()
    secret_paths: frozenset[str] = frozenset()
    unpinned_vars: frozenset[str] = frozenset()
    findings: tuple[Finding, ...] = ()

    @property
    def is_service(self) -> bool:
        return self.service is not None


@dataclass(frozen=True, slots=True)
class RenderResult:
    """One unit's outcome from reading the repo: a rendered unit, or why not."""

    id: str
    path: str
    unit: DesiredUnit | None
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.unit is not None and not any(
            f.severity is Severity.ERROR for f in self.findings
        )


# Tags the reconciler keeps its state in, on services and task definitions.
TAG_OWNER = "gitops:owner"
TAG_UNIT = "gitops:unit"
TAG_REVISION = "gitops:revision"
TAG_DIGEST = "gitops:digest"
TAG_TASK_DEFINITION = "gitops:task-definition"
TAG_BAD_REVISION = "gitops:bad-revision"
TAG_SUSPENDED = "gitops:suspended"
TAG_PREFIX = "gitops:"


@dataclass(frozen=True, slots=True)
class ScalableTarget:
    """An Application Auto Scaling target on a service's desired count."""

    resource_id: str
    min: int
    max: int
    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


@dataclass(frozen=True, slots=True)
class LiveUnit:
    """What AWS reports for one unit now.

    ``service`` is None when the service does not exist (or is INACTIVE).
    ``task_definition`` is None when it was not described: the service still
    runs the revision it is tagged with and that revision's digest matches what
    git wants (``task_definition_reused``), or the unit has no service yet.
    """

    unit_id: str
    service: JsonObject | None
    tags: Mapping[str, str]
    task_definition_arn: str | None
    task_definition: JsonObject | None
    task_definition_reused: bool
    scalable_target: ScalableTarget | None

    @property
    def exists(self) -> bool:
        return self.service is not None


class ResourceKind(enum.StrEnum):
    """The AWS resource a field change applies to."""

    TASK_DEFINITION = "task_definition"
    SERVICE = "service"
    AUTOSCALING = "autoscaling"
    TAGS = "tags"


class Cause(enum.StrEnum):
    """Why live differs from desired: git moved, or someone changed AWS."""

    CHANGE = "change"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that apply will change, read from live to desired.

    ``path`` is readable (``containerDefinitions[app].image``); ``live`` is None
    for a field or item apply adds, ``desired`` is None for one it removes.
    """

    resource: ResourceKind
    path: str
    live: Any
    desired: Any


@dataclass(frozen=True, slots=True)
class FieldOwnership:
    """Which service fields belong to someone other than the unit's author.

    A field owned by someone else is left out of both sides before comparing:
    ``desiredCount`` when Application Auto Scaling owns it, what CodeDeploy
    changes on ``CODE_DEPLOY`` services, ``gitops:`` tags (the reconciler's own)
    and the unit's ``ignore.tags`` patterns. ``unit_fields`` are the top-level
    keys the unit's service definition sets, plus
    ``serviceConnectConfiguration.namespace`` when it names one (None when
    unknown): fields that AWS keeps, or the cluster decides, when a request
    leaves them out are compared only when the unit sets them.
    ``namespace_names`` maps Cloud Map namespace ARNs (which end in the
    namespace id) to their names.
    """

    autoscaling_owns_desired_count: bool = False
    code_deploy: bool = False
    ignore_tags: tuple[str, ...] = ()
    reconciler_tag_prefix: str = "gitops:"
    unit_fields: frozenset[str] | None = None
    namespace_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnitDiff:
    """What apply would change for one unit, and why.

    ``causes`` is empty when the unit is in sync; a missing service (or a task
    definition never registered) is planned as a creation, its fields all added.
    """

    unit: str
    changes: tuple[FieldChange, ...]
    causes: frozenset[Cause] = frozenset()
    service_missing: bool = False
    task_definition_missing: bool = False

    @property
    def in_sync(self) -> bool:
        return not self.changes and not self.service_missing

    def changes_to(self, resource: ResourceKind) -> tuple[FieldChange, ...]:
        return tuple(c for c in self.changes if c.resource is resource)


class StepKind(enum.StrEnum):
    """One AWS change apply makes, in the order apply makes them."""

    REGISTER_TASK_DEFINITION = "register_task_definition"
    CREATE_SERVICE = "create_service"
    UPDATE_SERVICE = "update_service"
    TAG_SERVICE = "tag_service"
    SCALE = "scale"


class PlanStatus(enum.StrEnum):
    IN_SYNC = "in_sync"
    CHANGED = "changed"
    MISSING = "missing"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """What apply would do for one unit, and why (git, drift, or both)."""

    unit: str
    cluster: str | None
    service: str | None
    status: PlanStatus
    causes: frozenset[Cause] = frozenset()
    changes: tuple[FieldChange, ...] = ()
    steps: tuple[StepKind, ...] = ()
    error: Finding | None = None
    desired_digest: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every unit's plan at one revision."""

    revision: str | None
    units: tuple[UnitPlan, ...]

    @property
    def pending(self) -> bool:
        return any(u.status in (PlanStatus.CHANGED, PlanStatus.MISSING) for u in self.units)

    @property
    def failed(self) -> bool:
        return any(u.status is PlanStatus.ERROR for u in self.units)


class SyncState(enum.StrEnum):
    """Where a unit stands, as the status page and ``/api/status`` show it."""

    IN_SYNC = "in_sync"
    CHANGED = "changed"
    MISSING = "missing"
    ERROR = "error"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """The last rollout the reconciler started for a unit, and how it ended.

    ``result`` is the rollout's outcome as track reports it (``succeeded``,
    ``failed``, ``rolled_back``, ``in_progress``...); ``at`` is wall-clock UTC.
    """

    revision: str
    result: str
    at: datetime
    reason: str | None = None
    task_definition: str | None = None
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """Something that happened to a unit, in words, at a wall-clock UTC time."""

    at: datetime
    message: str


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """One unit as the loop last saw it.

    ``live_revision`` is the git revision AWS is tagged with; ``applied_revision``
    the last one the reconciler applied; ``drift`` the field paths someone
    changed in AWS (paths only, never values).
    """

    unit: str
    cluster: str | None
    service: str | None
    sync: SyncState
    live_revision: str | None = None
    applied_revision: str | None = None
    drift: tuple[str, ...] = ()
    last_rollout: RolloutRecord | None = None
    events: tuple[UnitEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Every unit's status at one moment, for the status page and its JSON twin.

    ``revision`` is the head of the watched branch (None before the first fetch).
    """

    taken_at: datetime
    revision: str | None
    units: tuple[UnitStatus, ...]


class CommitState(enum.StrEnum):
    """A commit status's state, in GitHub's words; hosts map it to theirs."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


STATUS_CONTEXT_PREFIX = "ecs/"
DRIFT_CONTEXT_PREFIX = "ecs-drift/"
STATUS_DESCRIPTION_LIMIT = 140


@dataclass(frozen=True, slots=True)
class CommitStatus:
    """One status on one commit: ``ecs/<unit>`` for a rollout, ``ecs-drift/<unit>``.

    ``description`` fits :data:`STATUS_DESCRIPTION_LIMIT` characters (GitHub's
    limit, the tightest of the hosts); ``target_url`` links to the deployment.
    """

    revision: str
    context: str
    state: CommitState
    description: str
    target_url: str | None = None


class OutcomeResult(enum.StrEnum):
    """How one unit's apply ended, as the summary and the exit code read it."""

    IN_SYNC = "in_sync"
    SUCCEEDED = "succeeded"
    STARTED = "started"
    PENDING = "pending"
    FAILED = "failed"
    REFUSED = "refused"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        return self in (OutcomeResult.IN_SYNC, OutcomeResult.SUCCEEDED, OutcomeResult.STARTED)


NATIVE_STRATEGIES = frozenset({"BLUE_GREEN", "LINEAR", "CANARY"})
"""ECS-native deployment strategies that shift traffic through listener rules."""

CODE_DEPLOY = "CODE_DEPLOY"
"""The deployment controller, and a :class:`Rollout`'s strategy, of CodeDeploy services."""


@dataclass(frozen=True, slots=True)
class Rollout:
    """A deployment apply started (or adopted) on one service, to be tracked.

    ``started_at`` and ``deadline`` are in the clock's seconds; ``deployment_id``
    is the ECS deployment (``ecs-svc/...``) that became PRIMARY, or, for
    ``strategy`` CODE_DEPLOY, the CodeDeploy deployment (``d-...``).
    ``strategy`` is ROLLING, BLUE_GREEN, LINEAR, CANARY or CODE_DEPLOY; the
    ECS-native traffic-shifting ones are tracked through their service
    deployment, ``service_deployment_arn`` (found by listing when None).
    """

    unit: str
    region: str
    role_arn: str | None
    external_id: str | None
    cluster: str
    service: str
    deployment_id: str
    task_definition_arn: str
    started_at: float
    deadline: float
    wait: WaitMode
    revision: str | None = None
    changed_paths: tuple[str, ...] = ()
    task_definition_reused: bool = False
    """The task definition is an earlier revision found by its digest (a revert)."""
    strategy: str = "ROLLING"
    service_deployment_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one unit's apply ended, and why, in ECS's words where ECS gave them.

    ``reason`` is a :class:`reconciler.errors.Reason` value, or ``SUSPENDED`` /
    ``DEPENDENCY_FAILED`` for units apply left alone on purpose.
    """

    unit: str
    result: OutcomeResult
    reason: str | None = None
    message: str = ""
    revision: str | None = None
    cluster: str | None = None
    service: str | None = None
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    changed_paths: tuple[str, ...] = ()
    steps: tuple[StepKind, ...] = ()
