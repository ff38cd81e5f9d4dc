"""``reconciler lint``: render units, then check them as AWS and experience would.

Prints findings grouped by unit (``file:line: severity: message (at field);
hint [code]``) and a one-line summary, or a JSON report with ``--output json``.
Exits 1 on any error (a unit that did not render, or would be refused), 0
otherwise; ``--strict`` fails on warnings too; 64 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from typing import Any

from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.desired.lint import format_report, lint_units, report_to_json
from reconciler.errors import UsageError
from reconciler.model import RenderResult
from reconciler.source import RepoFiles, SourceError, open_repo_files


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check units before they reach AWS, touching nothing",
        description="Render units and check them against the ECS API model, the rules "
        "ECS enforces later, and the practices of running services at scale. Two units "
        "claiming one service are found among the units linted together.",
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit ids (default: all)")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument(
        "--revision", help="read this git revision of --repo, without checking it out"
    )
    parser.add_argument("--strict", action="store_true", help="fail on warnings as well as errors")
    parser.add_argument("--output", choices=["text", "json"], default="text", help="output format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = open_repo_files(args.repo, args.revision)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    results = asyncio.run(_render(files, args.units))

    report = lint_units(results)
    if args.output == "json":
        print(report_to_json(report))
    else:
        print(format_report(report))
    return EXIT_FAILED if report.failed(strict=args.strict) else EXIT_OK


async def _render(files: RepoFiles, units: Sequence[str]) -> list[RenderResult]:
    # Credentials and endpoint come from the environment (AWS_ENDPOINT_URL for
    # the emulator); lookups are made only when a template asks for one.
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        return await render_units(files, aws, list(units) or None)
    finally:
        aws.close()
