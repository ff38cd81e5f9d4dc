"""``reconciler render``: the rendered definitions of units, as JSON.

Prints one object per unit (``unit``, ``path``, ``revision``, ``config``,
``policy``, ``taskDefinition``, ``service``, ``warnings``), findings on
stderr. Values that came from a secret lookup are masked unless
``--show-secrets`` is given. Exits 1 if any unit failed to render.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import enum
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.desired.documents import item_paths, member_path
from reconciler.diff import MASK
from reconciler.errors import UsageError
from reconciler.model import RenderResult, Severity
from reconciler.source import SourceError, open_repo_files


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print units rendered from the repository, touching nothing",
        description="Render units (ecspresso config, definitions, templates, lookups) "
        "and print them as JSON.",
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit ids (default: all)")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument(
        "--revision", help="read this git revision of --repo, without checking it out"
    )
    parser.add_argument("--output", choices=["json"], default="json", help="output format")
    parser.add_argument(
        "--show-secrets", action="store_true", help="print values from secret lookups"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = open_repo_files(args.repo, args.revision)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    results = asyncio.run(_render(files, args.units))
    document = [unit_document(r, show_secrets=args.show_secrets) for r in results]
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    for result in results:
        for finding in result.findings:
            print(finding, file=sys.stderr)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def _render(files: Any, units: list[str]) -> list[RenderResult]:
    # Credentials and endpoint come from the environment (AWS_ENDPOINT_URL for
    # the emulator); lookups are only made when a template asks for one.
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        return await render_units(files, aws, units or None)
    finally:
        aws.close()


def unit_document(result: RenderResult, *, show_secrets: bool = False) -> dict[str, Any]:
    """The stable JSON shape of one rendered unit."""
    unit = result.unit
    warnings = [dataclasses.asdict(f) for f in result.findings if f.severity is Severity.WARNING]
    errors = [dataclasses.asdict(f) for f in result.findings if f.severity is Severity.ERROR]
    document: dict[str, Any] = {
        "unit": result.id,
        "path": result.path,
        "ok": result.ok,
        "revision": unit.revision if unit else None,
        "config": _plain(unit.config) if unit else None,
        "policy": _plain(unit.policy) if unit else None,
        "taskDefinition": None,
        "service": None,
        "warnings": warnings,
        "errors": errors,
    }
    if unit is not None:
        secrets = set() if show_secrets else set(unit.secret_paths)
        document["taskDefinition"] = _masked(unit.task_definition, secrets)
        document["service"] = _masked(unit.service, secrets)
        document["secretPaths"] = sorted(unit.secret_paths)
        document["unpinnedVars"] = sorted(unit.unpinned_vars)
    return document


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    return value


def _masked(value: Any, secrets: set[str], path: str = "", field: str | None = None) -> Any:
    """``value`` with the fields at ``secrets`` paths replaced by a mask."""
    if not secrets:
        return value
    if path in secrets:
        return MASK
    if isinstance(value, dict):
        return {
            key: _masked(item, secrets, member_path(path, field, str(key)), str(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        masked = []
        for item, (item_path, stands_for) in zip(
            value, item_paths(path, field, value), strict=True
        ):
            if stands_for is not None and item_path in secrets:
                masked.append({**item, stands_for: MASK})
            else:
                masked.append(_masked(item, secrets, item_path))
        return masked
    return value
