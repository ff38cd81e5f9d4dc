"""Renders kept between cycles for as long as the files they read are unchanged.

A daemon checks drift on the same commit again and again, and a new commit
usually touches a few units of many. Rendering (templates, Jsonnet, YAML) is
most of a cycle's CPU, so a unit rendered from a git tree is kept, keyed on:

- the git tree id of the unit's folder (any file added, changed or removed in
  it, the config file ecspresso would pick included);
- a content digest of every file the render read outside that folder (shared
  Jsonnet libraries, the repo-wide policy file, env files, state files);
- the repo-wide policy file as it is now, present or not;
- the reconciler's environment values of every variable the render looked for
  there and did not find committed (set or unset).

Not cached: units rendered from a plain folder (no tree id vouches for it),
units that did not render, and units whose render looked a value up (SSM,
Secrets Manager, CloudFormation, Terraform state). Those values live outside
git and may change under an unchanged commit; rendering such units every cycle
is what lets a drift check notice, for instance, a rotated SSM parameter.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, replace

from reconciler.desired.policy import POLICY_NAMES
from reconciler.model import RenderResult
from reconciler.source import RepoFiles, discover_units

Fingerprint = tuple[object, ...]

KEPT_PER_UNIT = 2
"""Renders kept per unit: the revision being reconciled and the one last
applied, which planning renders beside it to tell drift from change."""


@dataclass(slots=True)
class _Entry:
    fingerprint: Fingerprint
    result: RenderResult
    outside: tuple[str, ...]
    variables: tuple[str, ...]
    root: str | None = None
    """The root tree the fingerprint last held at: under the same root every
    file is the same, so only the environment needs looking at again."""


@dataclass(frozen=True, slots=True)
class PassKey:
    """What every unit of one rendering pass shares: the root tree and the repo-wide
    policy files."""

    root: str | None
    policy: Fingerprint


@dataclass(frozen=True, slots=True)
class RenderReads:
    """What one render depended on besides its own folder."""

    files: tuple[str, ...]
    variables: frozenset[str]
    looked_up: bool


def _content_digest(files: RepoFiles, path: str) -> str | None:
    try:
        return hashlib.blake2b(files.read_bytes(path), digest_size=16).hexdigest()
    except (FileNotFoundError, ValueError):
        return None


def _inside(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")


def pass_key(files: RepoFiles) -> PassKey:
    """Computed once per pass. The repo-wide policy files as they are (absent ones
    too) apply to every unit."""
    policy = tuple((name, _content_digest(files, name)) for name in POLICY_NAMES)
    return PassKey(files.tree_id("."), policy)


class RenderCache:
    """Rendered units by unit id, each valid while its fingerprint holds.

    One instance lives as long as the process that renders again and again
    (the daemon); ``hits`` and ``misses`` count how it served.
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[_Entry]] = {}
        self._discovered: tuple[str, tuple[str, ...]] | None = None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return sum(len(kept) for kept in self._entries.values())

    def discover(self, files: RepoFiles) -> list[str]:
        """The units of ``files``, found again only when the root tree changed."""
        root = files.tree_id(".")
        if root is None:
            return discover_units(files)
        if self._discovered is None or self._discovered[0] != root:
            self._discovered = (root, tuple(discover_units(files)))
        return list(self._discovered[1])

    def get(
        self,
        files: RepoFiles,
        unit_id: str,
        environment: Mapping[str, str],
        key: PassKey,
    ) -> RenderResult | None:
        """The kept render of ``unit_id``, at ``files``'s revision, if nothing it read
        has changed since."""
        kept = self._entries.get(unit_id, [])
        matches = [e for e in kept if _still_holds(e, files, unit_id, environment, key)]
        if not matches:
            self.misses += 1
            return None
        self.hits += 1
        for entry in matches:
            if entry.result.unit is not None and entry.result.unit.revision == files.revision:
                return entry.result
        # Kept as a render of this revision too, so that the same object comes
        # back next time and what was planned from it is recognised by identity.
        entry = replace(matches[0], result=_at_revision(matches[0].result, files.revision))
        self._entries[unit_id] = [entry, *kept][:KEPT_PER_UNIT]
        return entry.result

    def put(
        self,
        files: RepoFiles,
        result: RenderResult,
        reads: RenderReads,
        environment: Mapping[str, str],
        key: PassKey,
    ) -> None:
        """Keep ``result`` if it may be reused (see the module's docstring)."""
        if not result.ok or result.unit is None or reads.looked_up:
            return
        outside = tuple(sorted(p for p in set(reads.files) if not _inside(p, result.path)))
        variables = tuple(sorted(reads.variables))
        fingerprint = _fingerprint(files, result.id, outside, variables, environment, key.policy)
        if fingerprint is None:
            return
        kept = self._entries.get(result.id, [])
        entry = _Entry(fingerprint, result, outside, variables, key.root)
        self._entries[result.id] = [entry, *kept][:KEPT_PER_UNIT]


def _still_holds(
    entry: _Entry, files: RepoFiles, unit_id: str, environment: Mapping[str, str], key: PassKey
) -> bool:
    """Whether nothing ``entry``'s render read has changed."""
    if key.root is not None and entry.root == key.root:
        return entry.fingerprint[-1] == _environment_part(entry.variables, environment)
    fingerprint = _fingerprint(
        files, unit_id, entry.outside, entry.variables, environment, key.policy
    )
    if fingerprint != entry.fingerprint:
        return False
    entry.root = key.root
    return True


def _fingerprint(
    files: RepoFiles,
    unit_id: str,
    outside: tuple[str, ...],
    variables: tuple[str, ...],
    environment: Mapping[str, str],
    policy_key: Fingerprint,
) -> Fingerprint | None:
    tree = files.tree_id(posixpath.normpath(unit_id))
    if tree is None:
        return None
    return (
        tree,
        policy_key,
        tuple((path, _content_digest(files, path)) for path in outside),
        _environment_part(variables, environment),
    )


def _environment_part(variables: tuple[str, ...], environment: Mapping[str, str]) -> Fingerprint:
    """The values of the variables a render looked for in the environment, set or not."""
    return tuple((name, environment.get(name)) for name in variables)


def _at_revision(result: RenderResult, revision: str | None) -> RenderResult:
    """The kept render as if made at ``revision``: only the revision it names differs."""
    unit = result.unit
    if unit is None or unit.revision == revision:
        return result
    return replace(result, unit=replace(unit, revision=revision))
