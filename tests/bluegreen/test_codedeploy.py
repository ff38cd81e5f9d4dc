"""CodeDeploy rollouts of sample-repo's legacy unit (deployment controller CODE_DEPLOY).

The seed holds the legacy load balancer (production listener on 80, test
listener on 8080) and the CodeDeploy application and deployment group; each
test applies legacy once (created on legacy-blue), commits a change, applies
again on the emulator's clock, and reads the listeners and the deployment back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from reconciler.aws import Aws
from reconciler.errors import Reason
from reconciler.model import OutcomeResult
from tests.bluegreen.world import LEGACY_HOOK, LEGACY_IMAGE, SampleWorld
from tests.conftest import EmulatorHandle

CODEDEPLOY_SECTION = """codedeploy:
  application_name: legacy
  deployment_group_name: legacy
"""


@pytest.fixture
def world(emulator: EmulatorHandle, aws: Aws, tmp_path: Path) -> SampleWorld:
    return SampleWorld.create(emulator, aws, tmp_path / "repo")


@pytest.fixture
def created(world: SampleWorld) -> SampleWorld:
    assert world.apply("legacy")["legacy"].result is OutcomeResult.SUCCEEDED
    assert world.legacy_listener_on(80) == "legacy-blue"
    world.progress.clear()
    return world


def deployments(world: SampleWorld) -> list[dict[str, object]]:
    codedeploy = world.emulator.client("codedeploy")
    ids = codedeploy.list_deployments(applicationName="legacy", deploymentGroupName="legacy")
    found = codedeploy.batch_get_deployments(deploymentIds=ids["deployments"])
    return sorted(found["deploymentsInfo"], key=lambda d: d["createTime"])


def test_a_code_deploy_rollout_deploys_the_appspec_and_moves_the_listeners_to_green(
    created: SampleWorld,
) -> None:
    world = created
    world.set_image("legacy", LEGACY_IMAGE, "7.0.4")
    world.emulator.reset_stats()

    outcome = world.apply("legacy")["legacy"]

    assert outcome.result is OutcomeResult.SUCCEEDED, outcome.message
    assert outcome.message.startswith("prod-legacy:2 deployed CodeDeploy")
    assert str(outcome.deployment_id).startswith("d-")
    assert world.legacy_listener_on(80) == "legacy-green"
    assert world.legacy_listener_on(8080) == "legacy-green"
    assert world.running_revision("legacy") == "prod-legacy:2"
    assert world.stages("legacy")[-1] == "CodeDeploy: succeeded"
    # The task definition went through CodeDeploy, never through UpdateService.
    assert world.calls("ecs:UpdateService", "codedeploy:CreateDeployment") == {
        "ecs:UpdateService": 0,
        "codedeploy:CreateDeployment": 1,
    }
    (deployment,) = [d for d in deployments(world) if d["deploymentId"] == outcome.deployment_id]
    appspec = yaml.safe_load(deployment["revision"]["appSpecContent"]["content"])  # type: ignore[index]
    properties = appspec["Resources"][0]["TargetService"]["Properties"]
    assert properties["TaskDefinition"] == world.service("legacy")["taskDefinition"]
    assert properties["LoadBalancerInfo"] == {"ContainerName": "billing", "ContainerPort": 8080}
    assert appspec["Hooks"] == [{"AfterAllowTestTraffic": LEGACY_HOOK}]


@pytest.mark.parametrize(
    ("break_it", "said"),
    [
        pytest.param(
            lambda w: w.set_image("legacy", LEGACY_IMAGE, "broken-7.0.4"),
            "failed to start",
            id="failing-image",
        ),
        pytest.param(
            lambda w: (
                w.answer_hook(LEGACY_HOOK, "FAILED"),
                w.set_image("legacy", LEGACY_IMAGE, "7.0.4"),
            ),
            LEGACY_HOOK,
            id="failing-smoke-test-hook",
        ),
    ],
)
def test_a_failed_code_deploy_rollout_rolls_back_and_is_reported_with_the_reason(
    created: SampleWorld, break_it: Callable[[SampleWorld], object], said: str
) -> None:
    world = created
    break_it(world)

    outcome = world.apply("legacy")["legacy"]

    assert outcome.result is OutcomeResult.FAILED
    assert outcome.reason == str(Reason.ROLLOUT_FAILED)
    assert outcome.message.startswith("CodeDeploy failed: ")
    assert said in outcome.message
    assert "rolled back by d-" in outcome.message
    assert world.legacy_listener_on(80) == "legacy-blue"
    assert world.running_revision("legacy") == "prod-legacy:1"


def test_a_code_deploy_rollout_past_its_timeout_is_stopped_with_rollback(
    created: SampleWorld,
) -> None:
    world = created
    world.answer_hook(LEGACY_HOOK, "IN_PROGRESS")
    world.repo.replace("legacy/ecspresso.yml", "timeout: 30m0s", "timeout: 10m0s")
    world.set_image("legacy", LEGACY_IMAGE, "7.0.4")
    world.emulator.reset_stats()

    outcome = world.apply("legacy")["legacy"]

    assert outcome.result is OutcomeResult.FAILED
    assert outcome.reason == str(Reason.ROLLOUT_TIMEOUT)
    assert "did not finish within 600s" in outcome.message
    assert outcome.message.endswith("stopped and rolled back")
    assert world.calls("codedeploy:StopDeployment") == {"codedeploy:StopDeployment": 1}
    world.emulator.tick(60)
    assert deployments(world)[-1]["status"] in ("Stopped", "Succeeded")
    stopped = [d for d in deployments(world) if d["deploymentId"] == outcome.deployment_id]
    assert stopped[0]["status"] == "Stopped"
    assert world.legacy_listener_on(80) == "legacy-blue"
    assert world.running_revision("legacy") == "prod-legacy:1"


def test_the_deployment_group_is_discovered_once_when_the_config_does_not_name_it(
    world: SampleWorld,
) -> None:
    world.repo.replace("legacy/ecspresso.yml", CODEDEPLOY_SECTION, "")
    world.repo.commit("legacy: let the reconciler find its deployment group")
    assert world.apply("legacy")["legacy"].result is OutcomeResult.SUCCEEDED
    world.emulator.reset_stats()

    for old, new in ((LEGACY_IMAGE, "7.0.4"), ("7.0.4", "7.0.5")):
        world.set_image("legacy", old, new)
        outcome = world.apply("legacy")["legacy"]
        assert outcome.result is OutcomeResult.SUCCEEDED, outcome.message

    assert world.running_revision("legacy") == "prod-legacy:3"
    assert world.calls("codedeploy:ListApplications", "codedeploy:CreateDeployment") == {
        "codedeploy:ListApplications": 1,
        "codedeploy:CreateDeployment": 2,
    }


def test_update_service_carries_only_what_a_code_deploy_service_may_change(
    created: SampleWorld,
) -> None:
    world = created
    world.repo.replace(
        "legacy/ecs-service-def.json",
        '"healthCheckGracePeriodSeconds": 60',
        '"healthCheckGracePeriodSeconds": 90',
    )
    world.set_image("legacy", LEGACY_IMAGE, "7.0.4")
    world.emulator.reset_stats()

    outcome = world.apply("legacy")["legacy"]

    assert outcome.result is OutcomeResult.SUCCEEDED, outcome.message
    assert world.calls("ecs:UpdateService", "codedeploy:CreateDeployment") == {
        "ecs:UpdateService": 1,
        "codedeploy:CreateDeployment": 1,
    }
    service = world.service("legacy")
    assert service["healthCheckGracePeriodSeconds"] == 90
    assert world.running_revision("legacy") == "prod-legacy:2"
    assert world.apply("legacy")["legacy"].result is OutcomeResult.IN_SYNC
