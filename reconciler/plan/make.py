"""Turn a unit's diff into the steps apply takes.

The steps follow from what differs, and one change is one deployment: a new
task definition and changed service attributes travel in the same
``UpdateService``, so a service never rolls out twice for one revision.
"""

from __future__ import annotations

from reconciler.diff import diff_unit, digest_task_definition, normalise_task_definition
from reconciler.errors import ReconcilerError
from reconciler.model import (
    DesiredUnit,
    Finding,
    LiveUnit,
    PlanStatus,
    ResourceKind,
    Severity,
    StepKind,
    UnitPlan,
)


def desired_digest(unit: DesiredUnit) -> str | None:
    """The digest of the task definition git wants, as the live stage compares it."""
    if unit.task_definition is None:
        return None
    return digest_task_definition(
        normalise_task_definition(unit.task_definition, ignore_tags=unit.config.ignore_tags)
    )


def plan_unit(desired: DesiredUnit, live: LiveUnit, applied: DesiredUnit | None = None) -> UnitPlan:
    """The plan for one unit, from what git wants and what AWS has.

    ``applied`` is the unit rendered at the revision last applied to it: a
    difference between it and live is drift, one between it and desired is
    change.
    """
    # A task definition the tags vouch for equals the desired one by digest.
    live_task_definition = live.task_definition
    if live.task_definition_reused:
        live_task_definition = desired.task_definition
    scalable_target = None
    if live.scalable_target is not None:
        scalable_target = {
            "MinCapacity": live.scalable_target.min,
            "MaxCapacity": live.scalable_target.max,
        }

    unit_diff = diff_unit(
        desired,
        live_task_definition=live_task_definition,
        live_service=live.service,
        scalable_target=scalable_target,
        applied=applied,
    )
    digest = desired_digest(desired)
    service = desired.config.service
    if unit_diff.in_sync and not unit_diff.task_definition_missing:
        return UnitPlan(
            desired.id, desired.config.cluster, service, PlanStatus.IN_SYNC, desired_digest=digest
        )

    # Register before the service that points at it; scale last, once the
    # service exists for Application Auto Scaling to find.
    steps: list[StepKind] = []
    task_definition_changes = unit_diff.changes_to(ResourceKind.TASK_DEFINITION)
    if task_definition_changes or unit_diff.task_definition_missing:
        steps.append(StepKind.REGISTER_TASK_DEFINITION)
    if desired.is_service:
        if unit_diff.service_missing:
            steps.append(StepKind.CREATE_SERVICE)
        elif task_definition_changes or unit_diff.changes_to(ResourceKind.SERVICE):
            steps.append(StepKind.UPDATE_SERVICE)
        if not unit_diff.service_missing and unit_diff.changes_to(ResourceKind.TAGS):
            steps.append(StepKind.TAG_SERVICE)
        if unit_diff.changes_to(ResourceKind.AUTOSCALING):
            steps.append(StepKind.SCALE)

    status = PlanStatus.MISSING if unit_diff.service_missing else PlanStatus.CHANGED
    return UnitPlan(
        unit=desired.id,
        cluster=desired.config.cluster,
        service=service,
        status=status,
        causes=unit_diff.causes,
        changes=unit_diff.changes,
        steps=tuple(steps),
        desired_digest=digest,
    )


def plan_error(
    unit: str,
    error: ReconcilerError | Finding,
    *,
    cluster: str | None = None,
    service: str | None = None,
) -> UnitPlan:
    """A unit that cannot be planned: why, and where, so the others still are."""
    finding = error
    if isinstance(error, ReconcilerError):
        finding = Finding(Severity.ERROR, error.message, unit=unit, code=str(error.reason))
    assert isinstance(finding, Finding)
    return UnitPlan(unit, cluster, service, PlanStatus.ERROR, error=finding)
