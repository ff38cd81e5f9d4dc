"""A rollback commit deploys what ran before: the very task definition revision.

sample-repo applied on the emulator, on its clock: no wall time is waited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.model import OutcomeResult
from reconciler.source.revert import revert_failed_revision
from tests.apply.sample import GitRepo, apply, by_unit, describe, seed_sample
from tests.conftest import EmulatorHandle
from tests.gitedit.repos import exit_code


@pytest.fixture
def applied(emulator: EmulatorHandle, aws: object, tmp_path: Path) -> GitRepo:
    seed_sample(emulator)
    repo = GitRepo.sample(tmp_path / "repo")
    assert apply(emulator, aws, repo).ok  # type: ignore[arg-type]
    return repo


def bump_image(repo: GitRepo, unit: str, old: str, new: str) -> str:
    repo.replace(f"{unit}/reconciler.yml", f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"')
    return repo.commit(f"{unit}: image {new}")


def test_rolling_back_a_bad_commit_deploys_the_earlier_revision_with_no_registration(
    emulator: EmulatorHandle,
    aws: object,
    applied: GitRepo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command renders the unit to find its files; its lookups go to the emulator.
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    bump_image(applied, "api", "1.4.2", "1.4.3")
    assert apply(emulator, aws, applied).ok  # type: ignore[arg-type]
    assert describe(emulator, "api")["api"]["taskDefinition"].endswith("prod-api:2")
    emulator.reset_stats()

    assert exit_code(["rollback", "api", "--repo", str(applied.root)]) == 0
    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    api = by_unit(report)["api"]
    assert api.result is OutcomeResult.SUCCEEDED
    assert api.message.startswith("reused prod-api:1")
    assert "ecs:RegisterTaskDefinition" not in emulator.stats()
    assert emulator.stats()["ecs:UpdateService"] == 1
    assert describe(emulator, "api")["api"]["taskDefinition"].endswith("prod-api:1")


def test_after_a_circuit_breaker_rollback_the_automatic_revert_deploys_nothing_new(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bad = bump_image(applied, "batch", "0.9.7", "broken-0.9.8")
    failed = by_unit(apply(emulator, aws, applied))["batch"]  # type: ignore[arg-type]
    assert failed.result is OutcomeResult.FAILED
    emulator.tick(300)
    emulator.reset_stats()

    result = revert_failed_revision(applied.root, "batch", bad, failed.message, push=False)
    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    assert result.revision == str(applied.repo.head.target)
    message = str(applied.repo.head.peel().message)
    assert bad in message
    assert "circuit breaker" in message
    # ECS already runs what git says again: nothing to register, nothing to deploy.
    assert by_unit(report)["batch"].result is OutcomeResult.IN_SYNC
    stats = emulator.stats()
    assert "ecs:RegisterTaskDefinition" not in stats
    assert "ecs:UpdateService" not in stats
    service = describe(emulator, "batch-worker")["batch-worker"]
    assert service["taskDefinition"].endswith("prod-batch-worker:1")
