"""Statuses as git notes: written, read, merged between writers, pushed when allowed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.model import CommitState, CommitStatus
from reconciler.report import StatusReporter
from reconciler.report.gitnotes import GitNotesStatuses
from tests.conftest import run_async
from tests.report.fakes import FakeClock
from tests.report.git_repos import GitDaemon, clone, git, make_origin


def status(revision: str, unit: str, state: CommitState, text: str = "Rolling out") -> CommitStatus:
    return CommitStatus(
        revision, f"ecs/{unit}", state, f"{text}: rolling, task definition {unit}:3"
    )


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, str]:
    """The reconciler's clone of a file:// origin, and its head commit."""
    origin = make_origin(tmp_path)
    repo = tmp_path / "watched.git"
    head = clone(f"file://{origin}", repo)
    return repo, head


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    served = tmp_path / "served"
    served.mkdir()
    server = GitDaemon(served)
    yield server
    server.close()


def notes_shown_by_git(repo: Path, revision: str, ref: str = "ecs-status") -> dict[str, object]:
    text = git("log", "-1", f"--notes={ref}", "--format=%N", revision, cwd=repo)
    document: dict[str, object] = json.loads(text)
    return document


def test_statuses_are_written_as_a_note_that_git_log_shows(watched: tuple[Path, str]) -> None:
    repo, head = watched
    notes = GitNotesStatuses(str(repo), remote=None)

    async def main() -> list[CommitStatus]:
        await notes.post(status(head, "api", CommitState.PENDING))
        await notes.post(status(head, "api", CommitState.SUCCESS, "Rolled out"))
        await notes.post(status(head, "web", CommitState.FAILURE, "Rolled back"))
        return await notes.statuses(head)

    found = run_async(main())

    assert {(s.context, s.state) for s in found} == {
        ("ecs/api", CommitState.SUCCESS),
        ("ecs/web", CommitState.FAILURE),
    }
    shown = notes_shown_by_git(repo, head)
    assert shown["ecs/api"] == {
        "state": "success",
        "description": "Rolled out: rolling, task definition api:3",
        "target_url": None,
        "updated_at": shown["ecs/api"]["updated_at"],  # type: ignore[index]
    }
    assert "Notes (ecs-status):" in git("log", "-1", "--notes=ecs-status", head, cwd=repo)


def test_a_restarted_reporter_does_not_repeat_a_noted_status(watched: tuple[Path, str]) -> None:
    repo, head = watched

    async def main() -> list[bool]:
        first = StatusReporter(GitNotesStatuses(str(repo), remote=None), clock=FakeClock())
        posted = [await first.report(status(head, "api", CommitState.PENDING))]
        second = StatusReporter(GitNotesStatuses(str(repo), remote=None), clock=FakeClock())
        posted.append(await second.report(status(head, "api", CommitState.PENDING)))
        posted.append(await second.report(status(head, "api", CommitState.SUCCESS)))
        return posted

    assert run_async(main()) == [True, False, True]
    notes_commits = git("rev-list", "refs/notes/ecs-status", cwd=repo).split()
    assert len(notes_commits) == 2


class RacedNotes(GitNotesStatuses):
    """A writer that another writer overtakes between reading the notes and swapping the ref."""

    def __init__(self, repo: str, rival: GitNotesStatuses, rival_status: CommitStatus) -> None:
        super().__init__(repo, remote=None)
        self.rival = rival
        self.rival_status = rival_status
        self.attempts = 0

    def _commit_document(self, repo, base, revision, document):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts == 1:
            self.rival._post(self.rival_status)
        return super()._commit_document(repo, base, revision, document)


def test_a_writer_overtaken_by_another_merges_rather_than_loses(watched: tuple[Path, str]) -> None:
    repo, head = watched
    rival = GitNotesStatuses(str(repo), remote=None)
    writer = RacedNotes(str(repo), rival, status(head, "web", CommitState.SUCCESS))

    run_async(writer.post(status(head, "api", CommitState.PENDING)))

    assert writer.attempts == 2  # its first swap found the ref moved
    assert set(notes_shown_by_git(repo, head)) == {"ecs/api", "ecs/web"}


def test_two_writers_at_once_keep_every_status(watched: tuple[Path, str]) -> None:
    repo, head = watched
    writers = [GitNotesStatuses(str(repo), remote=None) for _ in range(2)]

    async def main() -> None:
        await asyncio.gather(
            *(
                w.post(status(head, f"unit-{i}-{n}", CommitState.SUCCESS))
                for n in range(12)
                for i, w in enumerate(writers)
            )
        )

    run_async(main())

    assert len(notes_shown_by_git(repo, head)) == 24


def test_notes_are_pushed_to_a_remote_that_allows_it(
    watched: tuple[Path, str], tmp_path: Path
) -> None:
    repo, head = watched
    notes = GitNotesStatuses(str(repo))

    run_async(notes.post(status(head, "api", CommitState.SUCCESS)))

    origin = tmp_path / "origin.git"
    assert set(notes_shown_by_git(origin, head)) == {"ecs/api"}


def test_notes_stay_local_when_the_remote_refuses_and_that_is_logged_once(
    tmp_path: Path, daemon: GitDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    make_origin(daemon.base, refuse_pushes=True)
    repo = tmp_path / "watched.git"
    head = clone(daemon.url("origin.git"), repo)
    notes = GitNotesStatuses(str(repo))

    async def main() -> None:
        await notes.post(status(head, "api", CommitState.PENDING))
        await notes.post(status(head, "api", CommitState.SUCCESS))

    with caplog.at_level(logging.WARNING, logger="reconciler.report.gitnotes"):
        run_async(main())

    assert notes_shown_by_git(repo, head)["ecs/api"]["state"] == "success"  # type: ignore[index]
    assert git("for-each-ref", "refs/notes", cwd=daemon.base / "origin.git") == ""
    refusals = [r for r in caplog.records if "remote refused" in r.getMessage()]
    assert len(refusals) == 1


def test_notes_pushed_from_two_clones_are_merged_on_the_remote(
    tmp_path: Path, daemon: GitDaemon
) -> None:
    origin = make_origin(daemon.base)
    first, second = tmp_path / "one.git", tmp_path / "two.git"
    head = clone(daemon.url("origin.git"), first)
    clone(daemon.url("origin.git"), second)

    async def main() -> None:
        await GitNotesStatuses(str(first)).post(status(head, "api", CommitState.SUCCESS))
        await GitNotesStatuses(str(second)).post(status(head, "web", CommitState.PENDING))

    run_async(main())

    assert set(notes_shown_by_git(origin, head)) == {"ecs/api", "ecs/web"}
    merged = pygit2.Repository(str(second)).references["refs/notes/ecs-status"].peel(pygit2.Commit)
    assert len(merged.parents) == 2
