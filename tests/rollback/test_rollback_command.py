"""``reconciler rollback``: a commit that reverts a unit's last change, and only it."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

from tests.gitedit.repos import exit_code
from tests.rollback.repos import Units, bare_origin, remote_head, remote_text


@pytest.fixture
def units(tmp_path: Path) -> Units:
    return Units(tmp_path / "work")


def test_rollback_reverts_the_units_last_change_and_keeps_other_units_changes(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    units.edit("web/reconciler.yml", '"2.0.1"', '"2.0.2"')
    units.edit("api/reconciler.yml", '"1.4.2"', '"1.4.3"')
    both = units.commit("web 2.0.2 and api 1.4.3")

    code = exit_code(["rollback", "web", "--repo", str(units.root), "-m", "2.0.2 leaks memory"])

    assert code == 0
    assert 'IMAGE_TAG: "2.0.1"  # bumped by CI' in units.text("web/reconciler.yml")
    assert 'IMAGE_TAG: "1.4.3"' in units.text("api/reconciler.yml")
    message = units.message()
    assert message.startswith('Roll back web: revert "web 2.0.2 and api 1.4.3"')
    assert "2.0.2 leaks memory" in message
    assert f"Reverts: {both}" in message
    # The working copy follows the commit: nothing left to commit.
    assert units.repo.status() == {}
    assert both[:12] in capsys.readouterr().out


def test_rollback_skips_commits_that_touched_only_other_units(units: Units) -> None:
    web_change = units.bump("web", "2.0.1", "2.0.2")
    units.bump("api", "1.4.2", "1.4.3")

    assert exit_code(["rollback", "web", "--repo", str(units.root)]) == 0

    assert f"Reverts: {web_change}" in units.message()
    assert 'IMAGE_TAG: "2.0.1"' in units.text("web/reconciler.yml")
    assert 'IMAGE_TAG: "1.4.3"' in units.text("api/reconciler.yml")


def test_rollback_to_a_revision_restores_the_units_files_as_they_were(units: Units) -> None:
    first = units.head
    units.bump("web", "2.0.1", "2.0.2")
    units.edit("web/ecs-service-def.json", '"desiredCount": 3', '"desiredCount": 5')
    units.commit("web: five tasks")

    code = exit_code(["rollback", "web", "--to", first, "--repo", str(units.root)])

    assert code == 0
    assert units.text("web/reconciler.yml") == (units.root / "web/reconciler.yml").read_text()
    assert '"desiredCount": 3' in units.text("web/ecs-service-def.json")
    assert 'IMAGE_TAG: "2.0.1"' in units.text("web/reconciler.yml")
    assert f"Restores: {first}" in units.message()


def test_a_dirty_working_copy_is_refused_and_nothing_is_committed(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    units.bump("web", "2.0.1", "2.0.2")
    head = units.head
    (units.root / "api/reconciler.yml").write_text("vars:\n  IMAGE_TAG: half-done\n")

    code = exit_code(["rollback", "web", "--repo", str(units.root)])

    assert code == 1
    assert units.head == head
    err = capsys.readouterr().err
    assert "refused" in err
    assert "uncommitted changes (api/reconciler.yml)" in err


def test_a_unit_no_commit_changed_is_refused(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exit_code(["rollback", "nope", "--repo", str(units.root)])

    assert code == 1
    assert "no commit" in capsys.readouterr().err


def test_rollback_on_a_branch_leaves_the_checkout_and_pushes_the_branch(
    units: Units, tmp_path: Path
) -> None:
    origin = bare_origin(tmp_path, units.root)
    units.repo.remotes.create("origin", str(origin))
    bad = units.bump("web", "2.0.1", "2.0.2")

    code = exit_code(
        [
            "rollback",
            "web",
            "--repo",
            str(units.root),
            "--branch",
            "rollback-web",
            "--output",
            "json",
        ]
    )

    assert code == 0
    assert units.head == bad
    assert 'IMAGE_TAG: "2.0.2"' in (units.root / "web/reconciler.yml").read_text()
    pushed = remote_head(origin, "rollback-web")
    assert pushed is not None
    assert units.repo[pushed].peel(pygit2.Commit).parents[0].id == units.repo.head.target
    assert 'IMAGE_TAG: "2.0.1"' in remote_text(origin, "rollback-web", "web/reconciler.yml")


def test_rollback_with_push_moves_the_remote_branch(units: Units, tmp_path: Path) -> None:
    origin = bare_origin(tmp_path, units.root)
    units.repo.remotes.create("origin", str(origin))
    units.bump("web", "2.0.1", "2.0.2")

    code = exit_code(["rollback", "web", "--repo", str(units.root), "--push"])

    assert code == 0
    assert remote_head(origin, "main") == units.head
    assert 'IMAGE_TAG: "2.0.1"' in remote_text(origin, "main", "web/reconciler.yml")


def test_the_json_output_names_the_reverted_commit_and_the_new_one(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = units.bump("web", "2.0.1", "2.0.2")

    assert exit_code(["rollback", "web", "--repo", str(units.root), "--output", "json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["reverts"] == bad
    assert document["commit"] == units.head
    assert document["branch"] == "main"
    assert document["paths"] == ["web/reconciler.yml"]


def test_a_file_the_unit_reads_outside_its_folder_is_rolled_back_and_said_shared(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    (units.root / "reconciler.yml").write_text("wait: stable\n")
    units.commit("repo-wide policy")
    units.edit("reconciler.yml", "wait: stable", "wait: deployed")
    changed = units.commit("do not wait for stability")

    assert exit_code(["rollback", "web", "--repo", str(units.root)]) == 0

    assert units.text("reconciler.yml") == "wait: stable\n"
    assert f"Reverts: {changed}" in units.message()
    assert "other units may read them too" in capsys.readouterr().err


def test_a_rollback_that_would_delete_the_unit_is_refused(
    units: Units, capsys: pytest.CaptureFixture[str]
) -> None:
    head = units.head

    code = exit_code(["rollback", "web", "--repo", str(units.root)])

    assert code == 1
    assert units.head == head
    assert "would remove unit web altogether" in capsys.readouterr().err
