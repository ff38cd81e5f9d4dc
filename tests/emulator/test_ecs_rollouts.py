"""Rolling deployments in the emulator's ECS backend, driven second by second.

Every step checks that what a user can read agrees: the service's counts, each
deployment's counts, ListTasks, DescribeTasks and the service deployment.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import botocore.session
import pytest
from botocore.waiter import WaiterModel

from reconciler.emulator.ecs import EcsApiError, EcsBackend

REGION = "us-east-1"
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}


class SimulatedEcs:
    """An EcsBackend on a clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.backend = EcsBackend(lambda: self.now)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        response = self.backend.handle(REGION, operation, json.loads(json.dumps(params)))
        return json.loads(json.dumps(response))

    def tick(self, seconds: int = 1) -> None:
        for _ in range(seconds):
            self.now += 1
            self.backend.advance()

    def service(self) -> dict[str, Any]:
        described = self.call("DescribeServices", cluster="prod", services=["api"])
        service: dict[str, Any] = described["services"][0]
        return service

    def tasks(self, desired_status: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.call(
            "ListTasks", cluster="prod", serviceName="api", desiredStatus=desired_status
        )["taskArns"]
        if not arns:
            return []
        described: list[dict[str, Any]] = self.call("DescribeTasks", cluster="prod", tasks=arns)[
            "tasks"
        ]
        return described

    def service_deployment(self, arn: str | None = None) -> dict[str, Any]:
        arn = arn or self.service()["currentServiceDeployment"]
        found = self.call("DescribeServiceDeployments", serviceDeploymentArns=[arn])
        deployment: dict[str, Any] = found["serviceDeployments"][0]
        return deployment


def services_stable_state(response: dict[str, Any]) -> str | None:
    """What botocore's services_stable waiter concludes from one DescribeServices answer."""
    loader = botocore.session.get_session().get_component("data_loader")
    waiter = WaiterModel(loader.load_service_model("ecs", "waiters-2")).get_waiter("ServicesStable")
    for acceptor in waiter.acceptors:
        if acceptor.matcher_func(response):
            return str(acceptor.state)
    return None


def register(ecs: SimulatedEcs, image: str) -> str:
    registered = ecs.call(
        "RegisterTaskDefinition",
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": image}],
    )
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def start_service(
    ecs: SimulatedEcs, desired: int = 3, settle: bool = True, **deployment_configuration: Any
) -> None:
    ecs.call("CreateCluster", clusterName="prod")
    register(ecs, "nginx:1")
    ecs.call(
        "CreateService",
        cluster="prod",
        serviceName="api",
        taskDefinition="web",
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        deploymentConfiguration=deployment_configuration,
    )
    if settle:
        ecs.tick(10)
        assert (
            services_stable_state(ecs.call("DescribeServices", cluster="prod", services=["api"]))
            == "success"
        )


def assert_consistent(ecs: SimulatedEcs) -> dict[str, Any]:
    """Counts, tasks and service deployment agree; returns the service."""
    service = ecs.service()
    deployments = service["deployments"]
    tasks = ecs.tasks()
    statuses = Counter(task["lastStatus"] for task in tasks)

    assert service["runningCount"] == sum(d["runningCount"] for d in deployments)
    assert service["pendingCount"] == sum(d["pendingCount"] for d in deployments)
    assert len(tasks) == service["runningCount"] + service["pendingCount"]
    assert statuses["RUNNING"] == service["runningCount"]
    assert statuses["PROVISIONING"] + statuses["PENDING"] == service["pendingCount"]
    for deployment in deployments:
        mine = [task for task in tasks if task["startedBy"] == deployment["id"]]
        assert sum(t["lastStatus"] == "RUNNING" for t in mine) == deployment["runningCount"]
        assert all(t["taskDefinitionArn"] == deployment["taskDefinition"] for t in mine)
    assert all(task["group"] == "service:api" for task in tasks)

    # While rolling back, the PRIMARY runs the source revision, not the target.
    tracked = ecs.service_deployment()
    if not tracked["status"].startswith("ROLLBACK"):
        target, primary = tracked["targetServiceRevision"], deployments[0]
        assert target["runningTaskCount"] == primary["runningCount"]
        assert target["pendingTaskCount"] == primary["pendingCount"]
    return service


def non_stopped_task_count(ecs: SimulatedEcs) -> int:
    stopping = [t for t in ecs.tasks("STOPPED") if t["lastStatus"] != "STOPPED"]
    return len(ecs.tasks()) + len(stopping)


def roll_until_done(ecs: SimulatedEcs, limit: int = 60) -> list[dict[str, Any]]:
    """Tick second by second until the waiter is satisfied; the service at each step."""
    seen = []
    for _ in range(limit):
        ecs.tick()
        service = assert_consistent(ecs)
        seen.append(service)
        if services_stable_state({"services": [service], "failures": []}) == "success":
            return seen
    pytest.fail(f"the rollout did not finish in {limit} simulated seconds")


def messages(service: dict[str, Any]) -> list[str]:
    return [event["message"] for event in service["events"]]


# Rolling updates.


def test_a_rolling_update_completes_with_consistent_counts_tasks_events_and_deployments() -> None:
    ecs = SimulatedEcs()
    start_service(ecs)
    first_deployment = ecs.service_deployment()
    old_task_ids = {task["taskArn"] for task in ecs.tasks()}
    new_arn = register(ecs, "nginx:2")

    updated = ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    steps = roll_until_done(ecs)

    assert [d["status"] for d in updated["service"]["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert updated["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert len(steps) > 3, "a rollout takes several simulated seconds"
    assert all(len(step["deployments"]) == 2 for step in steps[:-1])
    service = steps[-1]
    (primary,) = service["deployments"]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (new_arn, "COMPLETED")
    assert service["runningCount"] == primary["runningCount"] == 3
    assert {task["taskDefinitionArn"] for task in ecs.tasks()} == {new_arn}
    stopped = [t for t in ecs.tasks("STOPPED") if t["taskArn"] in old_task_ids]
    assert len(stopped) == 3
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}

    events = messages(service)
    assert events[0] == "(service api) has reached a steady state."
    assert events[1] == f"(service api) (deployment {primary['id']}) deployment completed."
    assert events[2].startswith("(service api) has stopped 3 running tasks: (task ")
    assert any(e.startswith("(service api) has started 3 tasks: (task ") for e in events)
    created = [event["createdAt"] for event in service["events"]]
    assert created == sorted(created, reverse=True)

    finished = ecs.service_deployment()
    assert finished["status"] == "SUCCESSFUL"
    assert finished["finishedAt"] == ecs.now
    assert (
        finished["sourceServiceRevisions"][0]["arn"]
        == first_deployment["targetServiceRevision"]["arn"]
    )
    revision_arn = finished["targetServiceRevision"]["arn"]
    revision = ecs.call("DescribeServiceRevisions", serviceRevisionArns=[revision_arn])
    assert revision["serviceRevisions"][0]["taskDefinition"] == new_arn
    assert revision["serviceRevisions"][0]["containerImages"][0]["image"] == "nginx:2"


@pytest.mark.parametrize(
    ("maximum", "minimum", "desired"),
    [
        pytest.param(200, 100, 4, id="surge-all-first"),
        pytest.param(150, 50, 4, id="half-surge-half-healthy"),
        pytest.param(100, 50, 4, id="no-surge"),
        pytest.param(100, 0, 2, id="stop-all-first"),
        pytest.param(100, 100, 1, id="single-task-at-100-100"),
    ],
)
def test_a_rollout_respects_maximum_and_minimum_healthy_percent(
    maximum: int, minimum: int, desired: int
) -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired, maximumPercent=maximum, minimumHealthyPercent=minimum)
    register(ecs, "nginx:2")

    ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    highest, lowest = 0, desired
    for _ in range(60):
        ecs.tick()
        service = assert_consistent(ecs)
        highest = max(highest, non_stopped_task_count(ecs))
        lowest = min(lowest, service["runningCount"])
        if len(service["deployments"]) == 1:
            break

    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    # ECS keeps within both bounds, except that at 100%/100% it must replace one task.
    assert highest <= max(desired * maximum // 100, desired)
    assert lowest >= min(-(-desired * minimum // 100), desired - 1)


def test_changing_only_the_desired_count_scales_without_a_new_deployment() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2)
    deployment_id = ecs.service()["deployments"][0]["id"]
    deployments_before = ecs.call("ListServiceDeployments", cluster="prod", service="api")

    ecs.call("UpdateService", cluster="prod", service="api", desiredCount=5)
    scaled_out = roll_until_done(ecs)[-1]
    ecs.call("UpdateService", cluster="prod", service="api", desiredCount=1)
    roll_until_done(ecs)
    # The stopped tasks drain for a few seconds before ECS calls the service steady.
    ecs.tick(3)
    scaled_in = assert_consistent(ecs)

    assert [d["id"] for d in scaled_out["deployments"]] == [deployment_id]
    assert scaled_out["runningCount"] == 5
    assert any(m.startswith("(service api) has started 3 tasks:") for m in messages(scaled_out))
    assert [d["id"] for d in scaled_in["deployments"]] == [deployment_id]
    assert (scaled_in["runningCount"], scaled_in["deployments"][0]["desiredCount"]) == (1, 1)
    assert messages(scaled_in)[0] == "(service api) has reached a steady state."
    assert any(
        m.startswith("(service api) has stopped 4 running tasks:") for m in messages(scaled_in)
    )
    deployments_after = ecs.call("ListServiceDeployments", cluster="prod", service="api")
    assert deployments_after == deployments_before


def test_force_new_deployment_replaces_tasks_on_the_same_task_definition() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2)
    before = ecs.service()

    ecs.call("UpdateService", cluster="prod", service="api", forceNewDeployment=True)
    after = roll_until_done(ecs)[-1]

    assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert after["taskDefinition"] == before["taskDefinition"]
    assert {t["startedBy"] for t in ecs.tasks()} == {after["deployments"][0]["id"]}


def test_a_stopped_service_task_is_replaced() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2)
    victim = ecs.tasks()[0]["taskArn"]

    ecs.call("StopTask", cluster="prod", task=victim, reason="chaos")
    service = roll_until_done(ecs)[-1]

    assert service["runningCount"] == 2
    assert victim not in {task["taskArn"] for task in ecs.tasks()}


# Failures and the circuit breaker.


def test_a_failing_image_is_rolled_back_by_the_circuit_breaker() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2, deploymentCircuitBreaker={"enable": True, "rollback": True})
    good = ecs.service()
    register(ecs, "nginx:broken-1")

    ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    failed_id = ecs.service()["deployments"][0]["id"]
    steps = roll_until_done(ecs)
    service = steps[-1]

    failed = next(
        d
        for step in steps
        for d in step["deployments"]
        if d["id"] == failed_id and d["rolloutState"] == "FAILED"
    )
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] >= 3
    (primary,) = service["deployments"]
    assert primary["taskDefinition"] == good["taskDefinition"]
    assert service["taskDefinition"] == good["taskDefinition"]
    events = messages(service)
    assert (
        f"(service api) (deployment {failed_id}) deployment failed: tasks failed to start."
        in events
    )
    assert f"(service api) rolling back to deployment {primary['id']}." in events
    assert events[0] == "(service api) has reached a steady state."

    tracked = ecs.service_deployment()
    assert tracked["status"] == "ROLLBACK_SUCCESSFUL"
    assert tracked["rollback"]["serviceRevisionArn"] == good["currentServiceRevisions"][0]["arn"]
    assert tracked["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert tracked["deploymentCircuitBreaker"]["failureCount"] >= 3
    crashed = [t for t in ecs.tasks("STOPPED") if t["startedBy"] == failed_id]
    assert crashed
    assert {t["stopCode"] for t in crashed} == {"EssentialContainerExited"}
    assert {t["stoppedReason"] for t in crashed} == {"Essential container in task exited"}
    assert {t["containers"][0]["exitCode"] for t in crashed} == {1}


def test_without_the_circuit_breaker_ecs_keeps_retrying_a_failing_image() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2)
    register(ecs, "nginx:broken-2")

    ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    ecs.tick(30)
    early = ecs.service()["deployments"][0]["failedTasks"]
    ecs.tick(60)
    service = assert_consistent(ecs)

    assert [d["rolloutState"] for d in service["deployments"]] == ["IN_PROGRESS", "COMPLETED"]
    assert service["deployments"][0]["failedTasks"] > early > 0
    assert service["runningCount"] == 2, "the old tasks keep serving"
    assert services_stable_state({"services": [service], "failures": []}) is None
    assert ecs.service_deployment()["status"] == "IN_PROGRESS"


def test_the_circuit_breaker_without_rollback_fails_and_stops_launching() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2, deploymentCircuitBreaker={"enable": True, "rollback": False})
    register(ecs, "nginx:broken-3")

    ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    ecs.tick(30)
    failed_count = ecs.service()["deployments"][0]["failedTasks"]
    ecs.tick(30)
    service = assert_consistent(ecs)

    assert service["deployments"][0]["rolloutState"] == "FAILED"
    # Tasks fail two at a time here, so the count may pass the threshold of 3; it
    # then stays put, as nothing more is launched.
    assert service["deployments"][0]["failedTasks"] == failed_count >= 3
    assert ecs.service_deployment()["status"] == "STOPPED"
    assert service["runningCount"] == 2


@pytest.mark.parametrize(
    ("pattern", "image", "fails"),
    [
        pytest.param("registry/app:bad-*", "registry/app:bad-7", True, id="pattern-match"),
        pytest.param("registry/app:bad-*", "registry/app:good", False, id="pattern-miss"),
        pytest.param(None, "nginx:broken", True, id="default-broken-tag"),
        pytest.param(None, "localhost:5000/broken:1", False, id="broken-name-not-tag"),
    ],
)
def test_failing_images_follow_patterns_and_the_default_broken_tag_rule(
    pattern: str | None, image: str, fails: bool
) -> None:
    ecs = SimulatedEcs()
    ecs.backend.set_failing_images([pattern] if pattern else [])
    ecs.call("CreateCluster", clusterName="prod")
    register(ecs, image)

    started = ecs.call(
        "RunTask",
        cluster="prod",
        taskDefinition="web",
        launchType="FARGATE",
        networkConfiguration=NETWORK,
    )["tasks"][0]
    ecs.tick(5)

    task = ecs.call("DescribeTasks", cluster="prod", tasks=[started["taskArn"]])["tasks"][0]
    assert task["lastStatus"] == ("STOPPED" if fails else "RUNNING")


@pytest.mark.parametrize(
    ("desired", "threshold"),
    [
        pytest.param(1, 3, id="at-least-3"),
        pytest.param(10, 5, id="half"),
        pytest.param(1000, 200, id="at-most-200"),
    ],
)
def test_the_circuit_breaker_threshold_is_half_the_desired_count_within_3_and_200(
    desired: int, threshold: int
) -> None:
    ecs = SimulatedEcs()
    start_service(
        ecs, desired, settle=False, deploymentCircuitBreaker={"enable": True, "rollback": True}
    )

    breaker = ecs.service_deployment()["deploymentCircuitBreaker"]

    assert breaker == {"status": "MONITORING", "failureCount": 0, "threshold": threshold}


# Service deployments.


def test_stopping_a_service_deployment_rolls_it_back() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=2)
    good = ecs.service()["taskDefinition"]
    register(ecs, "nginx:2")
    ecs.call("UpdateService", cluster="prod", service="api", taskDefinition="web")
    ecs.tick(2)
    arn = ecs.service()["currentServiceDeployment"]

    answer = ecs.call("StopServiceDeployment", serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert ecs.service_deployment(arn)["status"] == "ROLLBACK_IN_PROGRESS"
    service = roll_until_done(ecs)[-1]

    assert answer == {"serviceDeploymentArn": arn}
    assert service["taskDefinition"] == good
    assert ecs.service_deployment(arn)["status"] == "ROLLBACK_SUCCESSFUL"
    with pytest.raises(EcsApiError) as refused:
        ecs.backend.handle(REGION, "StopServiceDeployment", {"serviceDeploymentArn": arn})
    assert refused.value.code == "ConflictException"


def test_list_service_deployments_filters_by_status_and_pages_newest_first() -> None:
    ecs = SimulatedEcs()
    start_service(ecs, desired=1)
    for _ in range(3):
        ecs.call("UpdateService", cluster="prod", service="api", forceNewDeployment=True)
        roll_until_done(ecs)

    first = ecs.call("ListServiceDeployments", cluster="prod", service="api", maxResults=3)
    rest = ecs.call(
        "ListServiceDeployments", cluster="prod", service="api", nextToken=first["nextToken"]
    )
    successful = ecs.call(
        "ListServiceDeployments", cluster="prod", service="api", status=["SUCCESSFUL"]
    )

    listed = first["serviceDeployments"] + rest["serviceDeployments"]
    assert len(listed) == 4
    assert "nextToken" not in rest
    created = [item["createdAt"] for item in listed]
    assert created == sorted(created, reverse=True)
    assert listed[0]["serviceDeploymentArn"] == ecs.service()["currentServiceDeployment"]
    assert len(successful["serviceDeployments"]) == 4
    arns = [item["serviceDeploymentArn"] for item in listed]
    assert all(":service-deployment/prod/api/" in arn for arn in arns)


def test_unknown_service_deployments_and_revisions_are_reported_missing() -> None:
    ecs = SimulatedEcs()
    arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/api/nope"

    found = ecs.call("DescribeServiceDeployments", serviceDeploymentArns=[arn])

    assert found == {"serviceDeployments": [], "failures": [{"arn": arn, "reason": "MISSING"}]}
