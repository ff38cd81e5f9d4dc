"""``reconciler rollback UNIT``: commit a revert of a unit's last change.

The safest rollback under pressure leaves git telling the truth: the commit
undoes what the last commit did to the unit's files (its folder and the files
it reads), and only to them, so the reconciler deploys what ran before, the
very task definition revision that ran it. ``--to REV`` restores the unit's
files as they were at REV instead.

The commit goes on the checked-out branch (``--push`` pushes it), or on a new
branch made from HEAD for a pull request (``--branch NAME``, pushed when the
repository has a remote), leaving the checkout as it is. A dirty working copy,
and a revert that conflicts with later changes to the unit, are refused.

Exit codes: 0 committed (or nothing to roll back), 1 refused or the push
failed, 64 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from reconciler.cli.committing import open_aws
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.errors import UsageError
from reconciler.source import GitFiles
from reconciler.source.commits import Commit, WorkingCopy, WorkingCopyError
from reconciler.source.revert import (
    PushResult,
    RevertRefused,
    UnitRevert,
    commit_on_branch,
    has_remote,
    in_scope,
    plan_restore,
    plan_revert,
    push_branch,
    revert_message,
    unit_scope,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="commit a revert of a unit's last change (or its files as at --to REV)",
        description="Revert the last commit that changed a unit's files, limited to those "
        "files, and commit it; the reconciler then deploys what ran before.",
    )
    parser.add_argument("unit", metavar="UNIT", help="the unit id")
    parser.add_argument("--to", metavar="REV", help="restore the unit's files as at REV")
    parser.add_argument("--repo", default=".", help="working copy folder (default: .)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--push", action="store_true", help="push the branch to its remote")
    where.add_argument(
        "--branch", metavar="NAME", help="commit on a new branch from HEAD (for a pull request)"
    )
    parser.add_argument("--message", "-m", help="why: the body of the commit message")
    parser.add_argument(
        "--author",
        help="'Name <email>' (default: $RECONCILER_GIT_AUTHOR, then git's user.name/email)",
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


@dataclass(frozen=True, slots=True)
class RollbackOutcome:
    revert: UnitRevert
    commit: Commit | None
    push: PushResult | None
    shared: tuple[str, ...]
    notes: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "unit": self.revert.unit,
            "reverts": self.revert.undone,
            "restores": self.revert.restored,
            "subject": self.revert.undone_subject,
            "paths": list(self.revert.paths),
            "commit": self.commit.revision if self.commit else None,
            "branch": self.commit.branch if self.commit else None,
            "pushed": self.push.accepted if self.push else False,
            "pushRefused": self.push.refused if self.push else None,
            "sharedPaths": list(self.shared),
        }


def run(args: argparse.Namespace) -> int:
    try:
        copy = WorkingCopy(args.repo)
    except WorkingCopyError as exc:
        raise UsageError(str(exc)) from exc
    try:
        copy.require_clean()
        identity = copy.identity(args.author)
        outcome = _roll_back(copy, args, identity)
    except (RevertRefused, WorkingCopyError) as exc:
        print(f"reconciler rollback: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print(outcome, args.output)
    if outcome.push is not None and not outcome.push.accepted:
        return EXIT_FAILED
    return EXIT_OK


def _roll_back(copy: WorkingCopy, args: argparse.Namespace, identity: Any) -> RollbackOutcome:
    files, notes = _unit_files(copy, args.unit)
    scope = unit_scope(args.unit, files)
    head = copy.head_revision
    if args.to:
        revert = plan_restore(copy.repo, args.unit, scope, head=head, revision=args.to)
    else:
        revert = plan_revert(copy.repo, args.unit, scope, head=head)
    # Files outside the unit's folder (the repo-wide policy) are read by others too.
    shared = tuple(p for p in revert.paths if not in_scope(p, (args.unit,)))
    if not revert.edits:
        return RollbackOutcome(revert, None, None, shared, notes)

    message = revert_message(revert, args.message)
    push = None
    if args.branch:
        commit = commit_on_branch(copy.repo, head, revert.edits, message, identity, args.branch)
        if has_remote(copy.repo):
            push = push_branch(copy.repo, args.branch)
    else:
        commit = copy.commit(list(revert.edits), message, identity)
        if args.push:
            push = push_branch(copy.repo, commit.branch)
    return RollbackOutcome(revert, commit, push, shared, notes)


def _unit_files(copy: WorkingCopy, unit_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files the unit reads, rendered at HEAD; its folder alone when it does
    not render there (a broken commit is what one rolls back)."""
    aws = open_aws()
    try:
        results = asyncio.run(render_units(GitFiles(copy.root, "HEAD"), aws, [unit_id]))
    except Exception as exc:  # rendering is only how the files are found
        return (), (f"unit {unit_id} could not be rendered at HEAD ({exc}); its folder only",)
    finally:
        aws.close()
    result = results[0] if results else None
    if result is None or not result.ok or result.unit is None:
        return (), (f"unit {unit_id} does not render at HEAD; rolling back its folder only",)
    return result.unit.files, ()


def _print(outcome: RollbackOutcome, output: str) -> None:
    if output == "json":
        json.dump(outcome.document(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    revert = outcome.revert
    if revert.undone is not None:
        what = f'reverting {revert.undone[:12]} "{revert.undone_subject}"'
    else:
        assert revert.restored is not None
        what = f"restoring its files as at {revert.restored[:12]}"
    if outcome.commit is None:
        print(f"nothing to commit: {revert.unit}'s files are already as {what} makes them")
    else:
        print(
            f"committed {outcome.commit.revision[:12]} on {outcome.commit.branch}: rolled back "
            f"{revert.unit}, {what} ({', '.join(revert.paths)})"
        )
    if outcome.push is not None:
        if outcome.push.accepted:
            print(f"pushed {outcome.push.remote_branch}")
        else:
            print(
                f"the remote refused {outcome.push.remote_branch}: {outcome.push.refused}; "
                "the commit is kept locally",
                file=sys.stderr,
            )
    if outcome.shared:
        print(
            f"  note: {', '.join(outcome.shared)} lie outside {revert.unit}'s folder; "
            "other units may read them too",
            file=sys.stderr,
        )
    for note in outcome.notes:
        print(f"  note: {note}", file=sys.stderr)
