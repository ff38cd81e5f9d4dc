"""``reconciler status``: what runs for each unit, what was applied, what ECS says.

Exit 0 when every unit could be read, 1 when any could not (the others are
still shown), 64 on a usage error.
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
from reconciler.cli.apply import is_git_repo
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.cli.output import Style
from reconciler.desired import render_units
from reconciler.errors import UsageError
from reconciler.source import RepoFiles, SourceError, open_repo_files
from reconciler.track import UnitStatus, read_status


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show what runs for each unit: revisions, deployments, scaling, events",
        description="Read each unit's service from ECS and show what runs and what was applied.",
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit ids (default: all)")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument("--events", type=int, default=5, metavar="N", help="last N events")
    parser.add_argument("--tasks", action="store_true", help="list each unit's tasks")
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.events < 0:
        raise UsageError("--events must not be negative")
    try:
        files = open_repo_files(args.repo, "HEAD" if is_git_repo(args.repo) else None)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    statuses, failed = asyncio.run(_read(files, args))
    if args.output == "json":
        document = {"units": [dataclasses.asdict(s) for s in statuses] + failed}
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_status(statuses, failed, Style.for_stream(sys.stdout), show_tasks=args.tasks)
    unreadable = failed or any(s.error for s in statuses)
    return EXIT_FAILED if unreadable else EXIT_OK


async def _read(
    files: RepoFiles, args: argparse.Namespace
) -> tuple[list[UnitStatus], list[dict[str, Any]]]:
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        rendered = await render_units(files, aws, args.units or None)
        units = [r.unit for r in rendered if r.ok and r.unit is not None]
        failed = [
            {"unit": r.id, "error": "; ".join(str(f) for f in r.findings) or "did not render"}
            for r in rendered
            if not r.ok or r.unit is None
        ]
        return await read_status(aws, units, events=args.events, tasks=args.tasks), failed
    finally:
        aws.close()


def print_status(
    statuses: list[UnitStatus], failed: list[dict[str, Any]], style: Style, *, show_tasks: bool
) -> None:
    for status in statuses:
        where = f"{status.cluster}/{status.service}" if status.service else "task definition"
        if status.error:
            print(f"{style.bold(status.unit)} ({where}): {style.red('unreadable')}: {status.error}")
            continue
        if not status.service:
            print(f"{style.bold(status.unit)}: task definition only")
            continue
        if not status.exists:
            print(f"{style.bold(status.unit)} ({where}): {style.yellow('no service')}")
            continue
        suspended = style.yellow(" SUSPENDED") if status.suspended else ""
        print(
            f"{style.bold(status.unit)} ({where}): {status.task_definition}, "
            f"{status.running_count}/{status.desired_count} running, "
            f"revision {(status.applied_revision or 'none')[:12]}{suspended}"
        )
        if status.owner:
            print(f"  owner: {status.owner}")
        if status.autoscaling:
            scaling = status.autoscaling
            state = " (suspended)" if scaling["suspended"] else ""
            print(f"  auto scaling: {scaling['min']}..{scaling['max']}{state}")
        for d in status.deployments:
            print(
                f"  deployment {d['id']} {d['status']} {d['rollout_state']}: "
                f"{d['task_definition']}, {d['running']}/{d['desired']} running, "
                f"{d['pending']} pending, {d['failed']} failed"
            )
        for event in status.events:
            print(f"  {event['at']}  {event['message']}")
        if show_tasks:
            for task in status.tasks:
                print(
                    f"  task {task['task']}: {task['status']}, health {task['health']}, "
                    f"{task['task_definition']}"
                )
    for unit in failed:
        print(f"{style.bold(unit['unit'])}: {style.red('error')}: {unit['error']}")
