"""What ``scale`` and ``set-image`` share: render a unit, find where a value is
written, edit it, check the edit by rendering again, commit.

A rendered value comes from one of three places: a literal in a definition
file, a variable committed in git (``vars`` in a ``reconciler.yml``, or the
unit's env file), or a variable read from the reconciler's environment.
Which one is found by rendering, not by guessing from the text: the unit is
rendered again with a candidate variable set to a probe value, and if the
value changes with it, that variable is where it comes from. This works the
same for Go templates, Jsonnet ``std.native('must_env')`` and ext vars.

Every edit is rendered once more before the commit: the value must come out
as asked, or nothing is committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.aws import Aws, Sessions
from reconciler.desired import render_units
from reconciler.desired.documents import walk_leaves
from reconciler.desired.policy import POLICY_NAMES
from reconciler.errors import UsageError
from reconciler.model import DesiredUnit
from reconciler.source import GitFiles, SourceError, open_repo_files
from reconciler.source.commits import Commit, WorkingCopy, WorkingCopyError, commit_message
from reconciler.source.edits import (
    EditedFiles,
    EditRefused,
    FileEdit,
    set_env_value,
    set_policy_values,
)

COMMITTED = "vars"
ENV_FILE = "env_file"
REPO_WIDE = "repo_vars"
ENVIRONMENT = "environment"


@dataclass(frozen=True, slots=True)
class Variable:
    """Where a variable a unit reads is set: ``kind`` is one of ``vars`` (the
    unit's ``reconciler.yml``), ``repo_vars`` (the repo-wide one), ``env_file``
    or ``environment`` (not in git); ``file`` is None for the environment."""

    name: str
    kind: str
    file: str | None
    value: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command committed (or would have), as printed and as JSON."""

    unit: str
    field: str
    before: Any
    after: Any
    file: str | None
    variable: str | None = None
    commit: Commit | None = None
    also_changed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "field": self.field,
            "from": self.before,
            "to": self.after,
            "file": self.file,
            "variable": self.variable,
            "commit": self.commit.revision if self.commit else None,
            "branch": self.commit.branch if self.commit else None,
            "author": str(self.commit.identity) if self.commit else None,
            "alsoChanged": list(self.also_changed),
        }


class UnitEditor:
    """Renders units of a working copy at its head, with or without edits."""

    def __init__(self, repo: str, aws: Aws) -> None:
        self.copy = WorkingCopy(repo)
        # Render what is committed: untracked files cannot leak into the result.
        head = open_repo_files(self.copy.root, "HEAD")
        assert isinstance(head, GitFiles)
        self.files = head
        self.aws = aws
        self.environment = dict(os.environ)

    async def render(
        self,
        unit_id: str,
        edits: Mapping[str, bytes | None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> DesiredUnit:
        """The unit rendered at the head with ``edits`` applied; refused when it
        does not render."""
        files = EditedFiles(self.files, edits) if edits else self.files
        results = await render_units(files, self.aws, [unit_id], env or self.environment)
        result = results[0]
        if not result.ok or result.unit is None:
            problems = "; ".join(str(f) for f in result.findings if f.severity == "error")
            stage = "after the change" if edits else "as committed"
            raise EditRefused(f"unit {unit_id} does not render {stage}: {problems}")
        return result.unit

    def text(self, path: str) -> str | None:
        content = self.copy.read_head_file(path)
        return None if content is None else content.decode("utf-8")

    def policy_path(self, folder: str) -> str:
        """The ``reconciler.yml`` of ``folder`` (the name it has, or the default)."""
        for name in POLICY_NAMES:
            path = posixpath.normpath(posixpath.join(folder, name))
            if self.copy.read_head_file(path) is not None:
                return path
        return posixpath.normpath(posixpath.join(folder, POLICY_NAMES[0]))

    def variables(self, unit: DesiredUnit) -> list[Variable]:
        """Every variable the unit may read, where it is set, in the order they
        win: the unit's vars, the repo-wide vars, the env file, the environment."""
        found: dict[str, Variable] = {}
        for kind, folder in ((COMMITTED, unit.path), (REPO_WIDE, ".")):
            path = self.policy_path(folder)
            if kind == REPO_WIDE and unit.path == ".":
                continue
            values = _policy_vars(self.text(path))
            for name, value in values.items():
                found.setdefault(name, Variable(name, kind, path, value))
        if unit.policy.env_file:
            path = posixpath.normpath(posixpath.join(unit.path, unit.policy.env_file))
            for name, value in _env_values(self.text(path) or "").items():
                found.setdefault(name, Variable(name, ENV_FILE, path, value))
        for name in sorted(unit.unpinned_vars):
            value = self.environment.get(name, "")
            found.setdefault(name, Variable(name, ENVIRONMENT, None, value))
        return list(found.values())

    def variable_edit(self, variable: Variable, value: str) -> FileEdit:
        """The edit that sets a committed variable to ``value``, in its file."""
        assert variable.file is not None
        text = self.text(variable.file) or ""
        if variable.kind == ENV_FILE:
            edited = set_env_value(text, variable.name, value, file=variable.file)
        else:
            current = self.text(variable.file)
            edited = set_policy_values(current, "vars", {variable.name: value}, file=variable.file)
        return FileEdit(variable.file, edited.encode("utf-8"))

    async def find_variable(
        self, unit: DesiredUnit, read: Callable[[DesiredUnit], Any], probe: str, shown: str
    ) -> tuple[Variable, Any] | None:
        """The variable the value ``read`` from the unit comes from, and the value
        read with that variable set to ``probe``; None when none moves it.

        Only variables whose value appears in ``shown`` (the rendered value as
        text) are tried: a variable the value does not contain cannot be it.
        """
        for variable in self.variables(unit):
            if not variable.value or variable.value not in shown:
                continue
            if variable.kind == ENVIRONMENT:
                env = {**self.environment, variable.name: probe}
                probed = await self._probe(unit.id, None, env)
            else:
                edit = self.variable_edit(variable, probe)
                probed = await self._probe(unit.id, {edit.path: edit.content}, None)
            if probed is None:
                continue
            value = read(probed)
            if probe in str(value):
                return variable, value
        return None

    async def _probe(
        self,
        unit_id: str,
        edits: Mapping[str, bytes | None] | None,
        env: Mapping[str, str] | None,
    ) -> DesiredUnit | None:
        try:
            return await self.render(unit_id, edits, env)
        except EditRefused:
            return None


def changed_paths(before: DesiredUnit, after: DesiredUnit) -> list[str]:
    """The field paths of the rendered definitions that differ between two renders."""
    changed: set[str] = set()
    for prefix, left, right in (
        ("taskDefinition", before.task_definition, after.task_definition),
        ("service", before.service, after.service),
    ):
        left_leaves = dict(walk_leaves(left)) if left is not None else {}
        right_leaves = dict(walk_leaves(right)) if right is not None else {}
        for path in left_leaves.keys() | right_leaves.keys():
            if left_leaves.get(path, ...) != right_leaves.get(path, ...):
                changed.add(f"{prefix}.{path}")
    if before.policy.autoscaling != after.policy.autoscaling:
        changed.add("policy.autoscaling")
    return sorted(changed)


def _policy_vars(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    values = loaded.get("vars") if isinstance(loaded, dict) else None
    if not isinstance(values, dict):
        return {}
    return {str(k): v for k, v in values.items() if isinstance(v, str)}


def _env_values(text: str) -> dict[str, str]:
    # The same reading as the render's env file reader: last definition wins.
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.removeprefix("export ").strip().partition("=")
        if not equals:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def open_aws() -> Aws:
    """The AWS layer, from the environment (``AWS_ENDPOINT_URL`` for the emulator)."""
    return Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))


def run_edit(repo: str, work: Callable[[UnitEditor], Any]) -> Outcome:
    """Run an edit coroutine ``work(editor)`` on a clean working copy, with a
    fresh AWS layer. A ``--repo`` that is no git working copy is a usage error;
    a dirty one is refused (exit 1)."""
    aws = open_aws()
    try:
        try:
            editor = UnitEditor(repo, aws)
        except (SourceError, WorkingCopyError) as exc:
            raise UsageError(str(exc)) from exc
        editor.copy.require_clean()
        outcome: Outcome = asyncio.run(work(editor))
        return outcome
    finally:
        aws.close()


def print_outcome(outcome: Outcome, output: str, summary: str) -> None:
    if output == "json":
        json.dump(outcome.document(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    print(summary)
    for note in outcome.notes:
        print(f"  {note}", file=sys.stderr)


def message_for(subject: str, reason: str | None, outcome_fields: Mapping[str, str | None]) -> str:
    details = {k: v for k, v in outcome_fields.items() if v is not None}
    return commit_message(subject, reason, details)
