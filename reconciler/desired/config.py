"""A unit's ``ecspresso.yml`` (or ``.yaml``, ``.json``, ``.jsonnet``), read with
ecspresso's keys and semantics.

Templates run on the config too, with the variable functions only (``env``,
``must_env``): plugins are declared by the config, so they cannot serve it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.desired.documents import KeyLines
from reconciler.desired.functions import PLUGIN_NAMES, Variables
from reconciler.desired.policy import parse_duration
from reconciler.desired.problems import UnitError, warning
from reconciler.desired.reading import read_document
from reconciler.model import Finding, UnitConfig
from reconciler.source import RepoFiles, confine_path

COMPATIBLE_ECSPRESSO_VERSION = "2.4.0"
"""The ecspresso version whose config semantics we implement, for required_version."""

KNOWN_KEYS = frozenset(
    {
        "region",
        "cluster",
        "service",
        "service_definition",
        "task_definition",
        "timeout",
        "plugins",
        "appspec",
        "codedeploy",
        "ignore",
        "required_version",
    }
)
DEFAULT_CLUSTER = "default"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: UnitConfig
    file: str
    files: tuple[str, ...]
    warnings: tuple[Finding, ...]


async def load_config(
    files: RepoFiles, path: str, *, unit: str, unit_path: str, variables: Variables
) -> LoadedConfig:
    """The unit config at ``path``; a refused or malformed key is a UnitError."""
    functions = {"env": variables.env, "must_env": variables.must_env}
    natives = {
        "env": (("a", "b"), variables.env),
        "must_env": (("a",), variables.must_env),
    }
    values, read = await read_document(
        files,
        path,
        unit=unit,
        functions=functions,
        natives=natives,
        ext_vars=variables.committed,
        what="config",
    )
    lines: Mapping[str, int] = {}
    if not path.endswith(".jsonnet"):  # JSON is YAML too, for finding lines
        lines = KeyLines(files.read_bytes(path).decode("utf-8"))
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UnitError("the config must be a mapping of keys", unit=unit, file=path, line=1)

    def fail(key: str, message: str, hint: str | None = None) -> UnitError:
        return UnitError(message, unit=unit, file=path, line=lines.get(key), field=key, hint=hint)

    # Refused first: content of a repository never runs a command here.
    if "filter_command" in values:
        raise fail(
            "filter_command",
            "filter_command is refused: the reconciler never runs commands from a repository",
            "remove filter_command",
        )

    found: list[Finding] = []
    for key in values:
        if key not in KNOWN_KEYS:
            found.append(
                warning(
                    f"unknown config key {key!r} is ignored",
                    unit=unit,
                    file=path,
                    line=lines.get(str(key)),
                    field=str(key),
                    hint=f"known keys: {', '.join(sorted(KNOWN_KEYS))}",
                )
            )

    required = _optional_string(values, "required_version", fail)
    if required is not None:
        check_required_version(required, fail)

    region = _optional_string(values, "region", fail)
    if not region:
        region = variables.get("AWS_REGION") or variables.get("AWS_DEFAULT_REGION")
    if not region:
        raise fail(
            "region",
            "no region: the config has none and AWS_REGION / AWS_DEFAULT_REGION are not set",
            "set region: in the config",
        )

    timeout = None
    raw_timeout = values.get("timeout")
    if raw_timeout is not None:
        try:
            timeout = parse_duration(str(raw_timeout)) if isinstance(raw_timeout, str) else None
        except ValueError:
            timeout = None
        if timeout is None:
            raise fail(
                "timeout",
                f"timeout must be a Go duration such as 10m0s, not {raw_timeout!r}",
                'quote it: timeout: "10m0s"',
            )

    def definition_path(key: str) -> str | None:
        written = _optional_string(values, key, fail)
        if written is None:
            return None
        try:
            return confine_path(written, base=unit_path)
        except ValueError as exc:
            raise fail(key, f"{key}: {exc}", "use a path inside the repository") from exc

    task_definition = definition_path("task_definition")
    service_definition = definition_path("service_definition")
    service = _optional_string(values, "service", fail)
    if task_definition is None:
        raise fail("task_definition", "the config has no task_definition", "name its file")
    if service is not None and service_definition is None:
        raise fail(
            "service_definition",
            f"service {service!r} has no service_definition",
            "name the service definition file, or remove service for a task-only unit",
        )
    if service is None and service_definition is not None:
        raise fail("service", "service_definition is set but service is not", "name the service")

    config = UnitConfig(
        region=region,
        cluster=_optional_string(values, "cluster", fail) or DEFAULT_CLUSTER,
        service=service,
        service_definition=service_definition,
        task_definition=task_definition,
        timeout=timeout,
        appspec=_optional_mapping(values, "appspec", fail),
        codedeploy=_optional_mapping(values, "codedeploy", fail),
        ignore_tags=_ignore_tags(values, fail),
        required_version=required,
        plugins=_plugins(values, fail),
    )
    return LoadedConfig(config, path, tuple(read), tuple(found))


def _optional_string(values: Mapping[str, Any], key: str, fail: Any) -> str | None:
    value = values.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(key, f"{key} must be a string, not {value!r}", "quote it")
    return value or None


def _optional_mapping(values: Mapping[str, Any], key: str, fail: Any) -> dict[str, Any] | None:
    value = values.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(key, f"{key} must be a mapping", "write it as keys and values")
    return value


def _ignore_tags(values: Mapping[str, Any], fail: Any) -> tuple[str, ...]:
    ignore = values.get("ignore")
    if ignore is None:
        return ()
    if not isinstance(ignore, dict) or set(ignore) - {"tags"}:
        raise fail("ignore", "ignore takes one key, tags: a list of tag keys", "write ignore.tags")
    tags = ignore.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail("ignore.tags", "ignore.tags must be a list of tag keys", "list the tag keys")
    return tuple(tags)


def _plugins(values: Mapping[str, Any], fail: Any) -> tuple[dict[str, Any], ...]:
    plugins = values.get("plugins")
    if plugins is None:
        return ()
    if not isinstance(plugins, list):
        raise fail("plugins", "plugins must be a list", "write - name: tfstate ...")
    result: list[dict[str, Any]] = []
    for index, plugin in enumerate(plugins):
        key = f"plugins[{index}]"
        if not isinstance(plugin, dict) or not isinstance(plugin.get("name"), str):
            raise fail(key, "a plugin needs a name", "write - name: tfstate")
        name = plugin["name"]
        if name == "external":
            raise fail(
                f"{key}.name",
                "the external plugin is refused: the reconciler never runs commands "
                "from a repository",
                "look values up with ssm, secretsmanager, tfstate or cloudformation instead",
            )
        if name not in PLUGIN_NAMES:
            raise fail(
                f"{key}.name",
                f"unknown plugin {name!r}",
                f"use one of: {', '.join(sorted(PLUGIN_NAMES))}",
            )
        unknown = set(plugin) - {"name", "config", "func_prefix"}
        if unknown:
            raise fail(key, f"unknown plugin keys: {', '.join(sorted(unknown))}", "remove them")
        config = plugin.get("config")
        if config is not None and not isinstance(config, dict):
            raise fail(f"{key}.config", "a plugin's config must be a mapping", "write keys")
        prefix = plugin.get("func_prefix")
        if prefix is not None and not (isinstance(prefix, str) and re.fullmatch(r"\w*", prefix)):
            raise fail(f"{key}.func_prefix", "func_prefix must be letters, digits or _", "fix it")
        if name == "tfstate":
            config = config or {}
            if not config.get("path") and not config.get("url"):
                raise fail(f"{key}.config", "the tfstate plugin needs config.path or config.url")
        result.append(dict(plugin))
    return tuple(result)


# required_version: hashicorp/go-version constraints, as ecspresso checks them.

_CONSTRAINT = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*v?(\d+(?:\.\d+){0,2})\s*$")


def _version(text: str) -> tuple[int, int, int]:
    numbers = [int(n) for n in text.split(".")] + [0, 0]
    return numbers[0], numbers[1], numbers[2]


def version_satisfies(version: str, constraints: str) -> bool:
    """Whether ``version`` meets every comma-separated constraint; ValueError if
    a constraint cannot be read."""
    current = _version(version)
    for constraint in constraints.split(","):
        match = _CONSTRAINT.match(constraint)
        if match is None:
            raise ValueError(f"cannot read the version constraint {constraint.strip()!r}")
        operator, written = match[1] or "=", match[2]
        wanted = _version(written)
        if operator == "~>":
            # ~> 2.3 allows 2.x from 2.3; ~> 2.3.1 allows 2.3.x from 2.3.1.
            parts = written.count(".") + 1
            upper = (wanted[0] + 1, 0, 0) if parts <= 2 else (wanted[0], wanted[1] + 1, 0)
            ok = wanted <= current < upper
        else:
            ok = {
                "=": current == wanted,
                "!=": current != wanted,
                ">": current > wanted,
                ">=": current >= wanted,
                "<": current < wanted,
                "<=": current <= wanted,
            }[operator]
        if not ok:
            return False
    return True


def check_required_version(required: str, fail: Any) -> None:
    try:
        satisfied = version_satisfies(COMPATIBLE_ECSPRESSO_VERSION, required)
    except ValueError as exc:
        raise fail("required_version", str(exc), 'write a constraint such as ">= 2.0"') from exc
    if not satisfied:
        raise fail(
            "required_version",
            f"required_version {required!r} excludes the ecspresso version we are compatible "
            f"with ({COMPATIBLE_ECSPRESSO_VERSION})",
            f"relax required_version to include {COMPATIBLE_ECSPRESSO_VERSION}",
        )
