"""The revert the loop pushes for ``on_failure: revert``, through a git daemon on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.source.revert import RevertRefused, revert_failed_revision
from tests.report.git_repos import GitDaemon, git
from tests.rollback.repos import Units, bare_origin, remote_head, remote_text

REASON = "ECS deployment circuit breaker: tasks failed to start; rolled back to prod-web:1"


@pytest.fixture
def units(tmp_path: Path) -> Units:
    return Units(tmp_path / "work")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[GitDaemon]:
    daemon = GitDaemon(tmp_path)
    try:
        yield daemon
    finally:
        daemon.close()


def mirror_of(url: str, path: Path) -> Path:
    """A bare clone of ``url``, as the loop's mirror is."""
    git("clone", "-q", "--bare", url, str(path))
    return path


def commit_message_of(origin: Path, branch: str) -> str:
    repo = pygit2.Repository(str(origin))
    return str(repo.revparse_single(f"refs/heads/{branch}").peel(pygit2.Commit).message)


def test_a_failed_revision_is_reverted_and_pushed_to_the_watched_branch(
    units: Units, tmp_path: Path, served: GitDaemon
) -> None:
    bad = units.bump("web", "2.0.1", "broken-2.0.2")
    origin = bare_origin(tmp_path, units.root)
    mirror = mirror_of(served.url("origin.git"), tmp_path / "mirror.git")

    result = revert_failed_revision(mirror, "web", bad, REASON, push=True)

    assert result.pushed
    assert not result.on_own_branch
    assert result.branch == "main"
    assert remote_head(origin, "main") == result.revision
    assert 'IMAGE_TAG: "2.0.1"' in remote_text(origin, "main", "web/reconciler.yml")
    message = commit_message_of(origin, "main")
    assert bad in message
    assert REASON in message
    assert "pushed to main" in result.summary


def test_a_refused_push_puts_the_revert_on_a_branch_of_its_own_and_says_so(
    units: Units, tmp_path: Path, served: GitDaemon
) -> None:
    bad = units.bump("web", "2.0.1", "broken-2.0.2")
    origin = bare_origin(tmp_path, units.root, protect_main=True)
    mirror = mirror_of(served.url("origin.git"), tmp_path / "mirror.git")

    result = revert_failed_revision(mirror, "web", bad, REASON, push=True)

    branch = f"reconciler/revert-web-{bad[:12]}"
    assert result.on_own_branch
    assert result.branch == branch
    assert remote_head(origin, "main") == bad
    assert remote_head(origin, branch) == result.revision
    assert 'IMAGE_TAG: "2.0.1"' in remote_text(origin, branch, "web/reconciler.yml")
    assert result.refused is not None
    assert "refused" in result.summary
    assert branch in result.summary
    assert REASON in commit_message_of(origin, branch)


def test_only_the_failed_units_part_of_a_commit_is_reverted_by_the_reconciler(
    units: Units, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECONCILER_GIT_AUTHOR", raising=False)
    units.edit("web/reconciler.yml", '"2.0.1"', '"broken-2.0.2"')
    units.edit("api/reconciler.yml", '"1.4.2"', '"1.4.3"')
    bad = units.commit("web and api images")

    result = revert_failed_revision(units.root, "web", bad, REASON, push=False)

    assert result.revision == units.head
    assert 'IMAGE_TAG: "2.0.1"' in units.text("web/reconciler.yml")
    assert 'IMAGE_TAG: "1.4.3"' in units.text("api/reconciler.yml")
    assert units.repo.status() == {}
    # Not the person whose git config the clone has: the reconciler did it.
    assert units.repo.head.peel(pygit2.Commit).author.name == "ecs-gitops-reconciler"


def test_a_revert_that_conflicts_with_a_later_change_is_refused_naming_the_file(
    units: Units,
) -> None:
    bad = units.bump("web", "2.0.1", "2.0.2")
    units.bump("web", "2.0.2", "2.0.3")
    head = units.head

    with pytest.raises(RevertRefused, match=r"conflicts with later changes to web/reconciler\.yml"):
        revert_failed_revision(units.root, "web", bad, REASON, push=False)

    assert units.head == head


def test_a_revision_already_reverted_needs_no_commit(units: Units) -> None:
    bad = units.bump("web", "2.0.1", "2.0.2")
    units.bump("web", "2.0.2", "2.0.1")
    head = units.head

    result = revert_failed_revision(units.root, "web", bad, REASON, push=False)

    assert result.revision is None
    assert units.head == head
    assert "nothing to revert" in result.summary


def test_a_revision_that_did_not_touch_the_unit_is_not_reverted_and_says_why(
    units: Units,
) -> None:
    other = units.bump("api", "1.4.2", "1.4.3")

    result = revert_failed_revision(units.root, "web", other, REASON, push=False)

    assert result.revision is None
    assert f"{other[:12]} changed none of web's files" in result.summary
