"""ECS rollouts in the emulator, driven through boto3 over HTTP as the reconciler drives them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EmulatorHandle

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0a"], "securityGroups": ["sg-0a"]}}


def register(ecs: Any, image: str, family: str = "web") -> str:
    arn: str = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "web", "image": image, "portMappings": [{"containerPort": 8080}]}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def create_service(ecs: Any, name: str, task_definition: str, count: int = 4) -> None:
    ecs.create_service(
        cluster="prod",
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=count,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
    )


def describe(ecs: Any, name: str = "web") -> dict[str, Any]:
    service: dict[str, Any] = ecs.describe_services(cluster="prod", services=[name])["services"][0]
    return service


def settle(emulator: EmulatorHandle, ecs: Any, name: str = "web", limit: int = 600) -> None:
    """Advance simulated time until the service has one deployment, checking counts."""
    for _ in range(limit // 5):
        service = describe(ecs, name)
        assert_counts_agree(ecs, service)
        if len(service["deployments"]) == 1 and (
            service["deployments"][0]["rolloutState"] != "IN_PROGRESS"
        ):
            return
        emulator.tick(5)
    raise AssertionError(f"{name} did not settle in {limit} simulated seconds")


def assert_counts_agree(ecs: Any, service: dict[str, Any]) -> None:
    arns = ecs.list_tasks(cluster="prod", serviceName=service["serviceName"])["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
    running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
    assert service["runningCount"] == len(running)
    assert service["runningCount"] == sum(d["runningCount"] for d in service["deployments"])
    assert service["pendingCount"] == sum(d["pendingCount"] for d in service["deployments"])


@pytest.fixture
def ecs(emulator: EmulatorHandle) -> Any:
    client = emulator.client("ecs")
    client.create_cluster(clusterName="prod")
    return client


def test_a_rolling_update_completes_after_ticks_with_consistent_counts(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    create_service(ecs, "web", register(ecs, "nginx:1.27"))
    settle(emulator, ecs)
    v2 = register(ecs, "nginx:1.28")

    ecs.update_service(cluster="prod", service="web", taskDefinition=v2)
    during = describe(ecs)
    assert [d["status"] for d in during["deployments"]] == ["PRIMARY", "ACTIVE"]
    settle(emulator, ecs)

    service = describe(ecs)
    assert service["taskDefinition"] == v2
    assert service["runningCount"] == 4
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert "has reached a steady state" in service["events"][0]["message"]
    arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    assert {t["taskDefinitionArn"] for t in tasks} == {v2}
    deployments = ecs.list_service_deployments(cluster="prod", service="web")
    statuses = [d["status"] for d in deployments["serviceDeployments"]]
    assert statuses.count("SUCCESSFUL") == 2
    ecs.get_waiter("services_stable").wait(
        cluster="prod", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 1}
    )


def test_the_stable_waiter_refuses_while_a_rollout_is_in_progress(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    create_service(ecs, "web", register(ecs, "nginx:1.27"))
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError):
        ecs.get_waiter("services_stable").wait(
            cluster="prod", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 1}
        )


def test_a_failing_image_is_rolled_back_by_the_circuit_breaker(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    v1 = register(ecs, "nginx:1.27")
    create_service(ecs, "web", v1)
    settle(emulator, ecs)
    emulator.fail_images("nginx:1.99-*")

    ecs.update_service(cluster="prod", service="web", taskDefinition=register(ecs, "nginx:1.99-rc"))
    settle(emulator, ecs, limit=1800)

    service = describe(ecs)
    assert service["taskDefinition"] == v1
    assert service["runningCount"] == 4
    messages = " | ".join(e["message"] for e in service["events"])
    assert "circuit breaker" in messages or "failed" in messages
    assert "rolling back" in messages
    stopped = ecs.list_tasks(cluster="prod", serviceName="web", desiredStatus="STOPPED")
    reasons = {
        t["stoppedReason"]
        for t in ecs.describe_tasks(cluster="prod", tasks=stopped["taskArns"][:100])["tasks"]
        if t["taskDefinitionArn"] != v1
    }
    assert reasons == {"Essential container in task exited"}


def test_describe_services_refuses_more_than_ten_names(emulator: EmulatorHandle, ecs: Any) -> None:
    with pytest.raises(ClientError) as raised:
        ecs.describe_services(cluster="prod", services=[f"s{i}" for i in range(11)])
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_injected_throttling_of_describe_services_is_a_throttling_exception(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    emulator.faults(operations=["ecs:DescribeServices"], throttle_rate=1.0)
    with pytest.raises(ClientError) as raised:
        ecs.describe_services(cluster="prod", services=["web"])
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert ecs.list_clusters()["clusterArns"]  # other operations go through


def test_stats_count_ecs_calls(emulator: EmulatorHandle, ecs: Any) -> None:
    emulator.reset_stats()
    ecs.list_clusters()
    ecs.describe_clusters(clusters=["prod"])
    assert emulator.stats() == {"ecs:ListClusters": 1, "ecs:DescribeClusters": 1}


def test_auto_scaling_targets_can_be_registered_for_emulated_services(
    emulator: EmulatorHandle, ecs: Any
) -> None:
    create_service(ecs, "web", register(ecs, "nginx:1.27"))
    scaling = emulator.client("application-autoscaling")

    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/prod/web",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=10,
    )
    with pytest.raises(ClientError, match="ECS service doesn't exist"):
        scaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId="service/prod/missing",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=1,
            MaxCapacity=2,
        )

    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("service/prod/web", 2, 10)
    ]
