"""ECS-native blue/green, canary and linear deployments, over HTTP on the simulated clock.

Each test seeds a load balancer whose production and test listener rules forward
to a blue and a green target group, creates a service with the strategy, lets
the first deployment finish, then deploys a new image and watches the service
deployment stage by stage, the rule weights moving, and the tasks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EmulatorHandle

SEED = """
clusters: [prod]
vpcs:
  - name: prod
    cidr: 10.0.0.0/16
    subnets: [{name: private-a, cidr: 10.0.1.0/24}]
load_balancers:
  - name: web
    vpc: prod
    subnets: [private-a]
    target_groups:
      - {name: web-blue, port: 8080}
      - {name: web-green, port: 8080}
    listeners:
      - port: 80
        default_target_group: web-blue
        rules:
          - priority: 10
            paths: ["/*"]
            forward: [{target_group: web-blue, weight: 100}, {target_group: web-green, weight: 0}]
      - port: 8080
        default_target_group: web-blue
        rules:
          - priority: 10
            forward: [{target_group: web-blue, weight: 100}, {target_group: web-green, weight: 0}]
"""

STAGES = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
]
FINISHED = {"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}
HOOK = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
ROLE = "arn:aws:iam::123456789012:role/ecsInfrastructureRole"


class BlueGreenWorld:
    """The seeded load balancer and an ECS client, with helpers to read what moved."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        self.refs = emulator.seed(SEED)
        self.ecs = emulator.client("ecs")
        self.elb = emulator.client("elbv2")
        self.blue = self.refs["target_group:web-blue"]
        self.green = self.refs["target_group:web-green"]
        self.production_rule = self.refs["rule:web:80:10"]
        self.test_rule = self.refs["rule:web:8080:10"]

    def register(self, image: str) -> str:
        arn: str = self.ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "web", "image": image, "portMappings": [{"containerPort": 8080}]}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        return arn

    def create_service(self, image: str, configuration: dict[str, Any]) -> None:
        self.ecs.create_service(
            cluster="prod",
            serviceName="web",
            taskDefinition=self.register(image),
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
            deploymentConfiguration=configuration,
            loadBalancers=[
                {
                    "targetGroupArn": self.blue,
                    "containerName": "web",
                    "containerPort": 8080,
                    "advancedConfiguration": {
                        "alternateTargetGroupArn": self.green,
                        "productionListenerRule": self.production_rule,
                        "testListenerRule": self.test_rule,
                        "roleArn": ROLE,
                    },
                }
            ],
        )
        self.run_until_finished(every=5)

    def deploy(self, image: str) -> str:
        self.ecs.update_service(cluster="prod", service="web", taskDefinition=self.register(image))
        return str(self.service()["currentServiceDeployment"])

    def service(self) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(cluster="prod", services=["web"])[
            "services"
        ][0]
        return found

    def service_deployment(self, arn: str | None = None) -> dict[str, Any]:
        arn = arn or self.service()["currentServiceDeployment"]
        found: dict[str, Any] = self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"
        ][0]
        return found

    def weights(self, rule: str) -> dict[str, int]:
        action = self.elb.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"][0]
        return {
            group["TargetGroupArn"]: group["Weight"]
            for group in action["ForwardConfig"]["TargetGroups"]
        }

    def production_weights(self) -> tuple[int, int]:
        weights = self.weights(self.production_rule)
        return weights[self.blue], weights[self.green]

    def running_images(self) -> set[str]:
        arns = self.ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
        tasks = self.ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
        return {
            container["image"]
            for task in tasks
            if task["lastStatus"] == "RUNNING"
            for container in task["containers"]
        }

    def run_until_finished(self, every: int = 1, limit: int = 7200) -> list[dict[str, Any]]:
        """Tick ``every`` seconds until the current service deployment ends; every view."""
        arn = self.service()["currentServiceDeployment"]
        views = []
        for _ in range(0, limit, every):
            view = self.service_deployment(arn)
            views.append(view)
            if view["status"] in FINISHED:
                return views
            self.emulator.tick(every)
        raise AssertionError(f"the service deployment did not finish in {limit} s")

    def tick_until(self, stage: str, limit: int = 600) -> dict[str, Any]:
        arn = self.service()["currentServiceDeployment"]
        for _ in range(limit):
            view = self.service_deployment(arn)
            if view.get("lifecycleStage") == stage:
                return view
            self.emulator.tick(1)
        raise AssertionError(f"the deployment never reached {stage}")


def stages_in_order(views: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for view in views:
        stage = view.get("lifecycleStage")
        if stage and (not seen or seen[-1] != stage):
            seen.append(stage)
    return seen


@pytest.fixture
def world(emulator: EmulatorHandle) -> BlueGreenWorld:
    return BlueGreenWorld(emulator)


BLUE_GREEN = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}


def test_a_blue_green_rollout_passes_every_stage_in_order_and_moves_production_to_green(
    world: BlueGreenWorld,
) -> None:
    world.create_service("nginx:1", BLUE_GREEN)
    assert world.production_weights() == (100, 0), "a first deployment leaves traffic alone"

    world.deploy("nginx:2")
    views = world.run_until_finished()

    assert stages_in_order(views) == STAGES
    assert views[-1]["status"] == "SUCCESSFUL"
    assert views[-1]["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert world.production_weights() == (0, 100)
    assert world.weights(world.test_rule) == {world.blue: 0, world.green: 100}
    assert world.running_images() == {"nginx:2"}
    service = world.service()
    assert [(d["status"], d["rolloutState"]) for d in service["deployments"]] == [
        ("PRIMARY", "COMPLETED")
    ]
    assert service["runningCount"] == 2


def test_blue_keeps_serving_beside_green_through_the_bake_time(world: BlueGreenWorld) -> None:
    world.create_service("nginx:1", BLUE_GREEN)
    world.deploy("nginx:2")

    baking = world.tick_until("BAKE_TIME")
    world.emulator.tick(50)

    assert world.service_deployment()["lifecycleStage"] == "BAKE_TIME"
    assert world.production_weights() == (0, 100)
    assert world.running_images() == {"nginx:1", "nginx:2"}
    assert baking["status"] == "IN_PROGRESS"
    assert world.run_until_finished()[-1]["status"] == "SUCCESSFUL"


def test_the_next_deployment_shifts_back_to_the_other_target_group(world: BlueGreenWorld) -> None:
    world.create_service("nginx:1", BLUE_GREEN)
    world.deploy("nginx:2")
    world.run_until_finished()

    world.deploy("nginx:3")
    world.run_until_finished()

    assert world.production_weights() == (100, 0)
    assert world.running_images() == {"nginx:3"}


def test_a_failing_image_rolls_back_with_traffic_on_blue(world: BlueGreenWorld) -> None:
    world.create_service("nginx:1", BLUE_GREEN)

    world.deploy("nginx:broken-2")
    views = world.run_until_finished()

    final = views[-1]
    assert final["status"] == "ROLLBACK_SUCCESSFUL"
    assert "failed to start" in final["rollback"]["reason"]
    assert "PRODUCTION_TRAFFIC_SHIFT" not in stages_in_order(views)
    assert world.production_weights() == (100, 0)
    assert world.running_images() == {"nginx:1"}
    service = world.service()
    assert service["taskDefinition"].endswith("web:1")
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY"]


@pytest.mark.parametrize(
    ("strategy", "configuration", "expected_steps"),
    [
        pytest.param(
            "CANARY",
            {"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3}},
            [(90, 10), (0, 100)],
            id="canary-ten-percent-then-the-rest",
        ),
        pytest.param(
            "LINEAR",
            {"linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2}},
            [(75, 25), (50, 50), (25, 75), (0, 100)],
            id="linear-in-quarters",
        ),
        pytest.param(
            "LINEAR", {}, [(100 - p, p) for p in range(10, 101, 10)], id="linear-defaults"
        ),
    ],
)
def test_canary_and_linear_shift_production_traffic_in_their_steps(
    world: BlueGreenWorld,
    strategy: str,
    configuration: dict[str, Any],
    expected_steps: list[tuple[int, int]],
) -> None:
    world.create_service("nginx:1", {"strategy": strategy, **configuration})
    world.deploy("nginx:2")

    # Steps are at least two minutes apart: looking every 30 seconds sees each one.
    seen: list[tuple[int, int]] = []
    for _ in range(240):
        weights = world.production_weights()
        if weights != (100, 0) and (not seen or seen[-1] != weights):
            seen.append(weights)
        if world.service_deployment()["status"] in FINISHED:
            break
        world.emulator.tick(30)

    assert seen == expected_steps
    assert world.service_deployment()["status"] == "SUCCESSFUL"


def test_a_canary_waits_its_bake_time_before_shifting_the_rest(world: BlueGreenWorld) -> None:
    world.create_service(
        "nginx:1",
        {
            "strategy": "CANARY",
            "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 10},
        },
    )
    world.deploy("nginx:2")
    world.tick_until("PRODUCTION_TRAFFIC_SHIFT")
    world.emulator.tick(2)
    assert world.production_weights() == (80, 20)

    world.emulator.tick(9 * 60)
    assert world.production_weights() == (80, 20)
    view = world.service_deployment()
    assert view["targetServiceRevision"]["requestedProductionTrafficWeight"] == 20.0
    assert view["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 80.0

    world.emulator.tick(61)
    assert world.production_weights() == (0, 100)


def with_hook(stage: str, **extra: Any) -> dict[str, Any]:
    hook = {"hookTargetArn": HOOK, "roleArn": ROLE, "lifecycleStages": [stage], **extra}
    return {"strategy": "BLUE_GREEN", "lifecycleHooks": [hook]}


def test_a_hook_answering_failed_rolls_back(world: BlueGreenWorld) -> None:
    world.create_service("nginx:1", with_hook("POST_PRODUCTION_TRAFFIC_SHIFT"))
    world.emulator.control("POST", "hooks", {"hook": "smoke-test", "answer": "FAILED"})

    world.deploy("nginx:2")
    views = world.run_until_finished()

    assert views[-1]["status"] == "ROLLBACK_SUCCESSFUL"
    assert (
        "smoke-test failed in stage POST_PRODUCTION_TRAFFIC_SHIFT"
        in views[-1]["rollback"]["reason"]
    )
    assert world.production_weights() == (100, 0)
    assert world.running_images() == {"nginx:1"}


def test_a_hook_in_progress_holds_its_stage_until_it_answers(world: BlueGreenWorld) -> None:
    world.create_service("nginx:1", with_hook("POST_SCALE_UP"))
    world.emulator.control("POST", "hooks", {"hook": HOOK, "answer": "IN_PROGRESS"})

    world.deploy("nginx:2")
    world.tick_until("POST_SCALE_UP")
    world.emulator.tick(30 * 60)

    held = world.service_deployment()
    assert held["lifecycleStage"] == "POST_SCALE_UP"
    assert held["lifecycleHookDetails"][0]["status"] == "IN_PROGRESS"
    assert world.production_weights() == (100, 0)

    world.emulator.control("POST", "hooks", {"hook": HOOK, "answer": "SUCCEEDED"})
    assert world.run_until_finished()[-1]["status"] == "SUCCESSFUL"
    assert world.production_weights() == (0, 100)


def test_a_hook_that_never_answers_times_out_into_a_rollback(world: BlueGreenWorld) -> None:
    timeout = {"timeoutConfiguration": {"timeoutInMinutes": 5, "action": "ROLLBACK"}}
    world.create_service("nginx:1", with_hook("PRE_PRODUCTION_TRAFFIC_SHIFT", **timeout))
    world.emulator.control("POST", "hooks", {"hook": "smoke-test", "answer": "IN_PROGRESS"})

    world.deploy("nginx:2")
    world.tick_until("PRODUCTION_TRAFFIC_SHIFT")
    world.emulator.tick(4 * 60)
    assert world.service_deployment()["status"] == "IN_PROGRESS"
    views = world.run_until_finished(every=10)

    assert views[-1]["status"] == "ROLLBACK_SUCCESSFUL"
    assert "timed out" in views[-1]["rollback"]["reason"]
    assert world.production_weights() == (100, 0)


@pytest.mark.parametrize("stage", ["SCALE_UP", "TEST_TRAFFIC_SHIFT", "BAKE_TIME"], ids=str.lower)
def test_stopping_a_service_deployment_with_rollback_puts_traffic_back_on_blue(
    world: BlueGreenWorld, stage: str
) -> None:
    world.create_service("nginx:1", {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10})
    arn = world.deploy("nginx:2")
    world.tick_until(stage)

    world.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    views = world.run_until_finished()

    assert views[-1]["status"] == "ROLLBACK_SUCCESSFUL"
    assert views[-1]["rollback"]["reason"] == "Rollback requested by StopServiceDeployment."
    assert world.production_weights() == (100, 0)
    assert world.weights(world.test_rule) == {world.blue: 100, world.green: 0}
    assert world.running_images() == {"nginx:1"}


def test_a_blue_green_service_needs_a_load_balancer_with_an_advanced_configuration(
    world: BlueGreenWorld,
) -> None:
    with pytest.raises(world.ecs.exceptions.InvalidParameterException, match="advanced"):
        world.ecs.create_service(
            cluster="prod",
            serviceName="web",
            taskDefinition=world.register("nginx:1"),
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
            deploymentConfiguration={"strategy": "BLUE_GREEN"},
        )


def test_a_production_rule_that_does_not_exist_is_refused(world: BlueGreenWorld) -> None:
    with pytest.raises(world.ecs.exceptions.InvalidParameterException, match="productionListener"):
        world.ecs.create_service(
            cluster="prod",
            serviceName="web",
            taskDefinition=world.register("nginx:1"),
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
            deploymentConfiguration={"strategy": "BLUE_GREEN"},
            loadBalancers=[
                {
                    "targetGroupArn": world.blue,
                    "containerName": "web",
                    "containerPort": 8080,
                    "advancedConfiguration": {
                        "alternateTargetGroupArn": world.green,
                        "productionListenerRule": world.production_rule + "0",
                        "roleArn": ROLE,
                    },
                }
            ],
        )
