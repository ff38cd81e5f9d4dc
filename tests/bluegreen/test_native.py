"""ECS-native blue/green, canary and linear rollouts of sample-repo's web unit.

Each test applies web once (the service is created on blue), then commits a
new image and applies again, on the emulator's clock, recording what track
reports; it then reads the listener rules, the service deployment and the
service as a user would in the console.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.errors import Reason
from reconciler.model import TAG_BAD_REVISION, OutcomeResult
from tests.bluegreen.world import LEGACY_IMAGE, WEB_HOOK, WEB_IMAGE, SampleWorld
from tests.conftest import EmulatorHandle

BLUE_GREEN = '"strategy": "BLUE_GREEN",'


@pytest.fixture
def world(emulator: EmulatorHandle, aws: Aws, tmp_path: Path) -> SampleWorld:
    return SampleWorld.create(emulator, aws, tmp_path / "repo")


@pytest.fixture
def created(world: SampleWorld) -> SampleWorld:
    """web applied once and running on blue, with nothing recorded yet."""
    assert world.apply("web")["web"].result is OutcomeResult.SUCCEEDED
    world.progress.clear()
    return world


def test_a_blue_green_rollout_passes_its_stages_and_moves_production_traffic_to_green(
    created: SampleWorld,
) -> None:
    world = created
    assert world.web_rule_weights(80) == (100, 0)

    world.set_image("web", WEB_IMAGE, "3.2.2")
    outcome = world.apply("web")["web"]

    assert outcome.result is OutcomeResult.SUCCEEDED, outcome.message
    assert outcome.message.startswith("prod-web:2 deployed blue/green")
    stages = world.stages("web")
    assert stages[0] == "blue/green: reconcile service"
    assert stages[-1] == "blue/green: successful"
    traffic = stages.index("blue/green: 100% of traffic on green")
    baking = [s for s in stages if s.startswith("blue/green: bake time")]
    assert baking == [f"blue/green: bake time, {m} min left" for m in (5, 4, 3, 2, 1)]
    assert traffic < stages.index(baking[0]), "bake time comes after production traffic moved"
    assert world.web_rule_weights(80) == (0, 100)
    assert world.web_rule_weights(9080) == (0, 100)
    assert world.service_deployment("web")["status"] == "SUCCESSFUL"
    assert world.running_revision("web") == "prod-web:2"


@pytest.mark.parametrize(
    ("break_it", "said"),
    [
        pytest.param(
            lambda w: w.set_image("web", WEB_IMAGE, "broken-3.2.2"),
            "failed to start",
            id="failing-image",
        ),
        pytest.param(
            lambda w: (w.answer_hook(WEB_HOOK, "FAILED"), w.set_image("web", WEB_IMAGE, "3.2.2")),
            f"{WEB_HOOK} failed in stage POST_TEST_TRAFFIC_SHIFT",
            id="failing-smoke-test-hook",
        ),
    ],
)
def test_a_failed_green_rolls_back_with_traffic_on_blue_and_is_reported_with_the_reason(
    created: SampleWorld, break_it: Callable[[SampleWorld], object], said: str
) -> None:
    world = created
    break_it(world)

    outcome = world.apply("web")["web"]

    assert outcome.result is OutcomeResult.FAILED
    assert outcome.reason == str(Reason.ROLLOUT_FAILED)
    assert outcome.message.startswith("blue/green rollback successful: ")
    assert said in outcome.message
    assert world.web_rule_weights(80) == (100, 0)
    assert world.web_rule_weights(9080) == (100, 0)
    assert world.running_revision("web") == "prod-web:1"
    ecs = world.emulator.client("ecs")
    tags = ecs.list_tags_for_resource(resourceArn=world.service("web")["serviceArn"])["tags"]
    assert TAG_BAD_REVISION in {t["key"] for t in tags}


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        pytest.param(
            '"strategy": "CANARY", '
            '"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3},',
            ["canary: 10% of traffic on green", "canary: 100% of traffic on green"],
            id="canary-ten-percent-then-the-rest",
        ),
        pytest.param(
            '"strategy": "LINEAR", '
            '"linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2},',
            [f"linear: {p}% of traffic on green" for p in (25, 50, 75, 100)],
            id="linear-in-quarters",
        ),
    ],
)
def test_canary_and_linear_rollouts_shift_production_traffic_in_their_steps(
    world: SampleWorld, configuration: str, expected: list[str]
) -> None:
    world.set_deployment_configuration(BLUE_GREEN, configuration)
    assert world.apply("web")["web"].result is OutcomeResult.SUCCEEDED
    world.progress.clear()

    world.set_image("web", WEB_IMAGE, "3.2.2")
    outcome = world.apply("web")["web"]

    assert outcome.result is OutcomeResult.SUCCEEDED, outcome.message
    assert [s for s in world.stages("web") if "% of traffic" in s] == expected
    assert world.web_rule_weights(80) == (0, 100)


def test_a_rollout_past_its_timeout_is_stopped_with_rollback_and_reported_failed(
    created: SampleWorld,
) -> None:
    world = created
    # The smoke test never answers: green waits after test traffic, forever.
    world.answer_hook(WEB_HOOK, "IN_PROGRESS")
    world.repo.replace("web/ecspresso.yml", "timeout: 30m0s", "timeout: 10m0s")
    world.set_image("web", WEB_IMAGE, "3.2.2")
    world.emulator.reset_stats()

    outcome = world.apply("web")["web"]

    assert outcome.result is OutcomeResult.FAILED
    assert outcome.reason == str(Reason.ROLLOUT_TIMEOUT)
    assert "did not finish within 600s" in outcome.message
    assert f"waiting for hook {WEB_HOOK}" in outcome.message
    assert outcome.message.endswith("stopped and rolled back")
    assert world.calls("ecs:StopServiceDeployment") == {"ecs:StopServiceDeployment": 1}
    world.emulator.tick(120)
    deployment = world.service_deployment("web")
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL"
    assert deployment["rollback"]["reason"] == "Rollback requested by StopServiceDeployment."
    assert world.web_rule_weights(80) == (100, 0)
    assert world.running_revision("web") == "prod-web:1"


def test_a_second_apply_of_unchanged_blue_green_and_code_deploy_units_starts_nothing(
    world: SampleWorld,
) -> None:
    first = world.apply("web", "legacy")
    assert {o.result for o in first.values()} == {OutcomeResult.SUCCEEDED}
    world.set_image("web", WEB_IMAGE, "3.2.2")
    world.set_image("legacy", LEGACY_IMAGE, "7.0.4")
    second = world.apply("web", "legacy")
    assert {o.result for o in second.values()} == {OutcomeResult.SUCCEEDED}
    world.emulator.reset_stats()

    third = world.apply("web", "legacy")

    assert {u: o.result for u, o in third.items()} == {
        "web": OutcomeResult.IN_SYNC,
        "legacy": OutcomeResult.IN_SYNC,
    }
    assert world.calls(
        "ecs:UpdateService",
        "ecs:RegisterTaskDefinition",
        "codedeploy:CreateDeployment",
        "ecs:TagResource",
    ) == {
        "ecs:UpdateService": 0,
        "ecs:RegisterTaskDefinition": 0,
        "codedeploy:CreateDeployment": 0,
        "ecs:TagResource": 0,
    }
