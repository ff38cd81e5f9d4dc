"""Apply beyond sample-repo's happy paths: timeouts, bounds, task-only units, many units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import Reason
from reconciler.model import OutcomeResult
from tests.apply.sample import GitRepo, apply, by_unit, describe, seed_sample
from tests.conftest import EmulatorHandle


@pytest.fixture
def repo(emulator: EmulatorHandle, tmp_path: Path) -> GitRepo:
    seed_sample(emulator)
    return GitRepo.sample(tmp_path / "repo")


def test_a_rollout_past_its_timeout_is_reported_failed_and_stopped_with_rollback(
    emulator: EmulatorHandle, aws: object, repo: GitRepo
) -> None:
    # Without the circuit breaker a broken image would roll out forever.
    repo.replace(
        "batch/ecs-service-def.json",
        '"deploymentCircuitBreaker": {"enable": true, "rollback": true}',
        '"deploymentCircuitBreaker": {"enable": false, "rollback": false}',
    )
    repo.write(
        "batch/reconciler.yml", (repo.root / "batch/reconciler.yml").read_text() + "timeout: 2m\n"
    )
    repo.commit("batch: no circuit breaker, two minutes to roll out")
    assert apply(emulator, aws, repo, ["batch"]).ok  # type: ignore[arg-type]
    repo.replace("batch/reconciler.yml", 'IMAGE_TAG: "0.9.7"', 'IMAGE_TAG: "broken-0.9.8"')
    repo.commit("batch: a broken image")
    started = emulator.now()

    report = apply(emulator, aws, repo, ["batch"])  # type: ignore[arg-type]

    batch = by_unit(report)["batch"]
    assert batch.result is OutcomeResult.FAILED
    assert batch.reason == str(Reason.ROLLOUT_TIMEOUT)
    assert "within 120s" in batch.message
    assert "stopped and rolled back" in batch.message
    # Stopped at the deadline, not long after it.
    assert emulator.now() - started < 120 + 30
    assert emulator.stats()["ecs:StopServiceDeployment"] == 1
    emulator.tick(300)
    service = describe(emulator, "batch-worker")["batch-worker"]
    assert service["taskDefinition"].endswith("prod-batch-worker:1")


def test_new_auto_scaling_bounds_are_registered_and_bring_the_count_inside_them(
    emulator: EmulatorHandle, aws: object, repo: GitRepo
) -> None:
    assert apply(emulator, aws, repo, ["frontend", "api"]).ok  # type: ignore[arg-type]
    emulator.reset_stats()
    repo.replace("frontend/reconciler.yml", "min: 2\n  max: 20", "min: 3\n  max: 30")
    repo.commit("frontend: at least three tasks")

    report = apply(emulator, aws, repo, ["frontend"])  # type: ignore[arg-type]

    assert by_unit(report)["frontend"].result is OutcomeResult.SUCCEEDED
    target = emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=["service/prod/frontend"]
    )["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 30)
    frontend = describe(emulator, "frontend")["frontend"]
    assert (frontend["desiredCount"], frontend["runningCount"]) == (3, 3)
    # A count change is not a new task definition.
    assert "ecs:RegisterTaskDefinition" not in emulator.stats()


TASK_ONLY_CONFIG = """\
region: us-east-1
cluster: prod
task_definition: ecs-task-def.json
"""
TASK_ONLY = {
    "family": "prod-migrate",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{"name": "migrate", "image": "migrate:1", "essential": True}],
}


def test_a_unit_with_a_task_definition_only_is_registered_once_and_nothing_else(
    emulator: EmulatorHandle, aws: object, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("migrate/ecspresso.yml", TASK_ONLY_CONFIG)
    repo.write("migrate/ecs-task-def.json", json.dumps(TASK_ONLY))
    repo.commit("a migration task")

    first = by_unit(apply(emulator, aws, repo))["migrate"]  # type: ignore[arg-type]
    second = by_unit(apply(emulator, aws, repo))["migrate"]  # type: ignore[arg-type]

    assert first.result is OutcomeResult.SUCCEEDED
    assert first.message == "registered prod-migrate:1"
    assert second.result is OutcomeResult.IN_SYNC
    stats = emulator.stats()
    assert stats["ecs:RegisterTaskDefinition"] == 1
    assert "ecs:CreateService" not in stats


def many_units(repo: GitRepo, created: dict[str, str], count: int) -> None:
    for index in range(count):
        name = f"svc-{index:02d}"
        repo.write(
            f"{name}/ecspresso.yml",
            f"region: us-east-1\ncluster: prod\nservice: {name}\n"
            "service_definition: ecs-service-def.json\ntask_definition: ecs-task-def.json\n",
        )
        task = {**TASK_ONLY, "family": name}
        repo.write(f"{name}/ecs-task-def.json", json.dumps(task))
        service = {
            "launchType": "FARGATE",
            "desiredCount": 1,
            "networkConfiguration": {
                "awsvpcConfiguration": {"subnets": [created["subnet:private-a"]]}
            },
        }
        repo.write(f"{name}/ecs-service-def.json", json.dumps(service))
    repo.commit(f"{count} services")


def test_many_rollouts_are_tracked_with_ten_services_a_describe(
    emulator: EmulatorHandle, aws: object, tmp_path: Path
) -> None:
    created = emulator.seed(
        (Path(__file__).parents[2] / "sample-repo/emulator-seed.yml").read_text()
    )
    repo = GitRepo(tmp_path / "repo")
    many_units(repo, created, 23)

    report = apply(emulator, aws, repo, concurrency=23)  # type: ignore[arg-type]

    assert report.ok
    assert len(report.outcomes) == 23
    # The plan reads the 23 services in three calls; tracking them one call a
    # service would need at least 23 more.
    tracking = emulator.stats()["ecs:DescribeServices"] - 3
    assert 0 < tracking < 23


def test_an_update_that_fails_is_reported_and_leaves_auto_scaling_running(
    emulator: EmulatorHandle, aws: object, repo: GitRepo
) -> None:
    assert apply(emulator, aws, repo, ["api"]).ok  # type: ignore[arg-type]
    repo.replace("api/reconciler.yml", 'IMAGE_TAG: "1.4.2"', 'IMAGE_TAG: "1.4.3"')
    repo.commit("api: 1.4.3")
    emulator.faults(operations=["ecs:UpdateService"], error_rate=1.0)

    report = apply(emulator, aws, repo, ["api"])  # type: ignore[arg-type]

    api = by_unit(report)["api"]
    assert api.result is OutcomeResult.FAILED
    assert "UpdateService" in api.message
    target = emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=["service/prod/api"]
    )["ScalableTargets"][0]
    assert not target["SuspendedState"]["DynamicScalingInSuspended"]
