"""Apply one unit's plan: the AWS calls that make live equal to desired.

The order is fixed by what depends on what: the task definition is registered
(or an identical revision reused) before the service that points at it; auto
scaling is suspended before the rollout it must not fight; one UpdateService
carries the task definition, the changed fields and the desired count, so one
change is one deployment; the service's tags then record what was applied.

Blue/green, linear and canary services (ECS-native strategies) go through the
same UpdateService, their deploymentConfiguration and load balancers'
advancedConfiguration carried as the unit writes them; their rollout is tracked
through its service deployment. A CODE_DEPLOY service takes a new task
definition through a CodeDeploy deployment instead, and UpdateService only for
the few fields ECS lets it change.

Apply never waits for the rollout it starts: it hands back a
:class:`~reconciler.model.Rollout` for the track stage.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.codedeploy import (
    CODE_DEPLOY_UPDATABLE,
    create_code_deploy_deployment,
    is_code_deploy,
    update_fields_allowed,
)
from reconciler.apply.requests import (
    create_service_request,
    is_daemon,
    service_definition,
    state_tags,
    tag_changes,
    tag_value,
    update_service_request,
    user_tags,
)
from reconciler.apply.scaling import (
    clamp_count,
    is_suspended,
    register_scalable_target,
    resume_scaling,
)
from reconciler.apply.taskdefs import register_or_reuse
from reconciler.aws import Aws, AwsTarget
from reconciler.clock import Clock
from reconciler.errors import Reason, ReconcilerError
from reconciler.model import (
    CODE_DEPLOY,
    NATIVE_STRATEGIES,
    TAG_BAD_REVISION,
    TAG_DIGEST,
    TAG_OWNER,
    TAG_REVISION,
    TAG_SUSPENDED,
    TAG_TASK_DEFINITION,
    DesiredUnit,
    JsonObject,
    LiveUnit,
    Outcome,
    OutcomeResult,
    PlanStatus,
    Rollout,
    StepKind,
    UnitPlan,
    WaitMode,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
"""Seconds a rollout may take when neither the policy nor ecspresso.yml says."""

BUSY_POLL_INTERVAL = 10.0
"""Seconds between looks at a deployment someone else started."""

SUSPENDED = "SUSPENDED"
"""The reason a unit is left alone while its service carries ``gitops:suspended``."""


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """How to apply: who owns what is applied, and what may be overridden.

    ``owner`` is the repository and branch (``gitops:owner``); ``wait`` wins
    over the units' policies when given.
    """

    owner: str
    force: bool = False
    wait: WaitMode | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one unit led to: a finished outcome, or a rollout to track.

    ``resume_scaling`` says auto scaling was suspended for the rollout and
    must be resumed once it ends. ``applied_tags`` are the state tags
    (revision, digest, task definition) that :func:`record_rollout` writes on
    ``service_arn`` once the rollout succeeded: until then the service keeps
    saying what ran before, and a failed rollout leaves it saying so.
    """

    outcome: Outcome | None = None
    rollout: Rollout | None = None
    resume_scaling: bool = False
    service_arn: str | None = None
    applied_tags: Mapping[str, str] = field(default_factory=dict)
    bad_revision_tagged: bool = False


def target_of(unit: DesiredUnit) -> AwsTarget:
    return AwsTarget(unit.config.region, unit.policy.aws.role_arn, unit.policy.aws.external_id)


def timeout_of(unit: DesiredUnit) -> float:
    """The unit's rollout timeout: its policy's, else ecspresso.yml's, else ten minutes."""
    for value in (unit.policy.timeout, unit.config.timeout):
        if value is not None and value > 0:
            return float(value)
    return DEFAULT_TIMEOUT


def wait_of(unit: DesiredUnit, options: ApplyOptions) -> WaitMode:
    return options.wait if options.wait is not None else unit.policy.wait


def owned_by(live: LiveUnit, owner: str) -> bool:
    return live.tags.get(TAG_OWNER) == tag_value(owner)


def in_progress_deployment(service: Mapping[str, Any]) -> JsonObject | None:
    """The PRIMARY deployment, when it is still rolling out."""
    for deployment in service.get("deployments") or ():
        if deployment.get("status") == "PRIMARY" and deployment.get("rolloutState") in (
            "IN_PROGRESS",
            None,
        ):
            return dict(deployment)
    return None


def primary_deployment(service: Mapping[str, Any]) -> JsonObject | None:
    for deployment in service.get("deployments") or ():
        if deployment.get("status") == "PRIMARY":
            return dict(deployment)
    return None


async def apply_unit(
    aws: Aws,
    clock: Clock,
    unit: DesiredUnit,
    live: LiveUnit,
    plan: UnitPlan,
    options: ApplyOptions,
) -> Applied:
    """Make one unit's live state equal to what git says; start, never wait for, its rollout."""
    target = target_of(unit)
    outcome = _outcome_for(unit, plan)

    # A task definition alone: registering it is the whole change.
    if not unit.is_service:
        if StepKind.REGISTER_TASK_DEFINITION not in plan.steps or plan.desired_digest is None:
            return Applied(outcome(OutcomeResult.IN_SYNC, "task definition in sync"))
        arn, registered = await register_or_reuse(aws, target, unit, plan.desired_digest)
        if not registered:
            # Without a service, live never shows the task definition: the
            # revision found by its digest is what "in sync" means here.
            return Applied(outcome(OutcomeResult.IN_SYNC, f"{_revision(arn)} in sync", arn))
        return Applied(outcome(OutcomeResult.SUCCEEDED, f"registered {_revision(arn)}", arn))

    if not live.exists:
        return await _create(aws, clock, unit, plan, options, target)

    # Touch only what this repository owns, and nothing a person has suspended.
    if not owned_by(live, options.owner) and not options.force:
        holder = live.tags.get(TAG_OWNER)
        whose = f"owned by {holder!r}" if holder else "not owned by any repository"
        return Applied(
            outcome(
                OutcomeResult.REFUSED,
                f"service {unit.config.service} is {whose}; apply it with --force to take it over",
                reason=str(Reason.NOT_OWNER),
            )
        )
    if live.tags.get(TAG_SUSPENDED, "").lower() not in ("", "false"):
        return Applied(
            outcome(
                OutcomeResult.SKIPPED,
                f"service {unit.config.service} is suspended ({TAG_SUSPENDED}); resume it to apply",
                reason=SUSPENDED,
            )
        )

    if plan.status is PlanStatus.IN_SYNC:
        return await _settle_in_sync(aws, clock, unit, live, plan, options, target)
    return await _update(aws, clock, unit, live, plan, options, target)


class _OutcomeOf(Protocol):
    """Builds a unit's outcome, the unit and its plan filled in."""

    def __call__(
        self,
        result: OutcomeResult,
        message: str,
        task_definition_arn: str | None = None,
        *,
        reason: str | None = None,
    ) -> Outcome: ...


def _outcome_for(unit: DesiredUnit, plan: UnitPlan) -> _OutcomeOf:
    def outcome(
        result: OutcomeResult,
        message: str,
        task_definition_arn: str | None = None,
        *,
        reason: str | None = None,
    ) -> Outcome:
        return Outcome(
            unit=unit.id,
            result=result,
            reason=reason,
            message=message,
            revision=unit.revision,
            cluster=unit.config.cluster,
            service=unit.config.service,
            task_definition_arn=task_definition_arn,
            changed_paths=tuple(c.path for c in plan.changes),
            steps=plan.steps,
        )

    return outcome


def _revision(arn: str) -> str:
    """``arn:...:task-definition/web:3`` as ``web:3``."""
    return arn.rsplit("/", 1)[-1]


async def _create(
    aws: Aws,
    clock: Clock,
    unit: DesiredUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    target: AwsTarget,
) -> Applied:
    """A service git names for the first time: register, create it, own it."""
    assert plan.desired_digest is not None, "a service unit has a task definition"
    arn, _ = await register_or_reuse(aws, target, unit, plan.desired_digest)
    tags = state_tags(
        owner=options.owner,
        unit=unit.id,
        revision=unit.revision,
        digest=plan.desired_digest,
        task_definition=arn,
    )
    started_at = clock.now()
    response = await aws.call(
        "ecs", "create_service", target, **create_service_request(unit, arn, tags)
    )
    service = response["service"]
    log.info("service created", extra={"unit": unit.id, "service": unit.config.service})

    # Auto scaling needs the service to exist before it can own its count.
    bounds = unit.policy.autoscaling
    suspend = bounds is not None and bounds.suspend_during_rollout and not is_daemon(unit)
    if bounds is not None and not is_daemon(unit):
        await register_scalable_target(
            aws, target, unit.config.cluster, str(unit.config.service), bounds, suspended=suspend
        )
    applied = _rollout_or_started(unit, plan, options, service, arn, started_at, suspend)
    if applied.rollout is None and suspend and bounds is not None:
        # No rollout to track (a CODE_DEPLOY service starts on its task set):
        # nothing would resume scaling later.
        await resume_scaling(aws, target, unit.config.cluster, str(unit.config.service), bounds)
    return dataclasses.replace(applied, service_arn=str(service["serviceArn"]))


async def _settle_in_sync(
    aws: Aws,
    clock: Clock,
    unit: DesiredUnit,
    live: LiveUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    target: AwsTarget,
) -> Applied:
    """Nothing to change; finish what an interrupted apply may have left half done.

    A crash after UpdateService leaves the state tags behind and, perhaps, the
    rollout it started running: the tags are brought up to date (so the next
    plan can vouch for the task definition without describing it) and the
    rollout is tracked as this apply's own. Auto scaling left suspended by such
    a crash is resumed.
    """
    assert live.service is not None
    outcome = _outcome_for(unit, plan)
    running = live.task_definition_arn
    stale = live.tags.get(TAG_TASK_DEFINITION) != running or live.tags.get(TAG_DIGEST) != (
        tag_value(plan.desired_digest) if plan.desired_digest else None
    )
    bounds = unit.policy.autoscaling
    suspended = bounds is not None and is_suspended(live.scalable_target)
    deployment = in_progress_deployment(live.service)
    if deployment is not None and deployment.get("taskDefinition") == running:
        rollout = _rollout(unit, plan, options, live.service, str(running), clock.now())
        if rollout is not None:
            await _write_tags(aws, target, unit, live, options, None)
            return Applied(
                rollout=rollout,
                resume_scaling=suspended,
                **_recorded(unit, live, options, plan.desired_digest, running),
            )
    if stale or not owned_by(live, options.owner):
        await _write_tags(aws, target, unit, live, options, (plan.desired_digest, running))
    if suspended and bounds is not None:
        await resume_scaling(aws, target, unit.config.cluster, str(unit.config.service), bounds)
    return Applied(outcome(OutcomeResult.IN_SYNC, "in sync", running))


async def _update(
    aws: Aws,
    clock: Clock,
    unit: DesiredUnit,
    live: LiveUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    target: AwsTarget,
) -> Applied:
    assert live.service is not None
    outcome = _outcome_for(unit, plan)
    service = live.service

    # Do not pile a deployment onto one somebody else started: let it finish.
    if _foreign_deployment(live):
        waited = await _wait_for_foreign_deployment(aws, clock, unit, target)
        if waited is None:
            return Applied(
                outcome(
                    OutcomeResult.FAILED,
                    f"a deployment the reconciler did not start is still in progress on "
                    f"{unit.config.service} after {timeout_of(unit):.0f}s; apply again once "
                    "it has finished",
                    reason=str(Reason.ROLLOUT_TIMEOUT),
                )
            )
        service = waited

    # Register (or reuse) before the service that points at it.
    task_definition_arn = None
    reused = False
    if StepKind.REGISTER_TASK_DEFINITION in plan.steps and plan.desired_digest is not None:
        task_definition_arn, registered = await register_or_reuse(
            aws, target, unit, plan.desired_digest
        )
        reused = not registered
    running = task_definition_arn or live.task_definition_arn

    update = update_service_request(
        unit,
        plan.changes,
        task_definition_arn=task_definition_arn,
        desired_count=_desired_count(unit, live),
    )

    # CodeDeploy rolls out a CODE_DEPLOY service's task definition; ECS refuses it.
    code_deploy_arn = None
    if is_code_deploy(unit):
        _warn_code_deploy_refuses(unit, update)
        update = update_fields_allowed(update) if update is not None else None
        update = update or None
        if task_definition_arn is not None and task_definition_arn != live.task_definition_arn:
            code_deploy_arn = task_definition_arn

    # Bounds, and suspension for the rollout, in one call before UpdateService.
    bounds = unit.policy.autoscaling
    rolls_out = update is not None or code_deploy_arn is not None
    suspend = bool(
        bounds is not None
        and bounds.suspend_during_rollout
        and rolls_out
        and (live.scalable_target is not None or StepKind.SCALE in plan.steps)
    )
    if bounds is not None and not is_daemon(unit) and (suspend or StepKind.SCALE in plan.steps):
        await register_scalable_target(
            aws,
            target,
            unit.config.cluster,
            str(unit.config.service),
            bounds,
            suspended=True if suspend else None,
        )

    # One change, one deployment.
    started_at = clock.now()
    if code_deploy_arn is not None:
        try:
            if update is not None:
                await aws.call("ecs", "update_service", target, **update)
            deployment_id = await create_code_deploy_deployment(aws, target, unit, code_deploy_arn)
        except ReconcilerError:
            if suspend and bounds is not None:
                await resume_scaling(
                    aws, target, unit.config.cluster, str(unit.config.service), bounds
                )
            raise
        await _write_tags(aws, target, unit, live, options, None)
        rollout = dataclasses.replace(
            _rollout_of(unit, plan, options, code_deploy_arn, started_at),
            deployment_id=deployment_id,
            strategy=CODE_DEPLOY,
        )
        return Applied(
            rollout=rollout,
            resume_scaling=suspend,
            **_recorded(unit, live, options, plan.desired_digest, code_deploy_arn),
        )
    if update is not None:
        try:
            response = await aws.call("ecs", "update_service", target, **update)
        except ReconcilerError:
            # No rollout will end to resume it: resume now, then report.
            if suspend and bounds is not None:
                await resume_scaling(
                    aws, target, unit.config.cluster, str(unit.config.service), bounds
                )
            raise
        service = {**response["service"], "tags": service.get("tags", [])}
        log.info(
            "service updated",
            extra={
                "unit": unit.id,
                "service": unit.config.service,
                "changed_paths": [c.path for c in plan.changes],
            },
        )
    if update is None:
        await _write_tags(aws, target, unit, live, options, (plan.desired_digest, running))
        return Applied(outcome(OutcomeResult.SUCCEEDED, "tags and scaling applied", running))

    # The state tags wait for the rollout to succeed; the unit's own tags do not.
    await _write_tags(aws, target, unit, live, options, None)
    applied = _rollout_or_started(unit, plan, options, service, str(running), started_at, suspend)
    if applied.rollout is None:
        await _write_tags(aws, target, unit, live, options, (plan.desired_digest, running))
        return applied
    if reused:
        # Said in the outcome, so a rollback reads as "the revision that ran before".
        rollout = dataclasses.replace(applied.rollout, task_definition_reused=True)
        applied = dataclasses.replace(applied, rollout=rollout)
    return dataclasses.replace(
        applied, **_recorded(unit, live, options, plan.desired_digest, running)
    )


def _warn_code_deploy_refuses(unit: DesiredUnit, update: Mapping[str, Any] | None) -> None:
    """Say which changed fields neither UpdateService nor the AppSpec can bring."""
    carried = CODE_DEPLOY_UPDATABLE | {"cluster", "service", "taskDefinition"}
    refused = sorted(set(update or ()) - carried)
    if refused:
        # Only a new service would take them, and the reconciler never deletes a
        # service on its own: it says so, and the plan keeps showing the change.
        log.warning(
            "fields a CODE_DEPLOY service cannot change were left as they are",
            extra={"unit": unit.id, "changed_paths": refused},
        )


def _desired_count(unit: DesiredUnit, live: LiveUnit) -> int | None:
    """The count UpdateService carries: the unit's, or one auto scaling's bounds allow."""
    assert live.service is not None
    if is_daemon(unit):
        return None
    current = int(live.service.get("desiredCount", 0))
    bounds = unit.policy.autoscaling
    if bounds is not None:
        # Auto scaling owns the count; only bring it within the new bounds.
        wanted = clamp_count(current, bounds)
        return wanted if wanted != current else None
    definition = service_definition(unit)
    if live.scalable_target is None and definition.get("desiredCount") is not None:
        wanted = int(definition["desiredCount"])
        return wanted if wanted != current else None
    return None


def _foreign_deployment(live: LiveUnit) -> bool:
    """A rollout is in progress that the service's tags do not say we started."""
    assert live.service is not None
    deployment = in_progress_deployment(live.service)
    if deployment is None:
        return False
    return deployment.get("taskDefinition") != live.tags.get(TAG_TASK_DEFINITION)


async def _wait_for_foreign_deployment(
    aws: Aws, clock: Clock, unit: DesiredUnit, target: AwsTarget
) -> JsonObject | None:
    """Wait, within the unit's timeout, for someone else's rollout to end.

    Returns the service as it is then, or None when it is still rolling out.
    """
    deadline = clock.now() + timeout_of(unit)
    log.info(
        "waiting for a deployment the reconciler did not start",
        extra={"unit": unit.id, "service": unit.config.service},
    )
    while True:
        response = await aws.call(
            "ecs",
            "describe_services",
            target,
            cluster=unit.config.cluster,
            services=[unit.config.service],
            include=["TAGS"],
        )
        services = response.get("services") or [{}]
        service: JsonObject = services[0]
        if in_progress_deployment(service) is None:
            return service
        if clock.now() >= deadline:
            return None
        await clock.sleep(BUSY_POLL_INTERVAL)


def _recorded(
    unit: DesiredUnit,
    live: LiveUnit,
    options: ApplyOptions,
    digest: str | None,
    task_definition_arn: str | None,
) -> dict[str, Any]:
    """What :func:`record_rollout` needs to write once a rollout on ``live`` ends."""
    assert live.service is not None
    return {
        "service_arn": str(live.service["serviceArn"]),
        "applied_tags": _state_tags(unit, options, digest, task_definition_arn),
        "bad_revision_tagged": TAG_BAD_REVISION in live.tags,
    }


def _state_tags(
    unit: DesiredUnit, options: ApplyOptions, digest: str | None, task_definition_arn: str | None
) -> dict[str, str]:
    return state_tags(
        owner=options.owner,
        unit=unit.id,
        revision=unit.revision,
        digest=digest,
        task_definition=task_definition_arn,
    )


async def _write_tags(
    aws: Aws,
    target: AwsTarget,
    unit: DesiredUnit,
    live: LiveUnit,
    options: ApplyOptions,
    applied: tuple[str | None, str | None] | None,
) -> None:
    """Apply the unit's own tag changes and claim the service.

    With ``applied`` (digest, task definition ARN), also record what runs; a
    rollout in flight records it later, through :func:`record_rollout`.
    """
    assert live.service is not None
    desired = {t["key"]: t["value"] for t in user_tags(service_definition(unit))}
    if applied is None:
        desired.update(_state_tags(unit, options, None, None))
        desired.pop(TAG_REVISION, None)
    else:
        desired.update(_state_tags(unit, options, *applied))
    to_set, to_remove = tag_changes(live.tags, desired, unit.config.ignore_tags)
    arn = live.service["serviceArn"]
    if to_set:
        tags = [{"key": k, "value": v} for k, v in to_set.items()]
        await aws.call("ecs", "tag_resource", target, resourceArn=arn, tags=tags)
    if to_remove:
        await aws.call("ecs", "untag_resource", target, resourceArn=arn, tagKeys=to_remove)


async def record_rollout(aws: Aws, unit: DesiredUnit, applied: Applied, succeeded: bool) -> None:
    """Write on the service how its rollout ended.

    A success records the revision, digest and task definition now running
    (and clears an earlier ``gitops:bad-revision``); a failure marks the
    revision bad, leaving the state tags on what ran before.
    """
    if applied.service_arn is None:
        return
    target = target_of(unit)
    if succeeded:
        if applied.applied_tags:
            tags = [{"key": k, "value": v} for k, v in applied.applied_tags.items()]
            await aws.call(
                "ecs", "tag_resource", target, resourceArn=applied.service_arn, tags=tags
            )
        if applied.bad_revision_tagged:
            await aws.call(
                "ecs",
                "untag_resource",
                target,
                resourceArn=applied.service_arn,
                tagKeys=[TAG_BAD_REVISION],
            )
        return
    if unit.revision:
        bad = [{"key": TAG_BAD_REVISION, "value": tag_value(unit.revision)}]
        await aws.call("ecs", "tag_resource", target, resourceArn=applied.service_arn, tags=bad)


def _rollout(
    unit: DesiredUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    service: Mapping[str, Any],
    task_definition_arn: str,
    started_at: float,
) -> Rollout | None:
    deployment = primary_deployment(service)
    if deployment is None:
        return None
    rollout = _rollout_of(unit, plan, options, task_definition_arn, started_at)
    strategy = str((service.get("deploymentConfiguration") or {}).get("strategy") or "ROLLING")
    if strategy in NATIVE_STRATEGIES:
        # Traffic-shifting rollouts are followed through their service deployment.
        arn = service.get("currentServiceDeployment")
        return dataclasses.replace(
            rollout,
            deployment_id=str(deployment["id"]),
            strategy=strategy,
            service_deployment_arn=str(arn) if arn else None,
        )
    return dataclasses.replace(rollout, deployment_id=str(deployment["id"]))


def _rollout_of(
    unit: DesiredUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    task_definition_arn: str,
    started_at: float,
) -> Rollout:
    """A rollout of the unit, its deployment id still to be filled in."""
    target = target_of(unit)
    return Rollout(
        unit=unit.id,
        region=target.region,
        role_arn=target.role_arn,
        external_id=target.external_id,
        cluster=unit.config.cluster,
        service=str(unit.config.service),
        deployment_id="",
        task_definition_arn=task_definition_arn,
        started_at=started_at,
        deadline=started_at + timeout_of(unit),
        wait=wait_of(unit, options),
        revision=unit.revision,
        changed_paths=tuple(c.path for c in plan.changes),
    )


def _rollout_or_started(
    unit: DesiredUnit,
    plan: UnitPlan,
    options: ApplyOptions,
    service: Mapping[str, Any],
    task_definition_arn: str,
    started_at: float,
    suspended: bool,
) -> Applied:
    outcome = _outcome_for(unit, plan)
    rollout = _rollout(unit, plan, options, service, task_definition_arn, started_at)
    if rollout is None:
        return Applied(outcome(OutcomeResult.SUCCEEDED, "applied", task_definition_arn))
    return Applied(rollout=rollout, resume_scaling=suspended)
