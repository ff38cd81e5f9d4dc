"""Diff one unit: its task definition, service, tags and auto scaling bounds.

The service's ``taskDefinition`` is never compared: the user writes it as a
family (or family:revision), AWS returns an ARN, and a reverted unit may point
at an older revision on purpose. The task definition the service runs is
compared instead, field by field, as its own resource; the caller passes it as
``live_task_definition`` (described from the ARN the service reports).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.diff.changes import diff_resource
from reconciler.diff.normalise import (
    SERVICE_CONNECT_NAMESPACE,
    lower_key_case,
    normalise_service,
    normalise_task_definition,
)
from reconciler.model import (
    Cause,
    DesiredUnit,
    FieldChange,
    FieldOwnership,
    JsonObject,
    ResourceKind,
    UnitDiff,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Forms:
    """One side of a unit in canonical form; None where that side has nothing."""

    task_definition: JsonObject | None
    service: JsonObject | None
    tags: JsonObject | None
    autoscaling: JsonObject | None


def ownership_for_unit(
    unit: DesiredUnit,
    *,
    scalable_target: JsonObject | None = None,
    namespace_names: Mapping[str, str] | None = None,
) -> FieldOwnership:
    """Who owns which of the unit's service fields, from the unit and what AWS has.

    Auto scaling owns ``desiredCount`` when a scalable target exists, when the
    unit's policy asks for one, or when the unit leaves ``desiredCount`` out.
    """
    service = lower_key_case(unit.service or {})
    unit_fields = {k for k, v in service.items() if v is not None and v != [] and v != {}}
    connect = service.get("serviceConnectConfiguration")
    if isinstance(connect, dict) and connect.get("namespace"):
        unit_fields.add(SERVICE_CONNECT_NAMESPACE)
    controller = service.get("deploymentController") or {}
    return FieldOwnership(
        autoscaling_owns_desired_count=(
            scalable_target is not None
            or unit.policy.autoscaling is not None
            or "desiredCount" not in unit_fields
        ),
        code_deploy=controller.get("type") == "CODE_DEPLOY",
        ignore_tags=unit.config.ignore_tags,
        unit_fields=frozenset(unit_fields),
        namespace_names=dict(namespace_names or {}),
    )


def diff_unit(
    desired: DesiredUnit,
    *,
    live_task_definition: JsonObject | None,
    live_service: JsonObject | None,
    scalable_target: JsonObject | None = None,
    applied: DesiredUnit | None = None,
    namespace_names: Mapping[str, str] | None = None,
) -> UnitDiff:
    """What apply would change for a unit, and whether git or drift caused it.

    ``live_service`` is a describe_services item with its tags (None when the
    service does not exist); ``scalable_target`` an Application Auto Scaling
    describe_scalable_targets item. ``applied`` is the unit rendered at the
    revision last applied (the service's ``gitops:revision``): live differing
    from it is drift, it differing from ``desired`` is change. Without it every
    difference is put down to change.
    """
    ownership = ownership_for_unit(
        desired, scalable_target=scalable_target, namespace_names=namespace_names
    )
    desired_forms = _desired_forms(desired, ownership)
    live_forms = _live_forms(live_task_definition, live_service, scalable_target, ownership)
    changes = _changes_between(live_forms, desired_forms)
    service_missing = desired.is_service and live_service is None
    task_definition_missing = desired.task_definition is not None and live_task_definition is None
    if not changes and not service_missing:
        return UnitDiff(unit=desired.id, changes=())
    # Paths only: values may be secret, and logs never carry them.
    logger.debug(
        "unit differs from live",
        extra={"unit": desired.id, "changed_paths": [c.path for c in changes]},
    )

    causes = {Cause.CHANGE}
    if applied is not None:
        applied_forms = _desired_forms(applied, ownership)
        drifted = bool(_changes_between(live_forms, applied_forms))
        moved = bool(_changes_between(applied_forms, desired_forms))
        causes = {
            cause for cause, found in ((Cause.DRIFT, drifted), (Cause.CHANGE, moved)) if found
        }
    return UnitDiff(
        unit=desired.id,
        changes=changes,
        causes=frozenset(causes or {Cause.CHANGE}),
        service_missing=service_missing,
        task_definition_missing=task_definition_missing,
    )


def _desired_forms(unit: DesiredUnit, ownership: FieldOwnership) -> _Forms:
    task_definition = None
    if unit.task_definition is not None:
        task_definition = normalise_task_definition(
            unit.task_definition, ignore_tags=ownership.ignore_tags
        )
    service, tags = _split_tags(unit.service, ownership)
    autoscaling = None
    if unit.policy.autoscaling is not None:
        autoscaling = {
            "minCapacity": unit.policy.autoscaling.min,
            "maxCapacity": unit.policy.autoscaling.max,
        }
    return _Forms(task_definition, service, tags, autoscaling)


def _live_forms(
    task_definition: JsonObject | None,
    service: JsonObject | None,
    scalable_target: JsonObject | None,
    ownership: FieldOwnership,
) -> _Forms:
    normalised_task_definition = None
    if task_definition is not None:
        normalised_task_definition = normalise_task_definition(
            task_definition, ignore_tags=ownership.ignore_tags
        )
    normalised_service, tags = _split_tags(service, ownership)
    autoscaling = None
    if scalable_target is not None:
        # Only the bounds: the suspended state belongs to rollouts.
        target = lower_key_case(scalable_target)
        autoscaling = {k: target[k] for k in ("minCapacity", "maxCapacity") if k in target}
    return _Forms(normalised_task_definition, normalised_service, tags, autoscaling)


def _split_tags(
    service: JsonObject | None, ownership: FieldOwnership
) -> tuple[JsonObject | None, JsonObject | None]:
    """A service's canonical form, and its tags apart: tags change by TagResource."""
    if service is None:
        return None, None
    form = normalise_service(service, context=ownership)
    tags = form.pop("tags", [])
    return form, ({"tags": tags} if tags else {})


def _changes_between(live: _Forms, desired: _Forms) -> tuple[FieldChange, ...]:
    """Changes per resource; a resource the desired side does not manage is skipped."""
    pairs = (
        (ResourceKind.TASK_DEFINITION, live.task_definition, desired.task_definition),
        (ResourceKind.SERVICE, live.service, desired.service),
        (ResourceKind.TAGS, live.tags, desired.tags),
        (ResourceKind.AUTOSCALING, live.autoscaling, desired.autoscaling),
    )
    return tuple(
        change
        for kind, live_form, desired_form in pairs
        if desired_form is not None
        for change in diff_resource(kind, live_form, desired_form)
    )
