"""Reconciler policy: ``reconciler.yml`` at the repo root and in a unit's folder.

The unit's file wins over the repo-wide one key by key (``vars``, ``aws`` and
``autoscaling`` merge their own keys the same way). Unknown keys and wrong
types are errors, named with the file and line: a typo in a policy must not
silently deploy with the default.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.desired.documents import KeyLines, parse_yaml
from reconciler.desired.problems import UnitError
from reconciler.model import AutoScaling, AwsAccess, DriftPolicy, OnFailure, Policy, Sync, WaitMode
from reconciler.source import RepoFiles, confine_path

POLICY_NAMES = ("reconciler.yml", "reconciler.yaml")

TOP_KEYS = frozenset(
    {
        "sync",
        "drift",
        "wait",
        "timeout",
        "wave",
        "depends_on",
        "autoscaling",
        "on_failure",
        "prune",
        "aws",
        "vars",
        "env_file",
    }
)
NESTED_KEYS = {
    "autoscaling": frozenset({"min", "max", "suspend_during_rollout"}),
    "aws": frozenset({"role_arn", "external_id"}),
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One ``reconciler.yml`` as written, checked for known keys, with key lines."""

    path: str | None
    values: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)


def find_policy_file(files: RepoFiles, folder: str) -> str | None:
    for name in POLICY_NAMES:
        path = posixpath.normpath(posixpath.join(folder, name))
        if files.exists(path):
            return path
    return None


def read_policy_file(files: RepoFiles, folder: str, *, unit: str) -> PolicyFile:
    """The policy file in ``folder`` (empty when there is none), keys checked."""
    path = find_policy_file(files, folder)
    if path is None:
        return PolicyFile(None)
    text = files.read_bytes(path).decode("utf-8")
    values = parse_yaml(text, unit=unit, file=path)
    lines = KeyLines(text)
    if values is None:
        return PolicyFile(path)
    if not isinstance(values, dict):
        raise UnitError(
            "a policy file must be a mapping of keys",
            unit=unit,
            file=path,
            line=1,
            hint=f"write keys such as sync: auto; known keys: {', '.join(sorted(TOP_KEYS))}",
        )
    for key, value in values.items():
        if key not in TOP_KEYS:
            raise UnitError(
                f"unknown policy key {key!r}",
                unit=unit,
                file=path,
                line=lines.get(str(key)),
                field=str(key),
                hint=f"known keys: {', '.join(sorted(TOP_KEYS))}",
            )
        allowed = NESTED_KEYS.get(key)
        if allowed is not None and isinstance(value, dict):
            for inner in value:
                if inner not in allowed:
                    where = f"{key}.{inner}"
                    raise UnitError(
                        f"unknown policy key {where!r}",
                        unit=unit,
                        file=path,
                        line=lines.get(where),
                        field=where,
                        hint=f"known keys under {key}: {', '.join(sorted(allowed))}",
                    )
    return PolicyFile(path, values, lines)


def merge_policy(
    repo: PolicyFile, own: PolicyFile, *, unit: str, unit_path: str, files: RepoFiles
) -> tuple[Policy, Mapping[str, str], tuple[str, ...]]:
    """The unit's policy (its own file over the repo-wide one), the variables its
    env file defines, and the files read for it."""
    # Remember which file set each key, so a wrong type is reported where it is.
    merged: dict[str, Any] = {}
    origin: dict[str, PolicyFile] = {}
    for source in (repo, own):
        for key, value in source.values.items():
            if key in NESTED_KEYS or key == "vars":
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
                if isinstance(value, dict):
                    for inner in value:
                        origin[f"{key}.{inner}"] = source
            else:
                merged[key] = value
            origin[key] = source

    reader = _Reader(merged, origin, unit)
    autoscaling = None
    scaling = reader.mapping("autoscaling")
    if scaling is not None:
        low = reader.required_integer("autoscaling.min", scaling.get("min"))
        high = reader.required_integer("autoscaling.max", scaling.get("max"))
        if low < 0 or high < low:
            raise reader.error(
                "autoscaling.min", "autoscaling needs 0 <= min <= max", "fix min and max"
            )
        suspend = reader.boolean(
            "autoscaling.suspend_during_rollout", scaling.get("suspend_during_rollout", True)
        )
        autoscaling = AutoScaling(min=low, max=high, suspend_during_rollout=suspend)

    access = reader.mapping("aws") or {}
    variables = reader.variables()
    env_file = reader.string("env_file", merged.get("env_file"))
    env_vars: dict[str, str] = {}
    read: list[str] = [p.path for p in (repo, own) if p.path]
    if env_file is not None:
        env_path, env_vars = read_env_file(
            files, env_file, unit=unit, unit_path=unit_path, reader=reader
        )
        read.append(env_path)

    policy = Policy(
        sync=reader.choice("sync", Sync, Sync.AUTO),
        drift=reader.choice("drift", DriftPolicy, DriftPolicy.ALERT),
        wait=reader.choice("wait", WaitMode, WaitMode.STABLE),
        timeout=reader.duration("timeout"),
        wave=reader.integer("wave", merged.get("wave", 0)) or 0,
        depends_on=reader.names("depends_on"),
        autoscaling=autoscaling,
        on_failure=reader.choice("on_failure", OnFailure, OnFailure.REPORT),
        prune=reader.boolean("prune", merged.get("prune", False)),
        aws=AwsAccess(
            role_arn=reader.string("aws.role_arn", access.get("role_arn")),
            external_id=reader.string("aws.external_id", access.get("external_id")),
        ),
        vars=variables,
        env_file=env_file,
    )
    return policy, env_vars, tuple(read)


class _Reader:
    """Typed reads of merged policy values, with errors placed at their origin."""

    def __init__(self, merged: Mapping[str, Any], origin: Mapping[str, PolicyFile], unit: str):
        self._merged = merged
        self._origin = origin
        self._unit = unit

    def error(self, key: str, message: str, hint: str) -> UnitError:
        source = self._origin.get(key) or self._origin.get(key.split(".")[0])
        return UnitError(
            message,
            unit=self._unit,
            file=source.path if source else None,
            line=source.lines.get(key) if source else None,
            field=key,
            hint=hint,
        )

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        value = self._merged.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(
                key, f"{key} must be a mapping, not {_kind(value)}", "write it as keys"
            )
        return value

    def choice(self, key: str, kind: Any, default: Any) -> Any:
        value = self._merged.get(key)
        if value is None:
            return default
        allowed = [m.value for m in kind]
        if not isinstance(value, str) or value not in allowed:
            raise self.error(
                key,
                f"{key} must be one of {', '.join(allowed)}, not {value!r}",
                "pick one of those",
            )
        return kind(value)

    def required_integer(self, key: str, value: Any) -> int:
        number = self.integer(key, value)
        if number is None:
            raise self.error(key, f"{key} is required", f"set {key} to a whole number")
        return number

    def integer(self, key: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                key, f"{key} must be a whole number, not {_kind(value)}", "write a number"
            )
        return value

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(
                key, f"{key} must be true or false, not {value!r}", "write true or false"
            )
        return value

    def string(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(key, f"{key} must be a non-empty string, not {value!r}", "quote it")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._merged.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(
                key, f"{key} must be a list of unit ids", "write a list such as [api, db]"
            )
        return tuple(value)

    def duration(self, key: str) -> float | None:
        value = self._merged.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                pass
        raise self.error(
            key, f"{key} must be a duration such as 10m or 1h30m, not {value!r}", "fix it"
        )

    def variables(self) -> dict[str, str]:
        values = self.mapping("vars") or {}
        result: dict[str, str] = {}
        for name, value in values.items():
            key = f"vars.{name}"
            if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                raise self.error(key, f"variable name {name!r} is not valid", "use A-Z, 0-9 and _")
            if not isinstance(value, str):
                raise self.error(
                    key,
                    f"variable {name} must be a string, not {_kind(value)}",
                    f'quote it: {name}: "{value}"',
                )
            result[name] = value
        return result


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """A Go duration (``10m0s``, ``1h30m``, ``90s``) in seconds."""
    stripped = text.strip()
    if stripped == "0":
        return 0.0
    position = 0
    total = 0.0
    while position < len(stripped):
        match = _DURATION_PART.match(stripped, position)
        if match is None:
            raise ValueError(f"{text!r} is not a duration")
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        position = match.end()
    if position == 0:
        raise ValueError(f"{text!r} is not a duration")
    return total


def read_env_file(
    files: RepoFiles, env_file: str, *, unit: str, unit_path: str, reader: _Reader
) -> tuple[str, dict[str, str]]:
    """The KEY=VALUE lines of a unit's env file (a file in the unit's folder)."""
    try:
        path = confine_path(env_file, base=unit_path)
    except ValueError as exc:
        raise reader.error(
            "env_file", f"env_file {exc}", "name a file in the unit's folder"
        ) from exc
    if unit_path != "." and not path.startswith(unit_path + "/"):
        raise reader.error(
            "env_file", f"env_file {env_file!r} is outside the unit's folder", "move it there"
        )
    try:
        text = files.read_bytes(path).decode("utf-8")
    except FileNotFoundError as exc:
        raise reader.error(
            "env_file", f"env_file {path} does not exist", "commit it or remove env_file"
        ) from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not _ENV_NAME.fullmatch(name):
            raise UnitError(
                f"not a KEY=VALUE line: {raw.strip()!r}",
                unit=unit,
                file=path,
                line=number,
                hint="write one NAME=value per line (# starts a comment)",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return path, values
