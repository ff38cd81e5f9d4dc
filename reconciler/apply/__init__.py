"""The apply stage: the AWS calls that make live equal to a unit's plan.

Apply starts rollouts and never waits for them; the track stage does.
"""

from reconciler.apply.scaling import register_scalable_target, resume_scaling
from reconciler.apply.service import (
    SUSPENDED,
    Applied,
    ApplyOptions,
    apply_unit,
    record_rollout,
    target_of,
    timeout_of,
    wait_of,
)
from reconciler.apply.taskdefs import find_revision_by_digest, register_or_reuse

__all__ = [
    "SUSPENDED",
    "Applied",
    "ApplyOptions",
    "apply_unit",
    "find_revision_by_digest",
    "record_rollout",
    "register_or_reuse",
    "register_scalable_target",
    "resume_scaling",
    "target_of",
    "timeout_of",
    "wait_of",
]
