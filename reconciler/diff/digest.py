"""Digests of canonical forms, versioned with the normaliser.

A digest is ``"<NORMALISER_VERSION>:<sha256 of the canonical JSON>"``. It is a
shortcut, never a verdict: two digests of the same version that agree prove a
task definition unchanged (the live stage then need not describe it), while
digests that disagree, or come from another normaliser version, prove nothing
and send the definitions to the diff. So upgrading the reconciler, which may
change canonical forms and bumps the version, never redeploys a fleet: the
diff, not the digest, decides whether a unit changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.diff.normalise import normalise_task_definition
from reconciler.model import JsonObject

NORMALISER_VERSION = "v1"
"""Bumped whenever a normalisation rule changes a canonical form."""


def canonical_json(form: Any) -> str:
    """One string per canonical form: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_form(form: JsonObject) -> str:
    """The versioned digest of a form that is already normalised."""
    sha = hashlib.sha256(canonical_json(form).encode("utf-8")).hexdigest()
    return f"{NORMALISER_VERSION}:{sha}"


def digest_task_definition(td: JsonObject) -> str:
    """The versioned digest of a task definition, as written or as described."""
    return digest_form(normalise_task_definition(td))


def digest_version(digest: str) -> str | None:
    """The normaliser version a digest was made with, or None if it has none."""
    version, separator, _ = digest.partition(":")
    return version if separator and version else None


def same_digest_version(digest: str, other: str) -> bool:
    """Whether two digests were made by the same normaliser version."""
    version = digest_version(digest)
    return version is not None and version == digest_version(other)


def digest_proves_unchanged(live_digest: str | None, desired_digest: str) -> bool:
    """True only when both digests are of one version and equal.

    False means "not proven": diff the definitions. It never means "changed".
    """
    if live_digest is None or not same_digest_version(live_digest, desired_digest):
        return False
    return live_digest == desired_digest
