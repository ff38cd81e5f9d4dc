"""Sessions: one per region and role, clients built once, roles assumed with a traceable name."""

from __future__ import annotations

from reconciler.aws import Aws, AwsTarget, Pacer, Sessions
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
