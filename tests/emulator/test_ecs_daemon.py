"""DAEMON services and container instances in the emulator, through boto3 over HTTP.

Every step of a rollout checks what a user can read: one task per instance,
never two of the service on one instance, and counts that agree between
DescribeServices, ListTasks, DescribeTasks and DescribeContainerInstances.
"""

from __future__ import annotations

import urllib.error
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EmulatorHandle
from tests.emulator.test_ecs_rollouts import services_stable_state


def seed_cluster(emulator: EmulatorHandle, instances: int | None = None, **extra: Any) -> Any:
    cluster: dict[str, Any] = {"name": "prod", **extra}
    if instances is not None:
        cluster["instances"] = instances
    emulator.seed({"clusters": [cluster]})
    return emulator.client("ecs")


def register(ecs: Any, image: str) -> str:
    arn: str = ecs.register_task_definition(
        family="log-router",
        networkMode="bridge",
        containerDefinitions=[
            {"name": "router", "image": image, "memory": 128, "cpu": 64},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def create_daemon(ecs: Any, task_definition: str, **settings: Any) -> dict[str, Any]:
    service: dict[str, Any] = ecs.create_service(
        cluster="prod",
        serviceName="log-router",
        taskDefinition=task_definition,
        schedulingStrategy="DAEMON",
        **{"launchType": "EC2", **settings},
    )["service"]
    return service


def describe(ecs: Any) -> dict[str, Any]:
    service: dict[str, Any] = ecs.describe_services(cluster="prod", services=["log-router"])[
        "services"
    ][0]
    return service


def live_tasks(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster="prod", serviceName="log-router")["taskArns"]
    if not arns:
        return []
    tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    return tasks


def instance_arns(ecs: Any) -> list[str]:
    arns: list[str] = ecs.list_container_instances(cluster="prod")["containerInstanceArns"]
    return arns


def assert_one_task_per_instance_at_most(ecs: Any) -> dict[str, Any]:
    """Check what a user reads agrees, and return the service as described."""
    service = describe(ecs)
    tasks = live_tasks(ecs)
    not_stopped = [t for t in tasks if t["lastStatus"] != "STOPPED"]
    # Tasks being stopped have desiredStatus STOPPED: list them too.
    stopped_arns = ecs.list_tasks(
        cluster="prod", serviceName="log-router", desiredStatus="STOPPED"
    )["taskArns"]
    if stopped_arns:
        stopping = ecs.describe_tasks(cluster="prod", tasks=stopped_arns)["tasks"]
        not_stopped += [t for t in stopping if t["lastStatus"] != "STOPPED"]
    per_instance = Counter(t["containerInstanceArn"] for t in not_stopped)
    assert all(count == 1 for count in per_instance.values()), per_instance
    # Tasks wanted running are on listed instances (a deregistered one may hold a stopping task).
    assert {t["containerInstanceArn"] for t in tasks} <= set(instance_arns(ecs))

    running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
    assert service["runningCount"] == len(running)
    assert service["runningCount"] == sum(d["runningCount"] for d in service["deployments"])
    assert service["pendingCount"] == sum(d["pendingCount"] for d in service["deployments"])
    return service


def settle(emulator: EmulatorHandle, ecs: Any, limit: int = 300) -> dict[str, Any]:
    """Tick one second at a time until one deployment is left and it is not in progress."""
    for _ in range(limit):
        service = assert_one_task_per_instance_at_most(ecs)
        deployments = service["deployments"]
        done = len(deployments) == 1 and deployments[0]["rolloutState"] != "IN_PROGRESS"
        if done and service["runningCount"] == service["desiredCount"]:
            return service
        emulator.tick(1)
    raise AssertionError(f"the daemon did not settle within {limit} simulated seconds")


def messages(service: dict[str, Any]) -> list[str]:
    return [event["message"] for event in reversed(service["events"])]


# Container instances.


def test_a_cluster_without_instances_asked_for_has_two(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator)

    arns = instance_arns(ecs)

    assert len(arns) == 2
    assert all(":container-instance/prod/" in arn for arn in arns)
    cluster = ecs.describe_clusters(clusters=["prod"])["clusters"][0]
    assert cluster["registeredContainerInstancesCount"] == 2


def test_container_instances_are_described_as_ecs_describes_them(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=3)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)

    described = ecs.describe_container_instances(
        cluster="prod", containerInstances=[*instance_arns(ecs), "nope"]
    )

    instances = described["containerInstances"]
    assert len(instances) == 3
    assert len({instance["ec2InstanceId"] for instance in instances}) == 3
    for instance in instances:
        assert instance["status"] == "ACTIVE"
        assert instance["agentConnected"] is True
        assert instance["ec2InstanceId"].startswith("i-")
        assert (instance["runningTasksCount"], instance["pendingTasksCount"]) == (1, 0)
        registered = {r["name"]: r for r in instance["registeredResources"]}
        remaining = {r["name"]: r for r in instance["remainingResources"]}
        assert registered["CPU"]["integerValue"] - remaining["CPU"]["integerValue"] == 64
        assert registered["MEMORY"]["integerValue"] - remaining["MEMORY"]["integerValue"] == 128
    assert described["failures"] == [
        {
            "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/nope",
            "reason": "MISSING",
        }
    ]


def test_replica_tasks_on_ec2_are_spread_over_the_instances(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator, instances=2)
    ecs.create_service(
        cluster="prod",
        serviceName="log-router",
        taskDefinition=register(ecs, "fluent/fluent-bit:3.0"),
        desiredCount=4,
        launchType="EC2",
    )
    emulator.tick(10)

    placed = Counter(task["containerInstanceArn"] for task in live_tasks(ecs))

    assert sorted(placed.values()) == [2, 2]
    assert set(placed) == set(instance_arns(ecs))


def test_list_tasks_filters_by_container_instance(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator, instances=3)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)
    first = instance_arns(ecs)[0]

    found = ecs.list_tasks(cluster="prod", containerInstance=first)["taskArns"]

    described = ecs.describe_tasks(cluster="prod", tasks=found)["tasks"]
    assert [task["containerInstanceArn"] for task in described] == [first]


def test_a_filtered_instance_listing_is_refused_rather_than_answered_wrongly(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator)

    with pytest.raises(ClientError) as raised:
        ecs.list_container_instances(cluster="prod", filter="attribute:ecs.instance-type == x")

    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "cluster query language" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("instances", "says"),
    [
        pytest.param(-1, "0 or more", id="negative"),
        pytest.param("three", "whole number", id="not-a-number"),
    ],
)
def test_a_bad_instance_count_in_the_seed_is_refused(
    emulator: EmulatorHandle, instances: Any, says: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        emulator.seed({"clusters": [{"name": "prod", "instances": instances}]})

    assert raised.value.code == 400
    assert says in raised.value.read().decode()


# Creating a DAEMON service.


def test_a_daemon_service_runs_one_task_on_each_instance_and_reaches_a_steady_state(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=3)

    created = create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    service = settle(emulator, ecs)

    assert created["desiredCount"] == 3
    assert (service["desiredCount"], service["runningCount"]) == (3, 3)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    tasks = live_tasks(ecs)
    assert sorted(task["containerInstanceArn"] for task in tasks) == sorted(instance_arns(ecs))
    assert {task["launchType"] for task in tasks} == {"EC2"}
    assert messages(service)[-1] == "(service log-router) has reached a steady state."
    assert services_stable_state(ecs.describe_services(cluster="prod", services=["log-router"]))
    assert ecs.list_services(cluster="prod", schedulingStrategy="DAEMON")["serviceArns"] == [
        service["serviceArn"]
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, (100, 0), id="daemon-defaults"),
        pytest.param({"minimumHealthyPercent": 50}, (100, 50), id="minimum-given"),
    ],
)
def test_a_daemon_service_gets_the_daemon_deployment_defaults(
    emulator: EmulatorHandle, given: dict[str, int], expected: tuple[int, int]
) -> None:
    ecs = seed_cluster(emulator)

    service = create_daemon(
        ecs, register(ecs, "fluent/fluent-bit:3.0"), deploymentConfiguration=given
    )

    config = service["deploymentConfiguration"]
    assert (config["maximumPercent"], config["minimumHealthyPercent"]) == expected
    assert config["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    assert service["schedulingStrategy"] == "DAEMON"


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        pytest.param({"desiredCount": 2}, "does not support a desired count", id="desired-count"),
        pytest.param(
            {"launchType": "FARGATE"},
            "DAEMON scheduling strategy is not supported with FARGATE launch type",
            id="fargate",
        ),
        pytest.param(
            {"placementStrategy": [{"type": "spread", "field": "instanceId"}]},
            "does not support placement strategies",
            id="placement-strategy",
        ),
        pytest.param(
            {"launchType": None, "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
            "Specifying a capacity provider strategy is not supported",
            id="capacity-provider-strategy",
        ),
        pytest.param(
            {"deploymentController": {"type": "CODE_DEPLOY"}},
            "does not support the DAEMON scheduling strategy",
            id="code-deploy",
        ),
    ],
)
def test_a_daemon_service_is_refused_what_ecs_refuses_it(
    emulator: EmulatorHandle, settings: dict[str, Any], says: str
) -> None:
    ecs = seed_cluster(emulator)
    request = {"launchType": "EC2", **settings}
    request = {key: value for key, value in request.items() if value is not None}

    with pytest.raises(ClientError) as raised:
        ecs.create_service(
            cluster="prod",
            serviceName="log-router",
            taskDefinition=register(ecs, "fluent/fluent-bit:3.0"),
            schedulingStrategy="DAEMON",
            **request,
        )

    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert says in raised.value.response["Error"]["Message"]
    assert ecs.list_services(cluster="prod")["serviceArns"] == []


def test_a_daemon_without_a_launch_type_is_refused_on_a_cluster_with_a_default_strategy(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, capacity_providers=["FARGATE"])

    with pytest.raises(ClientError) as raised:
        ecs.create_service(
            cluster="prod",
            serviceName="log-router",
            taskDefinition=register(ecs, "fluent/fluent-bit:3.0"),
            schedulingStrategy="DAEMON",
        )

    assert "capacity provider strategy" in raised.value.response["Error"]["Message"]


def test_a_daemon_service_refuses_a_desired_count_on_update(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)

    with pytest.raises(ClientError) as raised:
        ecs.update_service(cluster="prod", service="log-router", desiredCount=5)

    assert "does not support a desired count" in raised.value.response["Error"]["Message"]
    assert describe(ecs)["desiredCount"] == 2


# Rolling a DAEMON service.


def test_a_new_image_replaces_each_instances_task_stopping_the_old_one_first(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=3)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)
    old_tasks = {task["taskArn"] for task in live_tasks(ecs)}

    updated = ecs.update_service(
        cluster="prod",
        service="log-router",
        taskDefinition=register(ecs, "fluent/fluent-bit:3.1"),
    )["service"]
    service = settle(emulator, ecs)

    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["taskDefinition"].endswith("log-router:2")
    tasks = live_tasks(ecs)
    assert {task["taskDefinitionArn"] for task in tasks} == {service["taskDefinition"]}
    assert sorted(task["containerInstanceArn"] for task in tasks) == sorted(instance_arns(ecs))
    assert not old_tasks & {task["taskArn"] for task in tasks}
    rollout = messages(service)[-4:]
    assert rollout[0].startswith("(service log-router) has stopped 3 running tasks:")
    assert rollout[1].startswith("(service log-router) has started 3 tasks:")
    assert rollout[2].endswith("deployment completed.")
    assert rollout[3] == "(service log-router) has reached a steady state."
    stopped = ecs.describe_tasks(cluster="prod", tasks=sorted(old_tasks))["tasks"]
    assert {task["stopCode"] for task in stopped} == {"ServiceSchedulerInitiated"}
    tracked = ecs.describe_service_deployments(
        serviceDeploymentArns=[service["currentServiceDeployment"]]
    )["serviceDeployments"][0]
    assert tracked["status"] == "SUCCESSFUL"


def test_a_minimum_healthy_percent_keeps_that_many_daemon_tasks_running_during_a_rollout(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=4)
    create_daemon(
        ecs,
        register(ecs, "fluent/fluent-bit:3.0"),
        deploymentConfiguration={"minimumHealthyPercent": 50},
    )
    settle(emulator, ecs)
    ecs.update_service(
        cluster="prod", service="log-router", taskDefinition=register(ecs, "fluent/fluent-bit:3.1")
    )

    lowest = 4
    for _ in range(120):
        service = assert_one_task_per_instance_at_most(ecs)
        lowest = min(lowest, service["runningCount"])
        if len(service["deployments"]) == 1:
            break
        emulator.tick(1)

    assert lowest == 2
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["runningCount"] == 4


def test_a_failing_daemon_image_is_rolled_back_by_the_circuit_breaker(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=2)
    first = register(ecs, "fluent/fluent-bit:3.0")
    create_daemon(
        ecs,
        first,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    settle(emulator, ecs)
    emulator.fail_images("fluent/fluent-bit:3.1")

    updated = ecs.update_service(
        cluster="prod", service="log-router", taskDefinition=register(ecs, "fluent/fluent-bit:3.1")
    )["service"]
    service = settle(emulator, ecs)

    failed = ecs.describe_service_deployments(
        serviceDeploymentArns=[updated["currentServiceDeployment"]]
    )["serviceDeployments"][0]
    assert failed["status"] == "ROLLBACK_SUCCESSFUL"
    assert failed["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert service["taskDefinition"] == first
    assert (service["desiredCount"], service["runningCount"]) == (2, 2)
    assert {task["taskDefinitionArn"] for task in live_tasks(ecs)} == {first}
    said = "\n".join(messages(service))
    assert "deployment failed: tasks failed to start." in said
    assert "rolling back to deployment" in said


def test_a_daemon_follows_instances_added_and_removed_without_a_new_deployment(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=2)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    deployment = settle(emulator, ecs)["deployments"][0]["id"]

    seed_cluster(emulator, instances=4)
    grown = settle(emulator, ecs)
    seed_cluster(emulator, instances=1)
    shrunk = settle(emulator, ecs)

    assert (grown["desiredCount"], grown["runningCount"]) == (4, 4)
    assert (shrunk["desiredCount"], shrunk["runningCount"]) == (1, 1)
    assert [d["id"] for d in shrunk["deployments"]] == [deployment]
    assert [task["containerInstanceArn"] for task in live_tasks(ecs)] == instance_arns(ecs)
    assert messages(shrunk)[-1] == "(service log-router) has reached a steady state."


def test_a_cluster_with_no_instances_runs_its_daemon_on_none_and_is_steady(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator, instances=0)

    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    service = settle(emulator, ecs)

    assert (service["desiredCount"], service["runningCount"]) == (0, 0)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"


def test_a_daemon_service_is_deleted_without_scaling_it_in_first(
    emulator: EmulatorHandle,
) -> None:
    ecs = seed_cluster(emulator)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)

    ecs.delete_service(cluster="prod", service="log-router")
    emulator.tick(10)

    assert describe(ecs)["status"] == "INACTIVE"
    assert live_tasks(ecs) == []


def test_a_stopped_daemon_task_is_replaced_on_its_own_instance(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator, instances=3)
    create_daemon(ecs, register(ecs, "fluent/fluent-bit:3.0"))
    settle(emulator, ecs)
    victim = live_tasks(ecs)[0]

    ecs.stop_task(cluster="prod", task=victim["taskArn"], reason="testing the daemon")
    service = settle(emulator, ecs)

    replacements = [
        task
        for task in live_tasks(ecs)
        if task["containerInstanceArn"] == victim["containerInstanceArn"]
    ]
    assert [task["taskArn"] for task in replacements] != [victim["taskArn"]]
    assert len(replacements) == 1
    assert service["runningCount"] == 3


def test_a_task_run_on_ec2_is_placed_on_an_instance(emulator: EmulatorHandle) -> None:
    ecs = seed_cluster(emulator, instances=2)

    task = ecs.run_task(
        cluster="prod", taskDefinition=register(ecs, "fluent/fluent-bit:3.0"), launchType="EC2"
    )["tasks"][0]

    assert task["containerInstanceArn"] in instance_arns(ecs)
