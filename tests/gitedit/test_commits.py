"""Commits on a working copy: clean or refused, by whom, and left as committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import ConfigLevel

from reconciler.source.commits import (
    AUTHOR_ENV,
    Identity,
    WorkingCopy,
    WorkingCopyError,
    commit_message,
)
from reconciler.source.edits import FileEdit
from tests.gitedit.repos import WEB, exit_code, head_text, make_repo

SCALE = ["scale", "web", "--tasks", "5"]


def modify_a_tracked_file(root: Path, repo: pygit2.Repository) -> None:
    (root / "web/ecs-task-def.json").write_text("{}\n")


def delete_a_tracked_file(root: Path, repo: pygit2.Repository) -> None:
    (root / "web/ecs-service-def.json").unlink()


def stage_a_new_file(root: Path, repo: pygit2.Repository) -> None:
    (root / "notes.md").write_text("x")
    repo.index.add("notes.md")
    repo.index.write()


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(modify_a_tracked_file, id="modified-tracked-file"),
        pytest.param(delete_a_tracked_file, id="deleted-tracked-file"),
        pytest.param(stage_a_new_file, id="staged-new-file"),
    ],
)
def test_a_dirty_working_copy_is_refused_and_left_as_it_was(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[Path, pygit2.Repository], None],
) -> None:
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target
    spoil(tmp_path, repo)
    status = repo.status()

    assert exit_code([*SCALE, "--repo", str(tmp_path)]) == 1

    assert repo.head.target == head
    assert repo.status() == status
    assert "has uncommitted changes" in capsys.readouterr().err


def test_untracked_files_elsewhere_do_not_stop_a_commit_and_are_not_in_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, WEB)
    (tmp_path / "scratch.txt").write_text("mine\n")

    assert exit_code([*SCALE, "--repo", str(tmp_path)]) == 0

    assert "scratch.txt" not in repo.head.peel(pygit2.Commit).tree
    assert (tmp_path / "scratch.txt").read_text() == "mine\n"


def test_an_untracked_file_the_commit_would_write_over_is_refused(tmp_path: Path) -> None:
    files = {k: v for k, v in WEB.items() if k != "web/reconciler.yml"}
    files["web/ecs-task-def.json"] = files["web/ecs-task-def.json"].replace(
        "{{ must_env `IMAGE_TAG` }}", "2.0.1"
    )
    repo = make_repo(tmp_path, files)
    (tmp_path / "web/reconciler.yml").write_text("# my draft\n")

    assert exit_code(["scale", "web", "--min", "1", "--max", "2", "--repo", str(tmp_path)]) == 1

    assert (tmp_path / "web/reconciler.yml").read_text() == "# my draft\n"
    assert len(list(repo.walk(repo.head.target))) == 1


def test_a_detached_head_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path, WEB)
    repo.set_head(repo.head.target)

    assert exit_code([*SCALE, "--repo", str(tmp_path)]) == 1

    assert "detached" in capsys.readouterr().err


def test_a_folder_that_is_no_working_copy_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code([*SCALE, "--repo", str(tmp_path)]) == 64

    assert "is not a git working copy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        pytest.param(None, None, "Dana Deployer <dana@example.com>", id="git-config"),
        pytest.param(None, "CI Bot <ci@example.com>", "CI Bot <ci@example.com>", id="env"),
        pytest.param(
            "Ops Person <ops@example.com>",
            "CI Bot <ci@example.com>",
            "Ops Person <ops@example.com>",
            id="flag-over-env",
        ),
    ],
)
def test_the_commit_is_authored_by_flag_then_env_then_git_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    env: str | None,
    expected: str,
) -> None:
    if env:
        monkeypatch.setenv(AUTHOR_ENV, env)
    repo = make_repo(tmp_path, WEB)

    argv = [*SCALE, "--repo", str(tmp_path), *(["--author", flag] if flag else [])]
    assert exit_code(argv) == 0

    commit = repo.head.peel(pygit2.Commit)
    assert f"{commit.author.name} <{commit.author.email}>" == expected
    assert f"{commit.committer.name} <{commit.committer.email}>" == expected


@pytest.fixture
def no_global_git_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """git's global and system config out of reach, as on a fresh CI runner."""
    empty = str(tmp_path_factory.mktemp("git-home"))
    levels = (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM)
    saved = {level: pygit2.settings.search_path[level] for level in levels}
    for level in levels:
        pygit2.settings.search_path[level] = empty
    yield
    for level, path in saved.items():
        pygit2.settings.search_path[level] = path


@pytest.mark.usefixtures("no_global_git_config")
def test_without_a_configured_author_the_reconciler_commits_as_itself(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, WEB)
    del repo.config["user.name"]
    del repo.config["user.email"]

    assert WorkingCopy(tmp_path).identity(env={}) == Identity(
        "ecs-gitops-reconciler", "reconciler@localhost"
    )


def test_an_author_that_is_not_name_and_email_is_refused(tmp_path: Path) -> None:
    make_repo(tmp_path, WEB)

    with pytest.raises(WorkingCopyError, match="RECONCILER_GIT_AUTHOR"):
        WorkingCopy(tmp_path).identity(env={AUTHOR_ENV: "just-a-name"})


def test_a_commit_can_add_and_remove_files_and_leaves_the_working_copy_clean(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path, WEB)
    copy = WorkingCopy(tmp_path)

    commit = copy.commit(
        [
            FileEdit("web/NOTES.md", b"scaled by hand\n"),
            FileEdit("web/ecs-service-def.json", None),
        ],
        commit_message("web: notes", "because", {"Unit": "web"}),
    )

    assert commit.branch == "main"
    assert commit.revision == str(repo.head.target)
    assert head_text(repo, "web/NOTES.md") == "scaled by hand\n"
    assert "web/ecs-service-def.json" not in repo.head.peel(pygit2.Commit).tree
    assert not (tmp_path / "web/ecs-service-def.json").exists()
    assert repo.status() == {}
    assert repo.head.peel(pygit2.Commit).message == "web: notes\n\nbecause\n\nUnit: web\n"


def test_an_edit_outside_the_repository_is_refused(tmp_path: Path) -> None:
    make_repo(tmp_path / "repo", WEB)

    with pytest.raises(ValueError, match="leaves the repository"):
        WorkingCopy(tmp_path / "repo").commit([FileEdit("../outside", b"x")], "nope\n")
