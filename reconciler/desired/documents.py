"""Reading YAML and JSON documents with lines, and naming places in them.

Field paths are written the way a person reads a definition:
``containerDefinitions[app].environment[DB_PASSWORD].value``: a list item is
named by its ``name`` (or ``key``) where it has one, by its index otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from reconciler.desired.problems import UnitError


def item_label(item: Any, index: int) -> str:
    """How a list item is named in a field path."""
    if isinstance(item, dict):
        for key in ("name", "key"):
            label = item.get(key)
            if isinstance(label, str) and label:
                return label
    return str(index)


def join_path(path: str, key: str | int, item: Any = None) -> str:
    if isinstance(key, int):
        return f"{path}[{item_label(item, key)}]"
    return f"{path}.{key}" if path else key


def walk_leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in ``value`` with its readable field path."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk_leaves(child, join_path(path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk_leaves(child, join_path(path, index, child))
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

    def dump(node: Any, path: str, indent: str, prefix: str, suffix: str) -> None:
        if isinstance(node, dict) and node:
            emit(f"{indent}{prefix}{{", path)
            items = list(node.items())
            for position, (key, child) in enumerate(items):
                comma = "," if position < len(items) - 1 else ""
                name = json.dumps(str(key), ensure_ascii=False)
                dump(child, join_path(path, str(key)), indent + "  ", f"{name}: ", comma)
            emit(f"{indent}}}{suffix}", path)
        elif isinstance(node, list) and node:
            emit(f"{indent}{prefix}[", path)
            for index, child in enumerate(node):
                comma = "," if index < len(node) - 1 else ""
                dump(child, join_path(path, index, child), indent + "  ", "", comma)
            emit(f"{indent}]{suffix}", path)
        else:
            emit(f"{indent}{prefix}{json.dumps(node, ensure_ascii=False)}{suffix}", path)

    dump(value, "", "", "", "")
    return "\n".join(lines) + "\n", paths


def yaml_key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every mapping key in a YAML document, by field path."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def visit(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = join_path(path, str(key_node.value))
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
        return yaml.safe_load(text)
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
