"""CodeDeploy deployments to a CODE_DEPLOY ECS service, over HTTP on the simulated clock.

The seed creates the load balancer (production listener on 80, test listener on
8080, both forwarding to shop-blue) and the CodeDeploy application and group;
each test creates the service, then deploys an AppSpec and watches the
deployment, the service's task sets and the listeners.
"""

from __future__ import annotations

import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.codedeploy_world import FINISHED, CodeDeployWorld


@pytest.fixture
def world(emulator: EmulatorHandle) -> CodeDeployWorld:
    return CodeDeployWorld(emulator)


def test_a_code_deploy_service_starts_with_one_primary_task_set(world: CodeDeployWorld) -> None:
    task_definition = world.create_service()

    (task_set,) = world.task_sets()
    assert (task_set["status"], task_set["taskDefinition"]) == ("PRIMARY", task_definition)
    assert task_set["scale"] == {"value": 100.0, "unit": "PERCENT"}
    assert (task_set["runningCount"], task_set["stabilityStatus"]) == (2, "STEADY_STATE")
    assert world.running_images() == {"shop:1"}


def test_a_deployment_flips_the_task_sets_and_moves_the_listener_to_green(
    world: CodeDeployWorld,
) -> None:
    world.create_service()

    deployment_id = world.deploy("shop:2")
    statuses = world.run(deployment_id, every=1)

    assert statuses == ["Created", "InProgress", "Succeeded"]
    (task_set,) = world.task_sets()
    assert task_set["status"] == "PRIMARY"
    assert task_set["taskDefinition"].endswith("shop:2")
    assert task_set["loadBalancers"][0]["targetGroupArn"] == world.green
    assert world.listener_weights(world.production) == (0, 100)
    assert world.listener_weights(world.test) == (0, 100)
    assert world.running_images() == {"shop:2"}
    service = world.ecs.describe_services(cluster="prod", services=["shop"])["services"][0]
    assert service["taskDefinition"].endswith("shop:2")
    target = world.codedeploy.get_deployment_target(
        deploymentId=deployment_id, targetId="prod:shop"
    )["deploymentTarget"]["ecsTarget"]
    assert [e["lifecycleEventName"] for e in target["lifecycleEvents"]] == [
        "BeforeInstall",
        "Install",
        "AfterInstall",
        "AllowTestTraffic",
        "AfterAllowTestTraffic",
        "BeforeAllowTraffic",
        "AllowTraffic",
        "AfterAllowTraffic",
    ]
    assert {e["status"] for e in target["lifecycleEvents"]} == {"Succeeded"}


def test_green_runs_beside_blue_until_traffic_moves(emulator: EmulatorHandle) -> None:
    world = CodeDeployWorld(emulator, ready_wait_minutes=60)
    world.create_service()
    deployment_id = world.deploy("shop:2")

    world.tick_until(deployment_id, "Ready")

    assert sorted(t["status"] for t in world.task_sets()) == ["ACTIVE", "PRIMARY"]
    assert world.running_images() == {"shop:1", "shop:2"}
    assert world.listener_weights(world.production) == (100, 0)
    assert world.listener_weights(world.test) == (0, 100)
    target = world.codedeploy.get_deployment_target(
        deploymentId=deployment_id, targetId="prod:shop"
    )["deploymentTarget"]["ecsTarget"]
    labels = {t["taskSetLabel"]: t for t in target["taskSetsInfo"]}
    assert (labels["Blue"]["trafficWeight"], labels["Green"]["trafficWeight"]) == (100.0, 0.0)
    assert labels["Green"]["targetGroup"] == {"name": "shop-green"}


def test_continue_deployment_continues_a_ready_deployment(emulator: EmulatorHandle) -> None:
    world = CodeDeployWorld(emulator, ready_wait_minutes=60)
    world.create_service()
    deployment_id = world.deploy("shop:2")
    world.tick_until(deployment_id, "Ready")
    world.emulator.tick(20 * 60)
    assert world.deployment(deployment_id)["status"] == "Ready"

    world.codedeploy.continue_deployment(
        deploymentId=deployment_id, deploymentWaitType="READY_WAIT"
    )

    assert world.run(deployment_id)[-1] == "Succeeded"
    assert world.listener_weights(world.production) == (0, 100)


def test_a_ready_deployment_nobody_continues_stops_when_its_wait_runs_out(
    emulator: EmulatorHandle,
) -> None:
    world = CodeDeployWorld(emulator, ready_wait_minutes=5)
    world.create_service()
    deployment_id = world.deploy("shop:2")

    statuses = world.run(deployment_id)

    assert statuses[-2:] == ["Ready", "Stopped"]
    assert world.deployment(deployment_id)["errorInformation"]["code"] == "TIMEOUT"
    assert world.listener_weights(world.test) == (100, 0)
    assert [t["taskDefinition"].rsplit("/", 1)[-1] for t in world.task_sets()] == ["shop:1"]


def test_continuing_a_deployment_that_is_not_ready_is_refused(world: CodeDeployWorld) -> None:
    world.create_service()
    deployment_id = world.deploy("shop:2")

    with pytest.raises(world.codedeploy.exceptions.DeploymentIsNotInReadyStateException):
        world.codedeploy.continue_deployment(deploymentId=deployment_id)


def test_a_failing_image_fails_the_deployment_and_rolls_back(world: CodeDeployWorld) -> None:
    original = world.create_service()

    deployment_id = world.deploy("shop:broken-2")
    statuses = world.run(deployment_id)

    assert statuses[-1] == "Failed"
    info = world.deployment(deployment_id)
    assert info["errorInformation"]["code"] == "ECS_UPDATE_ERROR"
    assert "failed to start" in info["errorInformation"]["message"]
    rollback = world.deployment(info["rollbackInfo"]["rollbackDeploymentId"])
    assert (rollback["creator"], rollback["status"]) == ("codeDeployRollback", "Succeeded")
    assert world.listener_weights(world.production) == (100, 0)
    assert [(t["status"], t["taskDefinition"]) for t in world.task_sets()] == [
        ("PRIMARY", original)
    ]
    world.emulator.tick(10)
    assert world.running_images() == {"shop:1"}


def test_a_failing_image_without_auto_rollback_fails_and_leaves_production_alone(
    emulator: EmulatorHandle,
) -> None:
    world = CodeDeployWorld(emulator, auto_rollback=False)
    world.create_service()

    deployment_id = world.deploy("shop:broken-2")

    assert world.run(deployment_id)[-1] == "Failed"
    assert "rollbackInfo" not in world.deployment(deployment_id)
    assert world.listener_weights(world.production) == (100, 0)


def test_a_hook_answering_failed_fails_the_deployment_and_rolls_back(
    world: CodeDeployWorld,
) -> None:
    world.create_service()
    world.emulator.control("POST", "hooks", {"hook": "check-green", "answer": "FAILED"})

    deployment_id = world.deploy("shop:2", hooks=[{"AfterAllowTraffic": "check-green"}])

    assert world.run(deployment_id)[-1] == "Failed"
    info = world.deployment(deployment_id)
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert world.listener_weights(world.production) == (100, 0)
    assert world.running_images() == {"shop:1"}


def test_a_hook_in_progress_holds_the_deployment(world: CodeDeployWorld) -> None:
    world.create_service()
    world.emulator.control("POST", "hooks", {"hook": "check-green", "answer": "IN_PROGRESS"})
    deployment_id = world.deploy("shop:2", hooks=[{"BeforeAllowTraffic": "check-green"}])

    world.emulator.tick(30 * 60)

    assert world.deployment(deployment_id)["status"] == "InProgress"
    assert world.listener_weights(world.production) == (100, 0)
    world.emulator.control("POST", "hooks", {"hook": "check-green", "answer": "SUCCEEDED"})
    assert world.run(deployment_id)[-1] == "Succeeded"


@pytest.mark.parametrize("when", ["Ready", "termination-wait"])
def test_stop_deployment_stops_with_rollback(emulator: EmulatorHandle, when: str) -> None:
    world = CodeDeployWorld(emulator, ready_wait_minutes=60, termination_wait_minutes=30)
    world.create_service()
    deployment_id = world.deploy("shop:2")
    world.tick_until(deployment_id, "Ready")
    if when == "termination-wait":
        world.codedeploy.continue_deployment(deploymentId=deployment_id)
        world.emulator.tick(60)
        assert world.listener_weights(world.production) == (0, 100)
        assert world.deployment(deployment_id)["status"] == "InProgress"

    answer = world.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)

    assert answer["status"] == "Succeeded"
    info = world.deployment(deployment_id)
    assert (info["status"], info["errorInformation"]["code"]) == ("Stopped", "MANUAL_STOP")
    assert "rollbackDeploymentId" in info["rollbackInfo"]
    assert world.listener_weights(world.production) == (100, 0)
    assert world.listener_weights(world.test) == (100, 0)
    (task_set,) = world.task_sets()
    assert task_set["taskDefinition"].endswith("shop:1")
    world.emulator.tick(10)
    assert world.running_images() == {"shop:1"}
    with pytest.raises(world.codedeploy.exceptions.DeploymentAlreadyCompletedException):
        world.codedeploy.stop_deployment(deploymentId=deployment_id)


def test_the_termination_wait_keeps_blue_until_it_passes_or_is_skipped(
    emulator: EmulatorHandle,
) -> None:
    world = CodeDeployWorld(emulator, termination_wait_minutes=30)
    world.create_service()
    deployment_id = world.deploy("shop:2")
    world.emulator.tick(120)

    assert world.deployment(deployment_id)["instanceTerminationWaitTimeStarted"] is True
    assert world.running_images() == {"shop:1", "shop:2"}
    world.codedeploy.continue_deployment(
        deploymentId=deployment_id, deploymentWaitType="TERMINATION_WAIT"
    )

    assert world.run(deployment_id)[-1] == "Succeeded"
    world.emulator.tick(10)
    assert world.running_images() == {"shop:2"}


def test_a_canary_configuration_shifts_ten_percent_first(world: CodeDeployWorld) -> None:
    world.create_service()
    deployment_id = world.deploy(
        "shop:2", deploymentConfigName="CodeDeployDefault.ECSCanary10Percent5Minutes"
    )

    seen: list[tuple[int, int]] = []
    for _ in range(200):
        weights = world.listener_weights(world.production)
        if not seen or seen[-1] != weights:
            seen.append(weights)
        if world.deployment(deployment_id)["status"] in FINISHED:
            break
        world.emulator.tick(10)

    assert seen == [(100, 0), (90, 10), (0, 100)]
    assert world.deployment(deployment_id)["status"] == "Succeeded"


def test_a_second_deployment_shifts_back_to_the_first_target_group(
    world: CodeDeployWorld,
) -> None:
    world.create_service()
    world.run(world.deploy("shop:2"))

    world.run(world.deploy("shop:3"))

    assert world.listener_weights(world.production) == (100, 0)
    (task_set,) = world.task_sets()
    assert task_set["loadBalancers"][0]["targetGroupArn"] == world.blue
    info = world.deployment(world.codedeploy.list_deployments()["deployments"][-1])
    assert "shop:2" in info["previousRevision"]["appSpecContent"]["content"]


def test_only_one_deployment_per_group_runs_at_a_time(world: CodeDeployWorld) -> None:
    world.create_service()
    world.deploy("shop:2")

    with pytest.raises(world.codedeploy.exceptions.DeploymentLimitExceededException):
        world.deploy("shop:3")


def test_a_deployment_to_a_service_that_does_not_exist_fails(world: CodeDeployWorld) -> None:
    world.register("shop:1")

    deployment_id = world.deploy("shop:2")

    assert world.run(deployment_id)[-1] == "Failed"
    assert world.deployment(deployment_id)["errorInformation"]["code"] == "INVALID_ECS_SERVICE"


def test_the_task_definition_of_a_code_deploy_service_is_not_updated_through_ecs(
    world: CodeDeployWorld,
) -> None:
    world.create_service()

    with pytest.raises(world.ecs.exceptions.InvalidParameterException, match="CodeDeploy"):
        world.ecs.update_service(
            cluster="prod", service="shop", taskDefinition=world.register("shop:2")
        )
    world.ecs.update_service(cluster="prod", service="shop", desiredCount=3)
    world.emulator.tick(10)
    assert world.task_sets()[0]["runningCount"] == 3


def test_an_appspec_in_json_with_a_capacity_provider_strategy_places_green_there(
    world: CodeDeployWorld,
) -> None:
    world.create_service()
    strategy = [{"CapacityProvider": "FARGATE_SPOT", "Base": 0, "Weight": 1}]

    deployment_id = world.deploy(
        "shop:2", as_json=True, properties={"CapacityProviderStrategy": strategy}
    )

    assert world.run(deployment_id)[-1] == "Succeeded"
    (task_set,) = world.task_sets()
    assert task_set["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 1}
    ]
    assert "launchType" not in task_set
    arns = world.ecs.list_tasks(cluster="prod", serviceName="shop")["taskArns"]
    tasks = world.ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    assert {task["capacityProviderName"] for task in tasks} == {"FARGATE_SPOT"}
