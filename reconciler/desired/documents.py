"""Reading YAML and JSON documents with lines, and naming places in them.

Field paths are written the way a person reads a definition, and the way the
diff stage writes them: ``containerDefinitions[app].environment[DB_PASSWORD]``,
``containerDefinitions[app].logConfiguration.options[awslogs-group]``: a list
item is named by its natural key where it has one, by its index otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from reconciler.desired.problems import UnitError
from reconciler.fields import ITEM_KEYS, USER_KEYED_MAPS


def member_path(path: str, field: str | None, key: str) -> str:
    """The path of member ``key`` of the object at ``path`` (itself ``field``)."""
    if field in USER_KEYED_MAPS:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def item_paths(path: str, field: str | None, items: list[Any]) -> list[tuple[str, str | None]]:
    """For each item of the list at ``path`` (itself ``field``): its path, and the
    member it stands for when it is a name/value pair (``environment[DB].value``
    reads as ``environment[DB]``)."""
    spec = ITEM_KEYS.get(field or "")
    if spec is not None:
        key_fields, value_field = spec
        keys: list[str] = []
        for item in items:
            if not isinstance(item, dict) or any(f not in item for f in key_fields):
                break
            keys.append("/".join(str(item[f]) for f in key_fields))
        if len(keys) == len(items) and len(set(keys)) == len(keys):
            allowed = {*key_fields, value_field}
            pairs = value_field is not None and all(set(i) <= allowed for i in items)
            return [(f"{path}[{k}]", value_field if pairs else None) for k in keys]
    return [(f"{path}[{index}]", None) for index in range(len(items))]


def walk_leaves(value: Any, path: str = "", field: str | None = None) -> Iterator[tuple[str, Any]]:
    """Every scalar in ``value`` with its readable field path."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk_leaves(child, member_path(path, field, str(key)), str(key))
    elif isinstance(value, list):
        for child, (child_path, stands_for) in zip(
            value, item_paths(path, field, value), strict=True
        ):
            if stands_for is not None:
                yield child_path, child.get(stands_for)
            else:
                yield from walk_leaves(child, child_path)
    else:
        yield path, value


def dump_with_paths(value: Any) -> tuple[str, list[str]]:
    """``value`` as indented JSON, and for each line the field path it holds.

    Used for Jsonnet output: templates run on the JSON text (as ecspresso does),
    and an error on a line of that text is reported at its field path.
    """
    lines: list[str] = []
    paths: list[str] = []

    def emit(text: str, path: str) -> None:
        lines.append(text)
        paths.append(path)

    def dump(node: Any, path: str, field: str | None, indent: str, prefix: str, end: str) -> None:
        if isinstance(node, dict) and node:
            emit(f"{indent}{prefix}{{", path)
            items = list(node.items())
            for position, (key, child) in enumerate(items):
                comma = "," if position < len(items) - 1 else ""
                name = json.dumps(str(key), ensure_ascii=False)
                child_path = member_path(path, field, str(key))
                dump(child, child_path, str(key), indent + "  ", f"{name}: ", comma)
            emit(f"{indent}}}{end}", path)
        elif isinstance(node, list) and node:
            emit(f"{indent}{prefix}[", path)
            paths = item_paths(path, field, node)
            for index, child in enumerate(node):
                comma = "," if index < len(node) - 1 else ""
                dump(child, paths[index][0], None, indent + "  ", "", comma)
            emit(f"{indent}]{end}", path)
        else:
            emit(f"{indent}{prefix}{json.dumps(node, ensure_ascii=False)}{end}", path)

    dump(value, "", None, "", "", "")
    return "\n".join(lines) + "\n", paths


# libyaml's loader when PyYAML was built with it: the same documents, far faster.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KeyLines(Mapping[str, int]):
    """The lines of a YAML document's keys, found only when a finding asks for one:
    most documents are valid, and composing a node tree costs as much as parsing."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[str, int] | None = None

    def _found(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = yaml_key_lines(self._text)
        return self._lines

    def __getitem__(self, path: str) -> int:
        return self._found()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._found())

    def __len__(self) -> int:
        return len(self._found())


def yaml_key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every mapping key in a YAML document, by field path."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return lines

    def visit(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                lines[child] = key_node.start_mark.line + 1
                visit(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                lines[child] = item.start_mark.line + 1
                visit(item, child)

    if root is not None:
        visit(root, "")
    return lines


def parse_yaml(text: str, *, unit: str, file: str) -> Any:
    """A YAML document; a syntax error names the file and line."""
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UnitError(
            f"not valid YAML: {problem}",
            unit=unit,
            file=file,
            line=mark.line + 1 if mark is not None else None,
            hint="fix the YAML syntax (indentation, quoting, colons)",
        ) from exc


def parse_json(text: str, *, unit: str, file: str, line_paths: list[str] | None = None) -> Any:
    """A JSON document; a syntax error names the file and line (or, for JSON made
    from Jsonnet, the field path the line holds)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if line_paths is not None:
            index = min(exc.lineno - 1, len(line_paths) - 1)
            raise UnitError(
                f"the output is not valid JSON after templates ran: {exc.msg}",
                unit=unit,
                file=file,
                field=line_paths[index] or None,
                hint="a template value probably needs json_escape, or quotes around it",
            ) from exc
        raise UnitError(
            f"not valid JSON: {exc.msg} (column {exc.colno})",
            unit=unit,
            file=file,
            line=exc.lineno,
            hint="fix the JSON syntax (commas, quotes, brackets); "
            "a template value may need json_escape",
        ) from exc
