"""The diff stage: normalise desired and live, then compare them field by field.

Pure functions, no AWS calls. Typical use, by the plan stage::

    unit_diff = diff_unit(desired, live_task_definition=td, live_service=svc)
    for change in mask_changes(unit_diff.changes, desired.secret_paths):
        ...

Digests (:func:`digest_task_definition`) let the live stage skip describing a
task definition whose tagged digest matches; they never decide on their own
that a unit changed.
"""

from reconciler.diff.changes import diff_resource, render_path
from reconciler.diff.digest import (
    NORMALISER_VERSION,
    canonical_json,
    digest_form,
    digest_proves_unchanged,
    digest_task_definition,
    digest_version,
    same_digest_version,
)
from reconciler.diff.masking import MASK, looks_secret, mask_changes
from reconciler.diff.normalise import normalise_service, normalise_task_definition
from reconciler.diff.unit import diff_unit, ownership_for_unit

__all__ = [
    "MASK",
    "NORMALISER_VERSION",
    "canonical_json",
    "diff_resource",
    "diff_unit",
    "digest_form",
    "digest_proves_unchanged",
    "digest_task_definition",
    "digest_version",
    "looks_secret",
    "mask_changes",
    "normalise_service",
    "normalise_task_definition",
    "ownership_for_unit",
    "render_path",
    "same_digest_version",
]
