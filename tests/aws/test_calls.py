"""The AWS layer: calls off the loop, retried when waiting helps, wrapped once."""

from __future__ import annotations

import pytest

from reconciler.aws import Aws, AwsTarget, Pacer, Sessions
from reconciler.aws.calls import RetryPolicy, operation_name
from reconciler.aws.pacing import Rate
from reconciler.errors import PermanentAwsError, Reason, TransientAwsError
from tests.conftest import EmulatorHandle, run_async

US_EAST_1 = AwsTarget("us-east-1")


def test_a_call_returns_what_boto3_returns(aws: Aws, emulator: EmulatorHandle) -> None:
    emulator.client("ssm").put_parameter(Name="/p", Value="v", Type="String")

    response = run_async(aws.call("ssm", "get_parameter", US_EAST_1, Name="/p"))

    assert response["Parameter"]["Value"] == "v"
    assert aws.calls == {"ssm:GetParameter": 1}


def test_throttling_is_retried_and_then_raised_as_transient(
    aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.faults(operations=["ssm:DescribeParameters"], throttle_rate=1.0)

    with pytest.raises(TransientAwsError) as raised:
        run_async(aws.call("ssm", "describe_parameters", US_EAST_1))

    error = raised.value
    assert (error.reason, error.service, error.operation, error.code) == (
        Reason.AWS_THROTTLED,
        "ssm",
        "DescribeParameters",
        "ThrottlingException",
    )
    assert emulator.stats() == {"ssm:DescribeParameters": 4}
    assert aws.throttles["ssm:DescribeParameters"] == 4


def test_a_partly_throttled_call_succeeds_within_the_retry_policy(
    emulator: EmulatorHandle,
) -> None:
    emulator.faults(operations=["ec2:DescribeVpcs"], throttle_rate=0.3)
    layer = Aws(
        Sessions(endpoint_url=emulator.endpoint),
        pacer=Pacer.unlimited(),
        retry=RetryPolicy(attempts=30, base_delay=0.001, max_delay=0.002),
    )

    async def many() -> int:
        for _ in range(20):
            await layer.call("ec2", "describe_vpcs", US_EAST_1)
        return 20

    try:
        assert run_async(many()) == 20
    finally:
        layer.close()
    assert layer.calls["ec2:DescribeVpcs"] > 20  # some were retried


def test_server_errors_are_transient(aws: Aws, emulator: EmulatorHandle) -> None:
    emulator.faults(operations=["ec2:DescribeVpcs"], error_rate=1.0)
    with pytest.raises(TransientAwsError) as raised:
        run_async(aws.call("ec2", "describe_vpcs", US_EAST_1))
    assert raised.value.reason is Reason.AWS_UNAVAILABLE


def test_a_missing_resource_is_permanent_and_not_retried(
    aws: Aws, emulator: EmulatorHandle
) -> None:
    with pytest.raises(PermanentAwsError) as raised:
        run_async(aws.call("ssm", "get_parameter", US_EAST_1, Name="/missing"))

    assert raised.value.reason is Reason.AWS_NOT_FOUND
    assert raised.value.code == "ParameterNotFound"
    assert "ssm:GetParameter failed with ParameterNotFound" in str(raised.value)
    assert emulator.stats() == {"ssm:GetParameter": 1}


def test_an_invalid_request_is_rejected_before_it_is_sent(
    aws: Aws, emulator: EmulatorHandle
) -> None:
    with pytest.raises(PermanentAwsError) as raised:
        run_async(aws.call("ssm", "get_parameter", US_EAST_1))
    assert raised.value.code == "ParamValidationError"
    assert emulator.stats() == {}


def test_paginate_follows_every_page(aws: Aws, emulator: EmulatorHandle) -> None:
    secrets = emulator.client("secretsmanager")
    for index in range(7):
        secrets.create_secret(Name=f"many-{index}", SecretString="x")
    emulator.reset_stats()

    listed = run_async(
        aws.paginate("secretsmanager", "list_secrets", US_EAST_1, "SecretList", MaxResults=3)
    )

    assert sorted(s["Name"] for s in listed) == [f"many-{i}" for i in range(7)]
    assert emulator.stats() == {"secretsmanager:ListSecrets": 3}


def test_an_unreachable_endpoint_is_transient() -> None:
    layer = Aws(
        Sessions(endpoint_url="http://127.0.0.1:9"),
        pacer=Pacer.unlimited(),
        retry=RetryPolicy(attempts=1),
    )
    try:
        with pytest.raises(TransientAwsError) as raised:
            run_async(layer.call("ssm", "describe_parameters", US_EAST_1))
    finally:
        layer.close()
    assert raised.value.reason is Reason.AWS_UNAVAILABLE


@pytest.mark.parametrize(
    ("method", "operation"),
    [
        ("describe_services", "DescribeServices"),
        ("list_service_deployments", "ListServiceDeployments"),
        ("get_caller_identity", "GetCallerIdentity"),
    ],
)
def test_operation_names_follow_aws(method: str, operation: str) -> None:
    assert operation_name(method) == operation


def test_the_pacer_spreads_calls_beyond_the_burst() -> None:
    now = [0.0]
    slept: list[float] = []
    pacer = Pacer({("ecs", "read"): Rate(per_second=10.0, burst=2)}, now=lambda: now[0])

    async def take_five() -> None:
        import asyncio

        real_sleep = asyncio.sleep

        async def fake_sleep(delay: float) -> None:
            slept.append(delay)
            now[0] += delay
            await real_sleep(0)

        asyncio.sleep = fake_sleep  # type: ignore[assignment]
        try:
            for _ in range(5):
                await pacer.take("ecs", "DescribeServices")
        finally:
            asyncio.sleep = real_sleep  # type: ignore[assignment]

    run_async(take_five())

    # Two calls ride the burst; the other three wait a tenth of a second each.
    assert slept == pytest.approx([0.1, 0.1, 0.1])
