"""The emulator's ECS API as boto3 sees it over HTTP: types, errors, paginators, waiters.

Simulated time moves only through ``emulator.tick``; the waiter is asked once
per step (Delay 0, one attempt), so no test waits on the wall clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import EmulatorHandle

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0a"], "securityGroups": ["sg-0a"]}}
ONCE = {"Delay": 0, "MaxAttempts": 1}


@pytest.fixture
def ecs(emulator: EmulatorHandle) -> Any:
    client = emulator.client("ecs")
    client.create_cluster(clusterName="prod")
    return client


def register(ecs: Any, image: str) -> str:
    arn: str = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="0.25 vCPU",
        memory="0.5 GB",
        containerDefinitions=[{"name": "web", "image": image}],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def create_service(ecs: Any, name: str = "api", count: int = 2) -> dict[str, Any]:
    service: dict[str, Any] = ecs.create_service(
        cluster="prod",
        serviceName=name,
        taskDefinition="web",
        desiredCount=count,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
    )["service"]
    return service


def ticks_until_stable(emulator: EmulatorHandle, ecs: Any, limit: int = 60) -> int:
    """Tick one simulated second at a time until services_stable accepts; the ticks taken."""
    waiter = ecs.get_waiter("services_stable")
    for taken in range(1, limit + 1):
        emulator.tick(1)
        try:
            waiter.wait(cluster="prod", services=["api"], WaiterConfig=ONCE)
        except WaiterError:
            continue
        return taken
    pytest.fail(f"services_stable never accepted in {limit} simulated seconds")


def test_timestamps_read_back_as_datetimes_and_sizes_as_aws_stores_them(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    register(ecs, "nginx:1")
    create_service(ecs)

    definition = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    service = ecs.describe_services(cluster="prod", services=["api"])["services"][0]

    assert isinstance(definition["registeredAt"], datetime)
    assert isinstance(service["createdAt"], datetime)
    assert isinstance(service["deployments"][0]["createdAt"], datetime)
    assert (definition["cpu"], definition["memory"]) == ("256", "512")


def test_errors_arrive_as_the_modelled_boto3_exceptions(emulator: EmulatorHandle, ecs: Any) -> None:
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(cluster="prod", service="ghost", desiredCount=1)
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_services(cluster="nowhere")


def test_an_unknown_enum_value_boto3_lets_through_is_refused_by_the_emulator(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    register(ecs, "nginx:1")

    with pytest.raises(ClientError) as refused:
        ecs.create_service(
            cluster="prod",
            serviceName="api",
            taskDefinition="web",
            desiredCount=1,
            launchType="FARGATES",
            networkConfiguration=NETWORK,
        )

    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "launchType" in refused.value.response["Error"]["Message"]


def test_boto3_paginators_reach_every_service_and_task_definition(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    for _ in range(12):
        register(ecs, "nginx:1")
    for index in range(23):
        create_service(ecs, name=f"svc-{index}", count=0)

    services = [
        arn
        for page in ecs.get_paginator("list_services").paginate(cluster="prod")
        for arn in page["serviceArns"]
    ]
    definitions = [
        arn
        for page in ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix="web", PaginationConfig={"PageSize": 5}
        )
        for arn in page["taskDefinitionArns"]
    ]

    assert len(set(services)) == 23
    assert [arn.rsplit(":", 1)[1] for arn in definitions] == [str(n) for n in range(1, 13)]


def test_a_rolling_update_satisfies_services_stable_only_once_it_is_done(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    register(ecs, "nginx:1")
    create_service(ecs)
    ticks_until_stable(emulator, ecs)
    register(ecs, "nginx:2")

    ecs.update_service(cluster="prod", service="api", taskDefinition="web")
    taken = ticks_until_stable(emulator, ecs)

    service = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert taken > 3, "the rollout took several simulated seconds"
    (deployment,) = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["taskDefinition"].endswith("web:2")
    assert service["events"][0]["message"] == "(service api) has reached a steady state."


def test_scaling_over_http_keeps_the_deployment_and_its_service_deployment(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    register(ecs, "nginx:1")
    create_service(ecs)
    ticks_until_stable(emulator, ecs)
    before = ecs.describe_services(cluster="prod", services=["api"])["services"][0]

    ecs.update_service(cluster="prod", service="api", desiredCount=4)
    ticks_until_stable(emulator, ecs)

    after = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
    assert after["currentServiceDeployment"] == before["currentServiceDeployment"]
    assert after["runningCount"] == 4
    running = ecs.list_tasks(cluster="prod", serviceName="api", desiredStatus="RUNNING")
    assert len(running["taskArns"]) == 4


def test_stopping_a_service_deployment_over_http_rolls_back_to_the_last_revision(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    first = register(ecs, "nginx:1")
    create_service(ecs)
    ticks_until_stable(emulator, ecs)
    register(ecs, "nginx:2")
    ecs.update_service(cluster="prod", service="api", taskDefinition="web")
    emulator.tick(2)
    listed = ecs.list_service_deployments(cluster="prod", service="api")["serviceDeployments"]
    current = listed[0]["serviceDeploymentArn"]

    ecs.stop_service_deployment(serviceDeploymentArn=current, stopType="ROLLBACK")
    ticks_until_stable(emulator, ecs)

    described = ecs.describe_service_deployments(serviceDeploymentArns=[current])
    tracked = described["serviceDeployments"][0]
    assert tracked["status"] == "ROLLBACK_SUCCESSFUL"
    revisions = ecs.describe_service_revisions(
        serviceRevisionArns=[tracked["rollback"]["serviceRevisionArn"]]
    )["serviceRevisions"]
    assert revisions[0]["taskDefinition"] == first
    service = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert service["taskDefinition"] == first


def test_tags_round_trip_over_http(emulator: EmulatorHandle, ecs: Any) -> None:
    register(ecs, "nginx:1")
    arn = create_service(ecs)["serviceArn"]

    ecs.tag_resource(resourceArn=arn, tags=[{"key": "gitops:owner", "value": "repo@main"}])

    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "gitops:owner", "value": "repo@main"}
    ]
    described = ecs.describe_services(cluster="prod", services=["api"], include=["TAGS"])
    assert described["services"][0]["tags"] == [{"key": "gitops:owner", "value": "repo@main"}]
