"""``reconciler history UNIT``: what ran for a unit, newest first.

Each ECS deployment of the unit's service, when it started and ended, the task
definition revision it ran and how it ended, with the commit it rolled out
(author, date, subject) and that commit's ``ecs/<unit>`` status from the git
notes; then the commits that changed the unit and were never deployed. How a
commit is tied to a deployment is said (see :mod:`reconciler.track.history`).

Exit codes: 0 shown, 1 when AWS or the repository cannot be read, 64 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from reconciler.aws import Aws
from reconciler.cli.committing import open_aws
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model import CommitStatus, DesiredUnit
from reconciler.report.gitnotes import NOTES_REF, GitNotesStatuses
from reconciler.source import GitFiles, SourceError
from reconciler.source.revert import UnitCommit, unit_commits
from reconciler.track.history import (
    HistoryEntry,
    UnitHistory,
    assemble_history,
    read_deployments,
    read_service_tags,
    short_task_definition,
    unit_statuses,
)

SHOWN = 12
"""Characters of a commit id shown."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="what ran for a unit: deployments, task definitions, results and commits",
        description="The revisions applied to a unit, newest first: when, with their task "
        "definition revisions and rollout results, from AWS, the commit statuses and git.",
    )
    parser.add_argument("unit", metavar="UNIT", help="the unit id")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.add_argument("--limit", type=int, default=20, help="deployments shown (default: 20)")
    parser.add_argument(
        "--notes-ref", default=NOTES_REF, help=f"where statuses are noted (default: {NOTES_REF})"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    aws = open_aws()
    try:
        history = asyncio.run(_read(args, aws))
    except UsageError:
        raise
    except ReconcilerError as exc:
        print(f"reconciler history: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        aws.close()
    if args.output == "json":
        json.dump(history_document(history), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_text(history)
    return EXIT_OK


async def _read(args: argparse.Namespace, aws: Aws) -> UnitHistory:
    unit = await _render(args.repo, args.unit, aws)
    commits = unit_commits(args.repo, unit.id, unit.files, limit=args.limit)
    notes = GitNotesStatuses(args.repo, notes_ref=args.notes_ref, remote=None)
    noted: list[CommitStatus] = []
    for commit in commits:
        noted.extend(await notes.statuses(commit.revision))
    if not unit.is_service:
        return assemble_history(unit.id, (), commits, unit_statuses(unit.id, noted), {})
    deployments = await read_deployments(aws, unit, limit=args.limit)
    tags = await read_service_tags(aws, unit)
    return assemble_history(unit.id, deployments, commits, unit_statuses(unit.id, noted), tags)


async def _render(repo: str, unit_id: str, aws: Aws) -> DesiredUnit:
    try:
        files = GitFiles(repo, "HEAD")
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    results = await render_units(files, aws, [unit_id])
    result = results[0] if results else None
    if result is None or result.unit is None:
        problems = "; ".join(str(f) for f in result.findings) if result else "not found"
        raise UsageError(f"unit {unit_id} cannot be read at HEAD: {problems}")
    return result.unit


def _commit_document(commit: UnitCommit | None) -> dict[str, Any] | None:
    if commit is None:
        return None
    return {
        "revision": commit.revision,
        "author": commit.author,
        "at": commit.at.isoformat(),
        "subject": commit.subject,
    }


def _status_document(status: CommitStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {"state": str(status.state), "description": status.description}


def _entry_document(entry: HistoryEntry) -> dict[str, Any]:
    deployment = entry.deployment
    return {
        "deployment": None
        if deployment is None
        else {
            "arn": deployment.arn,
            "status": deployment.status,
            "taskDefinition": deployment.task_definition,
            "createdAt": deployment.created_at.isoformat() if deployment.created_at else None,
            "finishedAt": deployment.finished_at.isoformat() if deployment.finished_at else None,
            "reason": deployment.reason,
            "registeredBy": deployment.registered_by,
        },
        "revision": entry.revision,
        "matchedBy": entry.matched_by,
        "commit": _commit_document(entry.commit),
        "status": _status_document(entry.status),
    }


def history_document(history: UnitHistory) -> dict[str, Any]:
    """The stable JSON shape of ``history --output json``."""
    return {
        "unit": history.unit,
        "deployments": [_entry_document(e) for e in history.deployments],
        "undeployed": [_entry_document(e) for e in history.undeployed],
    }


def _print_text(history: UnitHistory) -> None:
    if not history.deployments:
        print(f"{history.unit}: no deployments recorded by ECS")
    else:
        print(f"{history.unit}: deployments, newest first")
    for entry in history.deployments:
        deployment = entry.deployment
        assert deployment is not None
        when = deployment.created_at.strftime("%Y-%m-%d %H:%M:%S") if deployment.created_at else "?"
        task = short_task_definition(deployment.task_definition) or "?"
        print(f"  {when}  {deployment.status:<20} {task:<24} {_commit_line(entry)}")
        if deployment.reason:
            print(f"      {deployment.reason}")
    if history.undeployed:
        print("commits that changed it and match no deployment:")
        for entry in history.undeployed:
            print(f"  {_commit_line(entry)}")


def _commit_line(entry: HistoryEntry) -> str:
    if entry.revision is None:
        return "(revision unknown)"
    commit = entry.commit
    text = entry.revision[:SHOWN]
    if commit is not None:
        text += f" {commit.at:%Y-%m-%d} {commit.author.split(' <')[0]}: {commit.subject}"
    if entry.matched_by == "registered by":
        text += " (the commit that registered this task definition)"
    if entry.status is not None:
        text += f" [{entry.status.state}: {entry.status.description}]"
    return text
