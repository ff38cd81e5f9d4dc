"""Sessions: one per region and role, clients built once, roles assumed with a traceable name."""

from __future__ import annotations

import datetime

import botocore.utils
import pytest

from reconciler.aws import Aws, AwsTarget, Pacer, Sessions
from reconciler.aws.parsing import epoch_or_text_timestamp
from reconciler.aws.sessions import SESSION_NAME_PREFIX
from tests.conftest import EmulatorHandle, run_async

ROLE = "arn:aws:iam::123456789012:role/deployer"


def test_clients_are_built_once_per_region_and_service(emulator: EmulatorHandle) -> None:
    sessions = Sessions(endpoint_url=emulator.endpoint)
    east = AwsTarget("us-east-1")

    assert sessions.client("ecs", east) is sessions.client("ecs", east)
    assert sessions.client("ecs", east) is not sessions.client("ecs", AwsTarget("eu-west-1"))
    assert sessions.client("ecs", east).meta.region_name == "us-east-1"


def test_a_unit_role_is_assumed_with_a_session_name_cloudtrail_can_attribute(
    emulator: EmulatorHandle,
) -> None:
    emulator.client("iam").create_role(
        RoleName="deployer", AssumeRolePolicyDocument='{"Version": "2012-10-17"}'
    )
    aws = Aws(Sessions(endpoint_url=emulator.endpoint), pacer=Pacer.unlimited())
    try:
        identity = run_async(
            aws.call("sts", "get_caller_identity", AwsTarget("us-east-1", role_arn=ROLE))
        )
    finally:
        aws.close()

    assert ":assumed-role/deployer/" in identity["Arn"]
    assert identity["Arn"].split("/")[-1].startswith(SESSION_NAME_PREFIX)
    assert emulator.stats()["sts:AssumeRole"] == 1


@pytest.mark.parametrize(
    "sent",
    [1767225600, 1767225600.0, "2026-01-01T00:00:00Z", "Thu, 01 Jan 2026 00:00:00 GMT"],
    ids=["epoch-int", "epoch-float", "iso8601", "rfc822"],
)
def test_timestamps_read_as_botocore_reads_them(sent: object) -> None:
    parsed = epoch_or_text_timestamp(sent)

    assert parsed == botocore.utils.parse_timestamp(sent)
    assert parsed.utcoffset() == datetime.timedelta(0)


def test_clients_read_ecs_timestamps_as_aware_datetimes(emulator: EmulatorHandle) -> None:
    ecs = Sessions(endpoint_url=emulator.endpoint).client("ecs", AwsTarget("us-east-1"))
    ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "app", "image": "nginx", "memory": 64}]
    )

    created = ecs.describe_task_definition(taskDefinition="api")["taskDefinition"]["registeredAt"]

    assert isinstance(created, datetime.datetime)
    assert created.tzinfo is not None
