"""The emulator's control endpoints, driven through HTTP as tests and the demo drive them."""

from __future__ import annotations

import threading
import urllib.error

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EmulatorHandle


def test_stats_count_every_call_by_service_and_operation(emulator: EmulatorHandle) -> None:
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/a", Value="1", Type="String")
    ssm.get_parameter(Name="/a")
    ssm.get_parameter(Name="/a")
    emulator.client("ec2").describe_vpcs()
    emulator.client("sts").get_caller_identity()

    calls = emulator.stats()

    assert calls == {
        "ssm:PutParameter": 1,
        "ssm:GetParameter": 2,
        "ec2:DescribeVpcs": 1,
        "sts:GetCallerIdentity": 1,
    }


def test_stats_reset_zeroes_the_counts(emulator: EmulatorHandle) -> None:
    emulator.client("ec2").describe_vpcs()
    emulator.reset_stats()
    assert emulator.stats() == {}


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        pytest.param("ssm", lambda c: c.describe_parameters(), "ThrottlingException", id="json"),
        pytest.param("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded", id="ec2-query"),
        pytest.param("sts", lambda c: c.get_caller_identity(), "Throttling", id="query"),
        pytest.param("s3", lambda c: c.list_buckets(), "SlowDown", id="rest-xml"),
    ],
)
def test_injected_throttling_is_raised_as_aws_raises_it(
    emulator: EmulatorHandle, service: str, call: object, code: str
) -> None:
    emulator.faults(operations="all", throttle_rate=1.0)

    with pytest.raises(ClientError) as raised:
        call(emulator.client(service))  # type: ignore[operator]

    assert raised.value.response["Error"]["Code"] == code


def test_faults_apply_only_to_the_operations_they_name(emulator: EmulatorHandle) -> None:
    emulator.faults(operations=["ssm:GetParameter"], error_rate=1.0)
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/b", Value="1", Type="String")

    with pytest.raises(ClientError) as raised:
        ssm.get_parameter(Name="/b")

    assert raised.value.response["Error"]["Code"] == "InternalFailure"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert emulator.control("GET", "stats")["faulted"] == {"ssm:GetParameter": 1}


def test_a_partial_throttle_rate_throttles_some_calls_and_not_others(
    emulator: EmulatorHandle,
) -> None:
    emulator.faults(operations=["ec2:DescribeVpcs"], throttle_rate=0.5)
    ec2 = emulator.client("ec2")
    outcomes = []
    for _ in range(40):
        try:
            ec2.describe_vpcs()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("throttled")

    assert 0 < outcomes.count("throttled") < 40


def test_latency_delays_but_does_not_fail_a_call(emulator: EmulatorHandle) -> None:
    emulator.faults(operations=["ec2:DescribeVpcs"], latency_ms=5)
    assert "Vpcs" in emulator.client("ec2").describe_vpcs()
    assert emulator.control("GET", "faults")["rules"][0]["latency_ms"] == 5


def test_a_held_call_waits_until_released_and_then_takes_effect(
    emulator: EmulatorHandle,
) -> None:
    emulator.faults(operations=["ssm:PutParameter"], hold=True)
    ssm = emulator.client("ssm")
    done = threading.Event()
    results: list[int] = []

    def put() -> None:
        results.append(ssm.put_parameter(Name="/held", Value="v", Type="String")["Version"])
        done.set()

    caller = threading.Thread(target=put)
    caller.start()
    for _ in range(500):  # the call reaches the emulator and is held
        if emulator.control("GET", "stats")["held"] == 1:
            break
        done.wait(0.01)
    assert emulator.control("GET", "stats")["held"] == 1
    assert not done.is_set()

    assert emulator.release() == 1
    caller.join(timeout=30)

    assert results == [1]
    assert ssm.get_parameter(Name="/held")["Parameter"]["Value"] == "v"
    # Released means the hold is over: the next call goes straight through.
    ssm.put_parameter(Name="/held", Value="w", Type="String", Overwrite=True)


def test_reset_forgets_every_resource(emulator: EmulatorHandle) -> None:
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/gone", Value="1", Type="String")
    emulator.control("POST", "reset")
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name="/gone")


def test_tick_advances_simulated_time_by_exactly_what_was_asked(
    emulator: EmulatorHandle,
) -> None:
    before = emulator.now()
    assert emulator.tick(600) == before + 600
    assert emulator.control("POST", "tick", {"steps": 3})["now"] == before + 603


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        pytest.param("GET", "nothing", None, 404, "no control endpoint", id="unknown-path"),
        pytest.param("POST", "tick", {}, 400, "tick takes", id="tick-without-seconds"),
        pytest.param("POST", "faults", {"throttle_rate": 2}, 400, "between 0 and 1", id="bad-rate"),
        pytest.param("POST", "faults", {"operations": 3}, 400, "list of", id="bad-operations"),
        pytest.param("POST", "failing-images", {"images": "x"}, 400, "images", id="bad-images"),
        pytest.param("POST", "seed", "vpc: []", 400, "unknown seed section", id="bad-seed"),
        pytest.param("POST", "tick", "{", 400, "not valid JSON", id="broken-json"),
    ],
)
def test_bad_control_requests_are_refused_with_a_reason(
    emulator: EmulatorHandle, method: str, path: str, body: object, status: int, says: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        emulator.control(method, path, body)
    assert raised.value.code == status
    assert says in raised.value.read().decode()
