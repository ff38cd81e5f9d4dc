"""``reconciler history``: what ran for a unit, newest first, from AWS, statuses and git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.model import CommitState, OutcomeResult
from reconciler.report.gitnotes import GitNotesStatuses
from reconciler.report.statuses import rollout_status
from reconciler.source.revert import revert_failed_revision
from tests.apply.sample import GitRepo, apply, by_unit, seed_sample
from tests.conftest import EmulatorHandle, run_async
from tests.gitedit.repos import exit_code


@pytest.fixture
def applied(
    emulator: EmulatorHandle, aws: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> GitRepo:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    seed_sample(emulator)
    repo = GitRepo.sample(tmp_path / "repo")
    assert apply(emulator, aws, repo).ok  # type: ignore[arg-type]
    return repo


def bump_image(repo: GitRepo, unit: str, old: str, new: str) -> str:
    repo.replace(f"{unit}/reconciler.yml", f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"')
    return repo.commit(f"{unit}: image {new}")


def history(repo: GitRepo, unit: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    code = exit_code(["history", unit, "--repo", str(repo.root), "--output", "json"])
    assert code == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_history_lists_each_deployment_newest_first_with_the_commit_it_rolled_out(
    emulator: EmulatorHandle,
    aws: object,
    applied: GitRepo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = str(applied.repo.head.target)
    bumped = bump_image(applied, "api", "1.4.2", "1.4.3")
    assert apply(emulator, aws, applied).ok  # type: ignore[arg-type]
    assert exit_code(["rollback", "api", "--repo", str(applied.root)]) == 0
    rolled_back = str(applied.repo.head.target)
    assert apply(emulator, aws, applied).ok  # type: ignore[arg-type]

    document = history(applied, "api", capsys)

    runs = document["deployments"]
    assert isinstance(runs, list)
    shown = [(r["revision"], r["deployment"]["taskDefinition"].rsplit("/", 1)[-1]) for r in runs]
    assert shown == [
        (rolled_back, "prod-api:1"),
        (bumped, "prod-api:2"),
        (first, "prod-api:1"),
    ]
    assert {r["deployment"]["status"] for r in runs} == {"SUCCESSFUL"}
    assert runs[0]["commit"]["subject"] == 'Roll back api: revert "api: image 1.4.3"'
    assert runs[0]["matchedBy"] == "service tags"


def test_history_shows_a_failed_rollout_with_its_status_and_the_revert_that_deployed_nothing(
    emulator: EmulatorHandle,
    aws: object,
    applied: GitRepo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = str(applied.repo.head.target)
    notes = GitNotesStatuses(str(applied.root), remote=None)
    good = rollout_status(
        first, "batch", CommitState.SUCCESS, "Rolled out", task_definition="prod-batch-worker:1"
    )
    run_async(notes.post(good))
    bad = bump_image(applied, "batch", "0.9.7", "broken-0.9.8")
    failed = by_unit(apply(emulator, aws, applied))["batch"]  # type: ignore[arg-type]
    assert failed.result is OutcomeResult.FAILED
    run_async(
        notes.post(
            rollout_status(
                bad,
                "batch",
                CommitState.FAILURE,
                "Rolled back by the circuit breaker",
                task_definition="prod-batch-worker:2",
            )
        )
    )
    emulator.tick(300)
    revert = revert_failed_revision(applied.root, "batch", bad, failed.message, push=False)

    document = history(applied, "batch", capsys)

    runs = document["deployments"]
    assert isinstance(runs, list)
    assert [r["revision"] for r in runs] == [bad, first]
    assert runs[0]["deployment"]["status"] != "SUCCESSFUL"
    assert runs[0]["status"]["state"] == "failure"
    assert runs[0]["matchedBy"] == "status"
    assert runs[1]["status"]["state"] == "success"
    undeployed = document["undeployed"]
    assert isinstance(undeployed, list)
    assert [u["revision"] for u in undeployed] == [revert.revision]


def test_history_in_text_names_task_definitions_results_and_subjects(
    emulator: EmulatorHandle,
    aws: object,
    applied: GitRepo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    assert apply(emulator, aws, applied).ok  # type: ignore[arg-type]
    capsys.readouterr()

    assert exit_code(["history", "api", "--repo", str(applied.root)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "api: deployments, newest first"
    assert "SUCCESSFUL" in lines[1]
    assert "prod-api:2" in lines[1]
    assert "api: image 1.4.3" in lines[1]
    assert "prod-api:1" in lines[2]
    assert "sample-repo" in lines[2]
