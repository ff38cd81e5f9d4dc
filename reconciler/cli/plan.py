"""``reconciler plan``: what apply would change, and why (git or drift).

Exit 0 when every unit is in sync, 2 when something would change, 1 when any
unit could not be planned (the others are still planned), 64 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from typing import Any

from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK, EXIT_PENDING
from reconciler.cli.output import Style
from reconciler.diff import mask_changes
from reconciler.errors import UsageError
from reconciler.loop.planning import PlannedRevision, plan_revision
from reconciler.model import Plan, PlanStatus, UnitPlan
from reconciler.source import SourceError, open_repo_files


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what apply would change, and why (git or drift)",
        description="Render units, read live ECS, and show per unit what apply would change.",
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit ids (default: all)")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument("--revision", help="plan this git revision of --repo")
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.add_argument(
        "--show-values",
        action="store_true",
        help="print values that came from secret lookups or look secret",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = open_repo_files(args.repo, args.revision)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    planned = asyncio.run(_plan(files, args))
    plan = _masked(planned, show_values=args.show_values)
    if args.output == "json":
        json.dump(plan_document(plan), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_plan(plan, Style.for_stream(sys.stdout))
    if plan.failed:
        return EXIT_FAILED
    return EXIT_PENDING if plan.pending else EXIT_OK


async def _plan(files: Any, args: argparse.Namespace) -> PlannedRevision:
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        repo_path = args.repo if os.path.isdir(os.path.join(args.repo, ".git")) else None
        return await plan_revision(files, aws, args.units or None, repo_path=repo_path)
    finally:
        aws.close()


def _masked(planned: PlannedRevision, *, show_values: bool) -> Plan:
    units = []
    for unit_plan in planned.plan.units:
        result = planned.rendered.get(unit_plan.unit)
        secret_paths = result.unit.secret_paths if result and result.unit else frozenset()
        changes = mask_changes(unit_plan.changes, secret_paths, show_values=show_values)
        units.append(dataclasses.replace(unit_plan, changes=changes))
    return Plan(planned.plan.revision, tuple(units))


def cause_of(unit_plan: UnitPlan) -> str | None:
    return "+".join(sorted(unit_plan.causes)) or None


def plan_document(plan: Plan) -> dict[str, Any]:
    """The stable JSON shape of a plan, for scripts."""
    return {
        "revision": plan.revision,
        "units": [
            {
                "unit": u.unit,
                "cluster": u.cluster,
                "service": u.service,
                "status": str(u.status),
                "cause": cause_of(u),
                "steps": [str(s) for s in u.steps],
                "changes": [
                    {
                        "resource": str(c.resource),
                        "path": c.path,
                        "live": c.live,
                        "desired": c.desired,
                    }
                    for c in u.changes
                ],
                "error": None
                if u.error is None
                else {
                    "reason": u.error.code,
                    "message": u.error.message,
                    "file": u.error.file,
                    "line": u.error.line,
                    "field": u.error.field,
                },
            }
            for u in plan.units
        ],
    }


def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, default=str, sort_keys=True)


def print_plan(plan: Plan, style: Style) -> None:
    for u in plan.units:
        where = f" ({u.cluster}/{u.service})" if u.service else ""
        if u.status is PlanStatus.IN_SYNC:
            print(f"{style.bold(u.unit)}{where}: {style.green('in sync')}")
            continue
        if u.status is PlanStatus.ERROR:
            message = str(u.error) if u.error else "error"
            print(f"{style.bold(u.unit)}{where}: {style.red('error')}: {message}")
            continue
        headline = (
            "service missing, will be created"
            if u.status is PlanStatus.MISSING
            else (f"{len(u.changes)} change{'s' if len(u.changes) != 1 else ''}")
        )
        print(f"{style.bold(u.unit)}{where}: {style.yellow(headline)} [{cause_of(u)}]")
        if u.status is not PlanStatus.MISSING:
            for change in u.changes:
                print(
                    f"  ~ {change.resource} {change.path}: "
                    f"{style.red(_value(change.live))} -> {style.green(_value(change.desired))}"
                )
        print(f"  steps: {', '.join(str(s) for s in u.steps)}")
    counts = {status: sum(1 for u in plan.units if u.status is status) for status in PlanStatus}
    print(
        f"{len(plan.units)} units: {counts[PlanStatus.IN_SYNC]} in sync, "
        f"{counts[PlanStatus.CHANGED]} changed, {counts[PlanStatus.MISSING]} missing, "
        f"{counts[PlanStatus.ERROR]} error"
    )
