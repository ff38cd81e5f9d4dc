"""The live stage reads many units with the fewest calls, and one unit's failure hides no other."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import Reason
from reconciler.live import LiveRequest, TaskDefinitionCache, fetch_live
from reconciler.model import TAG_DIGEST, TAG_TASK_DEFINITION
from tests.conftest import EmulatorHandle, run_async

US_EAST_1 = AwsTarget("us-east-1")
DIGEST = "v1:0123abcd"


def make_fleet(emulator: EmulatorHandle, count: int, *, tagged: bool = True) -> str:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    arn: str = ecs.register_task_definition(
        family="app",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27"}],
    )["taskDefinition"]["taskDefinitionArn"]
    tags = [{"key": TAG_DIGEST, "value": DIGEST}, {"key": TAG_TASK_DEFINITION, "value": arn}]
    for index in range(count):
        ecs.create_service(
            cluster="prod",
            serviceName=f"svc-{index:04d}",
            taskDefinition=arn,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
            tags=tags if tagged else [],
        )
    return arn


def requests_for(count: int, digest: str | None = DIGEST) -> list[LiveRequest]:
    return [
        LiveRequest(f"svc-{i:04d}", US_EAST_1, "prod", f"svc-{i:04d}", desired_digest=digest)
        for i in range(count)
    ]


def budget(count: int) -> int:
    return math.ceil(count / 10) + math.ceil(count / 50) + 2


def test_reading_120_services_stays_within_the_call_budget_cold_and_warm(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    make_fleet(emulator, 120)
    scaling = emulator.client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/prod/svc-0007",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=9,
    )
    cache = TaskDefinitionCache()
    emulator.reset_stats()

    cold = run_async(fetch_live(aws, requests_for(120), cache))
    cold_calls = sum(emulator.stats().values())
    emulator.reset_stats()
    warm = run_async(fetch_live(aws, requests_for(120), cache))
    warm_calls = sum(emulator.stats().values())

    assert cold_calls <= budget(120)
    assert warm_calls <= budget(120)
    assert all(r.live is not None and r.live.exists for r in cold + warm)
    assert all(r.live is not None and r.live.task_definition_reused for r in cold)
    target = next(r.live.scalable_target for r in cold if r.unit_id == "svc-0007" and r.live)
    assert target is not None
    assert (target.min, target.max) == (2, 9)


def test_a_task_definition_git_does_not_vouch_for_is_described_once_and_cached(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    arn = make_fleet(emulator, 12, tagged=False)
    cache = TaskDefinitionCache()
    emulator.reset_stats()

    first = run_async(fetch_live(aws, requests_for(12, digest="v1:other"), cache))
    assert emulator.stats()["ecs:DescribeTaskDefinition"] == 1
    emulator.reset_stats()
    run_async(fetch_live(aws, requests_for(12, digest="v1:other"), cache))

    assert "ecs:DescribeTaskDefinition" not in emulator.stats()
    live = first[0].live
    assert live is not None
    assert live.task_definition is not None
    assert live.task_definition_arn == arn
    assert live.task_definition["containerDefinitions"][0]["image"] == "nginx:1.27"


def test_a_missing_service_is_reported_as_missing_not_as_an_error(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    make_fleet(emulator, 1)
    requests = [
        *requests_for(1),
        LiveRequest("new", US_EAST_1, "prod", "not-created-yet", desired_digest=DIGEST),
    ]

    results = run_async(fetch_live(aws, requests))

    assert [(r.unit_id, r.error, r.live is not None and r.live.exists) for r in results] == [
        ("svc-0000", None, True),
        ("new", None, False),
    ]


def test_a_failing_cluster_fails_only_its_own_units(emulator: EmulatorHandle, aws: Aws) -> None:
    make_fleet(emulator, 2)
    requests: list[Any] = [
        *requests_for(2),
        LiveRequest("lost", US_EAST_1, "no-such-cluster", "api", desired_digest=DIGEST),
    ]

    results = {r.unit_id: r for r in run_async(fetch_live(aws, requests))}

    assert results["svc-0000"].error is None
    assert results["svc-0001"].error is None
    error = results["lost"].error
    assert error is not None
    assert error.reason is Reason.AWS_NOT_FOUND
    assert "ClusterNotFoundException" in str(error)


@pytest.mark.parametrize("throttle_rate", [0.3], ids=["30-percent-throttled"])
def test_throttling_costs_retries_not_failed_units(
    emulator: EmulatorHandle, aws: Aws, throttle_rate: float
) -> None:
    make_fleet(emulator, 30)
    emulator.faults(operations=["ecs:DescribeServices"], throttle_rate=throttle_rate)
    patient = Aws(
        aws.sessions,
        pacer=aws.pacer,
        retry=aws.retry.__class__(attempts=40, base_delay=0.001, max_delay=0.002),
    )
    try:
        results = run_async(fetch_live(patient, requests_for(30)))
    finally:
        patient.close()
    assert all(r.error is None for r in results)
