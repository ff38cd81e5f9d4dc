"""Seed files create what a repository's units refer to."""

from __future__ import annotations

import urllib.error

import pytest

from tests.conftest import EmulatorHandle

SEED = """
region: us-east-1
clusters:
  - name: prod
    capacity_providers: [FARGATE, FARGATE_SPOT]
vpcs:
  - name: prod
    cidr: 10.0.0.0/16
    subnets:
      - {name: private-a, cidr: 10.0.1.0/24, availability_zone: us-east-1a}
      - {name: private-b, cidr: 10.0.2.0/24, availability_zone: us-east-1b}
    security_groups:
      - {name: api, description: api tasks}
ssm_parameters:
  - name: /prod/network/subnets
    type: StringList
    value: "${subnet:private-a},${subnet:private-b}"
  - {name: /prod/network/sg/api, value: "${security_group:api}"}
  - {name: /prod/api/db-password, type: SecureString, value: hunter2}
secrets:
  - {name: prod/api/database, value: "postgres://api@db:5432/api"}
load_balancers:
  - name: web
    vpc: prod
    subnets: [private-a, private-b]
    security_groups: [api]
    target_groups:
      - {name: web-blue, port: 8080, protocol: HTTP, target_type: ip, health_check_path: /healthz}
    listeners:
      - {port: 80, protocol: HTTP, default_target_group: web-blue}
log_groups: [/ecs/prod/api]
"""


def test_a_seed_file_creates_everything_it_declares(emulator: EmulatorHandle) -> None:
    created = emulator.seed(SEED)

    ec2 = emulator.client("ec2")
    subnets = ec2.describe_subnets(
        SubnetIds=[created["subnet:private-a"], created["subnet:private-b"]]
    )
    assert {s["CidrBlock"] for s in subnets["Subnets"]} == {"10.0.1.0/24", "10.0.2.0/24"}
    assert {s["VpcId"] for s in subnets["Subnets"]} == {created["vpc:prod"]}

    ssm = emulator.client("ssm")
    listed = ssm.get_parameter(Name="/prod/network/subnets")["Parameter"]
    assert listed["Type"] == "StringList"
    assert listed["Value"] == f"{created['subnet:private-a']},{created['subnet:private-b']}"
    assert (
        ssm.get_parameter(Name="/prod/network/sg/api")["Parameter"]["Value"]
        == (created["security_group:api"])
    )
    secure = ssm.get_parameter(Name="/prod/api/db-password", WithDecryption=True)["Parameter"]
    assert (secure["Type"], secure["Value"]) == ("SecureString", "hunter2")

    secret = emulator.client("secretsmanager").describe_secret(SecretId="prod/api/database")
    assert secret["ARN"] == created["secret:prod/api/database"]

    elb = emulator.client("elbv2")
    listener = elb.describe_listeners(ListenerArns=[created["listener:web:80"]])["Listeners"][0]
    assert listener["LoadBalancerArn"] == created["load_balancer:web"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == created["target_group:web-blue"]
    group = elb.describe_target_groups(Names=["web-blue"])["TargetGroups"][0]
    assert (group["Port"], group["TargetType"], group["HealthCheckPath"]) == (
        8080,
        "ip",
        "/healthz",
    )

    groups = emulator.client("logs").describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/prod/api"]

    assert created["cluster:prod"].endswith(":cluster/prod")


def test_seeding_is_not_counted_as_calls_made_by_the_code_under_test(
    emulator: EmulatorHandle,
) -> None:
    emulator.seed(SEED)
    assert emulator.stats() == {}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        pytest.param("clusters: [{nam: x}]", "lacks name", id="missing-key"),
        pytest.param("vpcs: [{name: a, cidr: 10.0.0.0/16, subnet: []}]", "unknown key", id="typo"),
        pytest.param(
            "ssm_parameters: [{name: /x, value: '${subnet:nope}'}]",
            "${subnet:nope} refers to nothing",
            id="dangling-reference",
        ),
        pytest.param("clusters: prod", "must be a list", id="not-a-list"),
        pytest.param("- a", "mapping of sections", id="not-a-mapping"),
    ],
)
def test_a_bad_seed_document_is_refused_with_what_to_fix(
    emulator: EmulatorHandle, document: str, says: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        emulator.seed(document)
    assert raised.value.code == 400
    assert says in raised.value.read().decode()
