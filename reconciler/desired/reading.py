"""Reading one templated document of a unit: JSON, YAML or Jsonnet.

As ecspresso does, Jsonnet is evaluated first and templates run on the JSON it
produces; JSON and YAML run templates on the file's text before parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.desired.documents import dump_with_paths, parse_json, parse_yaml
from reconciler.desired.jsonnet import NativeCallbacks, evaluate_jsonnet
from reconciler.desired.problems import UnitError
from reconciler.desired.template import FunctionFailed, TemplateError, TemplateFunction
from reconciler.desired.template import render_template as run_template
from reconciler.source import RepoFiles


async def apply_templates(
    text: str,
    functions: Mapping[str, TemplateFunction],
    *,
    unit: str,
    file: str,
    line_paths: list[str] | None = None,
) -> str:
    """``text`` with its template actions executed; errors name the file and line
    (or, for Jsonnet output, the field path)."""
    try:
        return await run_template(text, functions)
    except (TemplateError, FunctionFailed) as exc:
        line = exc.line if isinstance(exc, TemplateError) else None
        message = exc.message if isinstance(exc, TemplateError) else str(exc)
        hint = exc.hint if isinstance(exc, TemplateError) else None
        field = None
        if line_paths is not None and line is not None:
            field = line_paths[min(line, len(line_paths)) - 1] or None
            line = None
        raise UnitError(
            f"template: {message}", unit=unit, file=file, line=line, field=field, hint=hint
        ) from exc


async def read_document(
    files: RepoFiles,
    path: str,
    *,
    unit: str,
    functions: Mapping[str, TemplateFunction],
    natives: NativeCallbacks,
    ext_vars: Mapping[str, str],
    what: str,
) -> tuple[Any, list[str]]:
    """The parsed document at ``path`` after Jsonnet and templates, and the files
    read for it. ``what`` names the document in errors ("task definition")."""
    try:
        raw = files.read_bytes(path)
    except FileNotFoundError as exc:
        raise UnitError(
            f"the {what} file {path} does not exist",
            unit=unit,
            file=path,
            hint="commit the file, or fix the path in the config",
        ) from exc
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnitError(
            f"the {what} file is not UTF-8 text", unit=unit, file=path, hint="save it as UTF-8"
        ) from exc

    if path.endswith(".jsonnet") or path.endswith(".libsonnet"):
        output, read = await evaluate_jsonnet(
            files, path, unit=unit, ext_vars=ext_vars, natives=natives
        )
        # Re-dump the output ourselves, so each line maps to one field path.
        text, line_paths = dump_with_paths(parse_json(output, unit=unit, file=path))
        rendered = await apply_templates(
            text, functions, unit=unit, file=path, line_paths=line_paths
        )
        return parse_json(rendered, unit=unit, file=path, line_paths=line_paths), read

    text = raw.decode("utf-8")
    rendered = await apply_templates(text, functions, unit=unit, file=path)
    if path.endswith((".yml", ".yaml")):
        return parse_yaml(rendered, unit=unit, file=path), [path]
    return parse_json(rendered, unit=unit, file=path), [path]
