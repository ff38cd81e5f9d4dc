"""``reconciler apply``: plan, apply, track.

Exit 0 when every unit succeeded or was in sync, 1 otherwise, 2 for
``--dry-run`` with changes pending, 64 on a usage error. In a git repository
the committed revision is applied (HEAD unless ``--revision`` says), never the
working copy: what runs must be something a revert can bring back.

``RECONCILER_CLOCK=emulator`` makes the command take its time from the
embedded emulator at ``AWS_ENDPOINT_URL`` (tests and the demo): waiting for a
rollout then advances simulated time instead of the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from reconciler.apply import ApplyOptions
from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK, EXIT_PENDING
from reconciler.cli.output import Style
from reconciler.clock import Clock, EmulatorClock, SystemClock
from reconciler.errors import UsageError
from reconciler.loop.applying import (
    DEFAULT_CONCURRENCY,
    ApplyReport,
    Callbacks,
    apply_revision,
)
from reconciler.model import Outcome, OutcomeResult, WaitMode
from reconciler.report.logs import audit_lines_to
from reconciler.source import RepoFiles, SourceError, open_repo_files
from reconciler.track import Progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="plan, apply and track: make ECS equal to the repository",
        description=(
            "Render units, read live ECS, apply each unit's plan and track its rollout "
            "until ECS says it ended."
        ),
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit ids (default: all)")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument("--revision", help="apply this git revision of --repo (default: HEAD)")
    parser.add_argument(
        "--wait",
        choices=[str(m) for m in WaitMode],
        help="track rollouts until deployed, stable, or not at all (default: each unit's policy)",
    )
    parser.add_argument("--dry-run", action="store_true", help="stop after the plan")
    parser.add_argument(
        "--force", action="store_true", help="take over services another owner (or none) holds"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"units applied at once (default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def is_git_repo(path: str) -> bool:
    return os.path.exists(os.path.join(path, ".git"))


def open_applied_files(repo: str, revision: str | None) -> RepoFiles:
    """The committed tree in a git repository; the folder itself otherwise."""
    try:
        if revision is None and is_git_repo(repo):
            revision = "HEAD"
        return open_repo_files(repo, revision)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc


def owner_of(repo: str) -> str:
    """``gitops:owner``: the repository (its origin, else its path) and the branch."""
    location = os.path.abspath(repo)
    branch = "local"
    if is_git_repo(repo):
        import pygit2

        repository = pygit2.Repository(repo)
        if "origin" in [r.name for r in repository.remotes]:
            location = repository.remotes["origin"].url or location
        if not repository.head_is_unborn:
            branch = "HEAD" if repository.head_is_detached else repository.head.shorthand
    return f"{location}@{branch}"


def clock_from_environment() -> Clock:
    if os.environ.get("RECONCILER_CLOCK") == "emulator":
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise UsageError("RECONCILER_CLOCK=emulator needs AWS_ENDPOINT_URL (the emulator)")
        return EmulatorClock(endpoint)
    return SystemClock()


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    files = open_applied_files(args.repo, args.revision)
    options = ApplyOptions(
        owner=owner_of(args.repo),
        force=args.force,
        wait=WaitMode(args.wait) if args.wait else None,
    )
    view = ProgressView(sys.stdout, Style.for_stream(sys.stdout), live=args.output == "text")
    with audit_lines_to(sys.stderr):
        report = asyncio.run(_apply(files, args, options, view))
    view.finish()

    if args.output == "json":
        json.dump(report_document(report, dry_run=args.dry_run), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(report, Style.for_stream(sys.stdout))
    return exit_code(report, dry_run=args.dry_run)


def exit_code(report: ApplyReport, *, dry_run: bool) -> int:
    if any(o.result is OutcomeResult.FAILED for o in report.outcomes):
        return EXIT_FAILED
    if dry_run:
        return (
            EXIT_PENDING if any(o.result is OutcomeResult.PENDING for o in report.outcomes) else 0
        )
    return EXIT_OK if report.ok else EXIT_FAILED


async def _apply(
    files: RepoFiles, args: argparse.Namespace, options: ApplyOptions, view: ProgressView
) -> ApplyReport:
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        return await apply_revision(
            files,
            aws,
            clock_from_environment(),
            options,
            args.units or None,
            repo_path=args.repo if is_git_repo(args.repo) else None,
            concurrency=args.concurrency,
            dry_run=args.dry_run,
            callbacks=Callbacks(
                on_stage=view.stage, on_event=view.event, on_progress=view.progress
            ),
        )
    finally:
        aws.close()


@dataclass(slots=True)
class _Line:
    stage: str = "planning"
    running: int | None = None
    desired: int | None = None
    started: float = field(default_factory=time.monotonic)
    elapsed: float | None = None


class ProgressView:
    """A line per unit, redrawn in place on a terminal; plain lines otherwise."""

    def __init__(self, stream: TextIO, style: Style, *, live: bool) -> None:
        self._stream = stream
        self._style = style
        self._enabled = live
        self._redraw = live and stream.isatty()
        self._lines: dict[str, _Line] = {}
        self._drawn = 0

    def stage(self, unit: str, stage: str) -> None:
        line = self._lines.setdefault(unit, _Line())
        if line.stage == stage:
            return
        line.stage = stage
        self._show(unit, line)

    def progress(self, progress: Progress) -> None:
        line = self._lines.setdefault(progress.unit, _Line())
        changed = (line.running, line.desired) != (progress.running, progress.desired)
        line.running, line.desired, line.elapsed = (
            progress.running,
            progress.desired,
            progress.elapsed,
        )
        line.stage = f"rolling out ({progress.stage})"
        if changed or self._redraw:
            self._show(progress.unit, line)

    def event(self, unit: str, message: str) -> None:
        if not self._enabled:
            return
        if self._redraw:
            self._erase()
        self._stream.write(f"  {unit}: {message}\n")
        self._drawn = 0
        if self._redraw:
            self._show(unit, self._lines.setdefault(unit, _Line()))

    def finish(self) -> None:
        self._stream.flush()

    def _text(self, unit: str, line: _Line) -> str:
        elapsed = line.elapsed if line.elapsed is not None else time.monotonic() - line.started
        tasks = f", {line.running}/{line.desired} tasks" if line.desired is not None else ""
        return f"{self._style.bold(unit)}: {line.stage}{tasks}, {elapsed:.0f}s"

    def _show(self, unit: str, line: _Line) -> None:
        if not self._enabled:
            return
        if not self._redraw:
            self._stream.write(self._text(unit, line) + "\n")
            self._stream.flush()
            return
        self._erase()
        for name, each in self._lines.items():
            self._stream.write(self._text(name, each) + "\033[K\n")
        self._drawn = len(self._lines)
        self._stream.flush()

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write(f"\033[{self._drawn}F")
            self._stream.write("\033[J")
            self._drawn = 0


def outcome_document(outcome: Outcome) -> dict[str, Any]:
    return {
        "unit": outcome.unit,
        "result": str(outcome.result),
        "reason": outcome.reason,
        "message": outcome.message,
        "revision": outcome.revision,
        "cluster": outcome.cluster,
        "service": outcome.service,
        "task_definition": outcome.task_definition_arn,
        "deployment_id": outcome.deployment_id,
        "changed_paths": list(outcome.changed_paths),
        "steps": [str(s) for s in outcome.steps],
    }


def report_document(report: ApplyReport, *, dry_run: bool) -> dict[str, Any]:
    """The stable JSON shape of an apply, for scripts."""
    return {
        "revision": report.revision,
        "dry_run": dry_run,
        "ok": report.ok,
        "units": [outcome_document(o) for o in report.outcomes],
    }


def print_summary(report: ApplyReport, style: Style) -> None:
    colours = {
        OutcomeResult.IN_SYNC: style.green,
        OutcomeResult.SUCCEEDED: style.green,
        OutcomeResult.STARTED: style.green,
        OutcomeResult.PENDING: style.yellow,
        OutcomeResult.SKIPPED: style.yellow,
        OutcomeResult.REFUSED: style.red,
        OutcomeResult.FAILED: style.red,
    }
    revision = (report.revision or "working copy")[:12]
    print(f"apply at {revision}:")
    for outcome in report.outcomes:
        where = f" ({outcome.cluster}/{outcome.service})" if outcome.service else ""
        result = colours[outcome.result](str(outcome.result).replace("_", " "))
        reason = f" [{outcome.reason}]" if outcome.reason else ""
        print(f"  {style.bold(outcome.unit)}{where}: {result}{reason}: {outcome.message}")
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[str(outcome.result)] = counts.get(str(outcome.result), 0) + 1
    summary = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(counts.items()))
    print(f"{len(report.outcomes)} units: {summary}")
