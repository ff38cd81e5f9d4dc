"""The repository as files: a folder, or a git revision read without a checkout."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pygit2
import pytest

from reconciler.source import (
    FolderFiles,
    GitFiles,
    RepoFiles,
    SourceError,
    confine_path,
    discover_units,
    open_repo_files,
)
from tests.render.repos import TASK, render, unit_files, write_repo

SIGNATURE = pygit2.Signature("Test", "test@example.com", 1_700_000_000, 0)


def commit(repo: pygit2.Repository, files: Mapping[str, str], message: str) -> str:
    """Write ``files`` to the working folder and commit everything there."""
    write_repo(Path(repo.workdir), files)
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    oid = repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)
    return str(oid)


LAYOUT = {
    **unit_files("api"),
    **unit_files("prod/frontend"),
    **unit_files("."),
    "prod/README.md": "not a unit",
    ".hidden/ecspresso.yml": "region: x",
    "node_modules/pkg/ecspresso.yml": "region: x",
    "jsonnet/ecspresso.jsonnet": "{}",
    "yaml/ecspresso.yaml": "region: x",
    "json/ecspresso.json": "{}",
}
EXPECTED_UNITS = [".", "api", "json", "jsonnet", "prod/frontend", "yaml"]


@pytest.fixture
def git_repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "repo"))


def test_units_are_every_folder_with_an_ecspresso_config_in_id_order(tmp_path: Path) -> None:
    files = write_repo(tmp_path, LAYOUT)

    assert discover_units(files) == EXPECTED_UNITS


def test_a_git_revision_discovers_the_same_units_as_the_folder(
    git_repo: pygit2.Repository,
) -> None:
    revision = commit(git_repo, LAYOUT, "units")

    files = GitFiles(git_repo.path, revision)

    assert discover_units(files) == EXPECTED_UNITS
    assert files.revision == revision


@pytest.mark.parametrize("kind", ["folder", "git"])
def test_both_sources_read_list_and_walk_alike(
    kind: str, tmp_path: Path, git_repo: pygit2.Repository
) -> None:
    revision = commit(git_repo, LAYOUT, "units")
    files: RepoFiles = (
        FolderFiles(git_repo.workdir) if kind == "folder" else GitFiles(git_repo.path, revision)
    )

    assert json.loads(files.read_bytes("api/ecs-task-def.json")) == TASK
    assert files.exists("prod/frontend/ecspresso.yml")
    assert not files.exists("prod")
    assert files.list_dir("prod") == ["README.md", "frontend"]
    walked = [folder for folder, _, _ in files.walk()]
    assert ".hidden" not in walked
    assert "node_modules" not in walked
    with pytest.raises(FileNotFoundError):
        files.read_bytes("api/missing.json")
    with pytest.raises(ValueError, match="leaves the repository"):
        files.read_bytes("../outside")


def test_the_git_tree_id_of_a_unit_changes_only_when_its_files_do(
    git_repo: pygit2.Repository,
) -> None:
    first = commit(git_repo, {**unit_files("api"), **unit_files("web")}, "two units")
    second = commit(git_repo, {"web/ecs-service-def.json": '{"desiredCount": 5}'}, "scale web")

    before, after = GitFiles(git_repo.path, first), GitFiles(git_repo.path, second)

    assert before.tree_id("api") == after.tree_id("api")
    assert before.tree_id("web") != after.tree_id("web")
    assert FolderFiles(git_repo.workdir).tree_id("api") is None


def test_a_revision_renders_without_a_checkout_and_later_commits_do_not_leak(
    git_repo: pygit2.Repository,
) -> None:
    old_task = {**TASK, "containerDefinitions": [{"name": "app", "image": "app:1"}]}
    new_task = {**TASK, "containerDefinitions": [{"name": "app", "image": "app:2"}]}
    first = commit(git_repo, unit_files("api", task=old_task), "app 1")
    second = commit(git_repo, unit_files("api", task=new_task), "app 2")
    # No working copy at all: everything must come from the object database.
    shutil.rmtree(Path(git_repo.workdir) / "api")

    old = render(open_repo_files(git_repo.workdir, first))["api"]
    new = render(open_repo_files(git_repo.workdir, "HEAD"))["api"]

    assert old.unit is not None
    assert new.unit is not None
    assert old.unit.task_definition is not None
    assert new.unit.task_definition is not None
    assert old.unit.task_definition["containerDefinitions"][0]["image"] == "app:1"
    assert new.unit.task_definition["containerDefinitions"][0]["image"] == "app:2"
    assert (old.unit.revision, new.unit.revision) == (first, second)


def test_an_unknown_revision_is_a_source_error_naming_it(git_repo: pygit2.Repository) -> None:
    commit(git_repo, unit_files("api"), "one")

    with pytest.raises(SourceError, match="no-such-branch"):
        GitFiles(git_repo.path, "no-such-branch")


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cr3t")
    files = write_repo(tmp_path / "repo", unit_files("api"))
    (tmp_path / "repo" / "api" / "link.json").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(ValueError, match="symbolic link"):
        files.read_bytes("api/link.json")


@pytest.mark.parametrize(
    ("path", "base", "expected"),
    [
        pytest.param("td.json", "api", "api/td.json", id="in-unit"),
        pytest.param("../shared/td.json", "prod/api", "prod/shared/td.json", id="sibling"),
        pytest.param("./a/../b.json", ".", "b.json", id="dots"),
    ],
)
def test_paths_inside_the_repository_are_resolved_from_their_folder(
    path: str, base: str, expected: str
) -> None:
    assert confine_path(path, base=base) == expected


@pytest.mark.parametrize(
    ("path", "base"),
    [
        pytest.param("../../etc/passwd", "api", id="climbs-out"),
        pytest.param("/etc/passwd", "api", id="absolute"),
        pytest.param("..", ".", id="parent-of-root"),
    ],
)
def test_paths_leaving_the_repository_are_refused(path: str, base: str) -> None:
    with pytest.raises(ValueError, match="repository"):
        confine_path(path, base=base)
