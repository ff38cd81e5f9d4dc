"""Applying sample-repo on the emulator: creation, rollouts, failures, safety.

Every wait runs on the emulator's clock, so the rollouts below take simulated
minutes and no wall time.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from reconciler.errors import Reason
from reconciler.model import (
    TAG_BAD_REVISION,
    TAG_DIGEST,
    TAG_OWNER,
    TAG_REVISION,
    TAG_SUSPENDED,
    TAG_TASK_DEFINITION,
    TAG_UNIT,
    OutcomeResult,
    PlanStatus,
    WaitMode,
)
from reconciler.plan import desired_digest
from tests.apply.sample import OWNER, GitRepo, apply, by_unit, describe, plan, seed_sample
from tests.conftest import EmulatorHandle

SERVICES = {
    "api": "api",
    "frontend": "frontend",
    "batch": "batch-worker",
    "web": "web",
    "legacy": "legacy",
}
BOUNDS = {"api": (5, 50), "frontend": (2, 20), "batch": (1, 10), "web": (2, 10), "legacy": (2, 6)}
WRITES = (
    "ecs:RegisterTaskDefinition",
    "ecs:CreateService",
    "ecs:UpdateService",
    "ecs:TagResource",
    "ecs:UntagResource",
    "application-autoscaling:RegisterScalableTarget",
)


@pytest.fixture
def repo(emulator: EmulatorHandle, tmp_path: Path) -> GitRepo:
    seed_sample(emulator)
    return GitRepo.sample(tmp_path / "repo")


@pytest.fixture
def applied(emulator: EmulatorHandle, aws: object, repo: GitRepo) -> GitRepo:
    """sample-repo applied once, with the call counts zeroed after."""
    report = apply(emulator, aws, repo)  # type: ignore[arg-type]
    assert report.ok, report.outcomes
    emulator.reset_stats()
    return repo


def scalable_targets(emulator: EmulatorHandle) -> dict[str, dict[str, object]]:
    response = emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs"
    )
    return {t["ResourceId"].rsplit("/", 1)[-1]: t for t in response["ScalableTargets"]}


def writes(emulator: EmulatorHandle) -> dict[str, int]:
    stats = emulator.stats()
    return {name: stats[name] for name in WRITES if stats.get(name)}


def bump_image(repo: GitRepo, unit: str, old: str, new: str) -> str:
    repo.replace(f"{unit}/reconciler.yml", f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"')
    return repo.commit(f"{unit}: image {new}")


def tags_of(service: dict[str, object]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in service.get("tags", [])}  # type: ignore[attr-defined]


def test_a_first_apply_creates_every_service_owned_and_tagged_with_what_it_applied(
    emulator: EmulatorHandle, aws: object, repo: GitRepo
) -> None:
    report = apply(emulator, aws, repo)  # type: ignore[arg-type]

    outcomes = by_unit(report)
    assert {u: o.result for u, o in outcomes.items()} == {
        "api": OutcomeResult.SUCCEEDED,
        "batch": OutcomeResult.SUCCEEDED,
        "frontend": OutcomeResult.SUCCEEDED,
        "web": OutcomeResult.SUCCEEDED,
        "legacy": OutcomeResult.SUCCEEDED,
    }
    services = describe(emulator, *SERVICES.values())
    revision = str(repo.repo.head.target)
    for unit, name in SERVICES.items():
        service = services[name]
        tags = tags_of(service)
        assert tags[TAG_OWNER] == OWNER
        assert tags[TAG_UNIT] == unit
        assert tags[TAG_REVISION] == revision
        assert tags[TAG_TASK_DEFINITION] == service["taskDefinition"]
        assert tags[TAG_DIGEST].startswith("v1:")
        # The unit's own tags are there too, and the count starts at auto scaling's minimum.
        assert "team" in tags
        assert service["desiredCount"] == BOUNDS[unit][0]
        assert service["runningCount"] == BOUNDS[unit][0]
        if service["deploymentController"]["type"] == "CODE_DEPLOY":
            # CodeDeploy's services run task sets, not ECS deployments.
            assert service["taskSets"][0]["status"] == "PRIMARY"
        else:
            assert service["deployments"][0]["rolloutState"] == "COMPLETED"
        described = emulator.client("ecs").describe_task_definition(
            taskDefinition=service["taskDefinition"], include=["TAGS"]
        )
        assert {t["key"]: t["value"] for t in described["tags"]}[TAG_DIGEST] == tags[TAG_DIGEST]
    assert emulator.stats()["ecs:CreateService"] == 5


def test_auto_scaling_targets_match_the_policy_and_are_suspended_only_during_the_rollout(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    seen_during_rollout: list[bool] = []

    def on_event(unit: str, message: str) -> None:
        if unit == "api":
            state = scalable_targets(emulator)["api"]["SuspendedState"]
            seen_during_rollout.append(state["DynamicScalingInSuspended"])  # type: ignore[index]

    report = apply(emulator, aws, applied, on_event=on_event)  # type: ignore[arg-type]

    assert report.ok
    assert seen_during_rollout
    assert all(seen_during_rollout)

    targets = scalable_targets(emulator)
    for unit, name in SERVICES.items():
        target = targets[name]
        assert (target["MinCapacity"], target["MaxCapacity"]) == BOUNDS[unit]
        assert not target["SuspendedState"]["DynamicScalingInSuspended"]  # type: ignore[index]
        assert not target["SuspendedState"]["DynamicScalingOutSuspended"]  # type: ignore[index]


def test_an_image_bump_rolls_out_to_completed_with_one_registration_and_one_update(
    emulator: EmulatorHandle, aws: object, applied: GitRepo, caplog: pytest.LogCaptureFixture
) -> None:
    revision = bump_image(applied, "api", "1.4.2", "1.4.3")

    with caplog.at_level(logging.INFO, logger="reconciler.audit"):
        report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    outcomes = by_unit(report)
    assert outcomes["api"].result is OutcomeResult.SUCCEEDED
    assert outcomes["api"].task_definition_arn is not None
    assert outcomes["api"].task_definition_arn.endswith("prod-api:2")
    assert "containerDefinitions[app].image" in outcomes["api"].changed_paths
    assert outcomes["frontend"].result is OutcomeResult.IN_SYNC
    assert outcomes["batch"].result is OutcomeResult.IN_SYNC
    api = describe(emulator, "api")["api"]
    assert api["taskDefinition"].endswith("prod-api:2")
    assert [d["rolloutState"] for d in api["deployments"]] == ["COMPLETED"]
    assert tags_of(api)[TAG_REVISION] == revision
    assert tags_of(api)[TAG_TASK_DEFINITION] == api["taskDefinition"]
    calls = writes(emulator)
    assert calls["ecs:RegisterTaskDefinition"] == 1
    assert calls["ecs:UpdateService"] == 1
    audit = [r for r in caplog.records if r.name == "reconciler.audit"]
    assert len(audit) == 1
    assert (audit[0].unit, audit[0].result) == ("api", "succeeded")  # type: ignore[attr-defined]
    assert audit[0].author == "Dev <dev@example.com>" or audit[0].author  # type: ignore[attr-defined]
    assert audit[0].changed_paths == ["containerDefinitions[app].image"]  # type: ignore[attr-defined]


def test_applying_twice_does_nothing_the_second_time(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    assert {o.result for o in report.outcomes} == {OutcomeResult.IN_SYNC}
    assert writes(emulator) == {}


def test_a_failing_image_is_rolled_back_by_the_circuit_breaker_and_reported_with_ecs_reason(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    good_revision = str(applied.repo.head.target)
    bad_revision = bump_image(applied, "batch", "0.9.7", "broken-0.9.8")

    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    batch = by_unit(report)["batch"]
    assert batch.result is OutcomeResult.FAILED
    assert batch.reason == str(Reason.ROLLOUT_FAILED)
    assert "circuit breaker" in batch.message
    assert "task stopped" in batch.message
    assert not report.ok
    # The rollback finishes on ECS's side: the service runs the old revision again.
    emulator.tick(300)
    service = describe(emulator, "batch-worker")["batch-worker"]
    assert service["taskDefinition"].endswith("prod-batch-worker:1")
    target = scalable_targets(emulator)["batch-worker"]
    assert not target["SuspendedState"]["DynamicScalingInSuspended"]  # type: ignore[index]
    # The service still says what ran before, and which revision failed.
    tags = tags_of(service)
    assert tags[TAG_REVISION] == good_revision
    assert tags[TAG_TASK_DEFINITION].endswith("prod-batch-worker:1")
    assert tags[TAG_BAD_REVISION] == bad_revision


def test_a_failure_skips_the_units_that_depend_on_it_and_no_others(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "api", "1.4.2", "broken-1.4.3")
    bump_image(applied, "frontend", "2.8.0", "2.8.1")
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    outcomes = by_unit(report)
    assert outcomes["api"].result is OutcomeResult.FAILED
    assert outcomes["frontend"].result is OutcomeResult.SKIPPED
    assert outcomes["frontend"].reason == "DEPENDENCY_FAILED"
    assert "api" in outcomes["frontend"].message
    assert outcomes["batch"].result is OutcomeResult.SUCCEEDED
    assert describe(emulator, "frontend")["frontend"]["taskDefinition"].endswith("prod-frontend:1")


def test_a_unit_waits_for_the_units_it_depends_on_to_be_stable(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    bump_image(applied, "frontend", "2.8.0", "2.8.1")
    stages: list[tuple[str, str]] = []

    report = apply(emulator, aws, applied, stages=stages)  # type: ignore[arg-type]

    assert report.ok
    api_done = stages.index(("api", "succeeded"))
    frontend_applying = stages.index(("frontend", "applying"))
    assert frontend_applying > api_done


@pytest.mark.parametrize("concurrency", [1, 3], ids=["one-at-a-time", "all-at-once"])
def test_every_change_lands_whatever_the_concurrency(
    emulator: EmulatorHandle, aws: object, applied: GitRepo, concurrency: int
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied, concurrency=concurrency)  # type: ignore[arg-type]

    assert report.ok
    assert writes(emulator)["ecs:UpdateService"] == 2


def test_a_git_revert_reuses_the_revision_that_ran_before(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    assert apply(emulator, aws, applied).ok  # type: ignore[arg-type]
    emulator.reset_stats()

    bump_image(applied, "api", "1.4.3", "1.4.2")
    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    api = by_unit(report)["api"]
    assert api.result is OutcomeResult.SUCCEEDED
    assert api.task_definition_arn is not None
    assert api.task_definition_arn.endswith("prod-api:1")
    assert "ecs:RegisterTaskDefinition" not in writes(emulator)
    assert describe(emulator, "api")["api"]["taskDefinition"].endswith("prod-api:1")


def test_a_service_owned_by_someone_else_is_refused_without_force(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "api", "1.4.2", "1.4.3")
    stranger = "https://git.example.com/other/team.git@main"

    refused = apply(emulator, aws, applied, ["api"], owner=stranger)  # type: ignore[arg-type]

    api = by_unit(refused)["api"]
    assert api.result is OutcomeResult.REFUSED
    assert api.reason == str(Reason.NOT_OWNER)
    assert "--force" in api.message
    assert writes(emulator) == {}

    forced = apply(emulator, aws, applied, ["api"], owner=stranger, force=True)  # type: ignore[arg-type]
    assert by_unit(forced)["api"].result is OutcomeResult.SUCCEEDED
    assert tags_of(describe(emulator, "api")["api"])[TAG_OWNER] == stranger


def test_a_service_nobody_owns_is_refused_without_force(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    ecs = emulator.client("ecs")
    arn = describe(emulator, "batch-worker")["batch-worker"]["serviceArn"]
    ecs.untag_resource(resourceArn=arn, tagKeys=[TAG_OWNER])
    emulator.reset_stats()
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied, ["batch"])  # type: ignore[arg-type]

    batch = by_unit(report)["batch"]
    assert batch.result is OutcomeResult.REFUSED
    assert "not owned by any repository" in batch.message
    assert "ecs:UpdateService" not in writes(emulator)


def test_a_suspended_service_is_left_alone(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    arn = describe(emulator, "batch-worker")["batch-worker"]["serviceArn"]
    emulator.client("ecs").tag_resource(
        resourceArn=arn, tags=[{"key": TAG_SUSPENDED, "value": "incident-42"}]
    )
    emulator.reset_stats()
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied)  # type: ignore[arg-type]

    batch = by_unit(report)["batch"]
    assert batch.result is OutcomeResult.SKIPPED
    assert batch.reason == "SUSPENDED"
    assert writes(emulator) == {}


def test_a_deployment_the_reconciler_did_not_start_is_waited_for_not_piled_on(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    ecs = emulator.client("ecs")
    family = ecs.describe_task_definition(taskDefinition="prod-batch-worker:1")["taskDefinition"]
    body = {
        k: family[k]
        for k in (
            "family",
            "containerDefinitions",
            "cpu",
            "memory",
            "networkMode",
            "requiresCompatibilities",
            "executionRoleArn",
            "taskRoleArn",
        )
    }
    by_hand = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="batch-worker", taskDefinition=by_hand)
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied, ["batch"])  # type: ignore[arg-type]

    assert by_unit(report)["batch"].result is OutcomeResult.SUCCEEDED
    deployments = ecs.list_service_deployments(cluster="prod", service="batch-worker")
    statuses = [d["status"] for d in deployments["serviceDeployments"]]
    # Newest first: ours, then the one by hand, which finished rather than being superseded.
    assert statuses[:2] == ["SUCCESSFUL", "SUCCESSFUL"]


def test_after_apply_plan_is_in_sync_and_cheap(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    planned = plan(aws, applied)  # type: ignore[arg-type]

    assert {u.status for u in planned.plan.units} == {PlanStatus.IN_SYNC}
    aws_calls = {
        name: count
        for name, count in emulator.stats().items()
        if name.startswith(("ecs:", "application-autoscaling:"))
    }
    units = len(planned.plan.units)
    assert sum(aws_calls.values()) <= math.ceil(units / 10) + math.ceil(units / 50) + 2
    assert "ecs:DescribeTaskDefinition" not in aws_calls


def test_the_digest_tag_is_the_plan_stages_digest(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    planned = plan(aws, applied)  # type: ignore[arg-type]
    unit = planned.rendered["api"].unit
    assert unit is not None

    assert tags_of(describe(emulator, "api")["api"])[TAG_DIGEST] == desired_digest(unit)


def test_a_later_wave_starts_once_every_earlier_wave_has_ended(
    emulator: EmulatorHandle, aws: object, repo: GitRepo
) -> None:
    repo.write(
        "batch/reconciler.yml", (repo.root / "batch/reconciler.yml").read_text() + "wave: 1\n"
    )
    repo.commit("batch: after the web services")
    stages: list[tuple[str, str]] = []

    report = apply(emulator, aws, repo, stages=stages)  # type: ignore[arg-type]

    assert report.ok
    batch_applying = stages.index(("batch", "applying"))
    assert batch_applying > stages.index(("api", "succeeded"))
    assert batch_applying > stages.index(("frontend", "succeeded"))


def test_wait_none_starts_rollouts_and_returns(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    bump_image(applied, "batch", "0.9.7", "0.9.8")

    report = apply(emulator, aws, applied, wait=WaitMode.NONE)  # type: ignore[arg-type]

    batch = by_unit(report)["batch"]
    assert batch.result is OutcomeResult.STARTED
    assert report.ok
    deployment = describe(emulator, "batch-worker")["batch-worker"]["deployments"][0]
    assert deployment["rolloutState"] == "IN_PROGRESS"


def test_plan_is_in_sync_when_the_task_definition_must_be_described(
    emulator: EmulatorHandle, aws: object, applied: GitRepo
) -> None:
    arn = describe(emulator, "api")["api"]["serviceArn"]
    emulator.client("ecs").untag_resource(resourceArn=arn, tagKeys=[TAG_TASK_DEFINITION])
    emulator.reset_stats()

    planned = plan(aws, applied)  # type: ignore[arg-type]

    assert emulator.stats()["ecs:DescribeTaskDefinition"] == 1
    assert {u.unit: u.status for u in planned.plan.units}["api"] is PlanStatus.IN_SYNC
