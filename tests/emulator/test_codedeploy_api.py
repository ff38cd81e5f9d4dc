"""The CodeDeploy API around deployments: applications, deployment groups, refusals, seed."""

from __future__ import annotations

import textwrap
import urllib.error
from typing import Any

import pytest
import yaml

from reconciler.emulator import seed
from tests.conftest import EmulatorHandle

SEED = """
clusters: [prod]
vpcs:
  - name: prod
    cidr: 10.0.0.0/16
    subnets: [{name: private-a, cidr: 10.0.1.0/24}]
load_balancers:
  - name: shop
    vpc: prod
    subnets: [private-a]
    target_groups:
      - {name: shop-blue, port: 8080}
      - {name: shop-green, port: 8080}
    listeners:
      - port: 80
        default_target_group: shop-blue
        rules:
          - priority: 5
            paths: [/api/*]
            forward: [{target_group: shop-blue, weight: 80}, {target_group: shop-green, weight: 20}]
      - {port: 8080, default_target_group: shop-green}
codedeploy:
  - application: shop
    deployment_groups:
      - name: shop
        service: prod/shop
        target_groups: [shop-blue, shop-green]
        listener: shop:80
        test_listener: shop:8080
        config: CodeDeployDefault.ECSLinear10PercentEvery1Minutes
        ready_wait_minutes: 15
        termination_wait_minutes: 5
"""


@pytest.fixture
def codedeploy(emulator: EmulatorHandle) -> Any:
    return emulator.client("codedeploy")


def test_the_seed_creates_listener_rules_and_a_deployment_group_for_a_service_to_come(
    emulator: EmulatorHandle, codedeploy: Any
) -> None:
    created = emulator.seed(SEED)

    rule = emulator.client("elbv2").describe_rules(RuleArns=[created["rule:shop:80:5"]])["Rules"][0]
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/api/*"]
    weights = {
        g["TargetGroupArn"]: g["Weight"]
        for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
    }
    assert weights == {
        created["target_group:shop-blue"]: 80,
        created["target_group:shop-green"]: 20,
    }

    assert codedeploy.get_application(applicationName="shop")["application"]["computePlatform"] == (
        "ECS"
    )
    group = codedeploy.get_deployment_group(applicationName="shop", deploymentGroupName="shop")[
        "deploymentGroupInfo"
    ]
    assert group["deploymentGroupId"] == created["codedeploy_group:shop:shop"]
    assert group["ecsServices"] == [{"clusterName": "prod", "serviceName": "shop"}]
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    pair = group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
    assert pair["targetGroups"] == [{"name": "shop-blue"}, {"name": "shop-green"}]
    assert pair["prodTrafficRoute"]["listenerArns"] == [created["listener:shop:80"]]
    assert pair["testTrafficRoute"]["listenerArns"] == [created["listener:shop:8080"]]
    blue_green = group["blueGreenDeploymentConfiguration"]
    assert blue_green["deploymentReadyOption"] == {
        "actionOnTimeout": "STOP_DEPLOYMENT",
        "waitTimeInMinutes": 15,
    }
    assert blue_green["terminateBlueInstancesOnDeploymentSuccess"] == {
        "action": "TERMINATE",
        "terminationWaitTimeInMinutes": 5,
    }
    assert group["autoRollbackConfiguration"]["enabled"] is True


@pytest.mark.parametrize(
    ("deployment_group", "message"),
    [
        pytest.param({"service": "shop"}, "CLUSTER/SERVICE", id="service-without-cluster"),
        pytest.param({"target_groups": ["shop-blue"]}, "two target groups", id="one-target-group"),
        pytest.param({"listener": "shop:81"}, "listener:shop:81", id="unknown-listener"),
        pytest.param({"colour": "blue"}, "unknown key", id="unknown-key"),
    ],
)
def test_a_seed_with_a_wrong_deployment_group_is_refused_with_what_is_wrong(
    emulator: EmulatorHandle, deployment_group: dict[str, Any], message: str
) -> None:
    document = yaml.safe_load(SEED)
    document["codedeploy"][0]["deployment_groups"][0].update(deployment_group)

    with pytest.raises(urllib.error.HTTPError) as raised:
        emulator.seed(yaml.safe_dump(document))

    with raised.value as error:
        assert (error.code, message in error.read().decode()) == (400, True)


def test_applications_and_groups_are_listed(codedeploy: Any, emulator: EmulatorHandle) -> None:
    emulator.seed(SEED)
    codedeploy.create_application(applicationName="admin", computePlatform="ECS")

    assert codedeploy.list_applications()["applications"] == ["admin", "shop"]
    listed = codedeploy.list_deployment_groups(applicationName="shop")
    assert (listed["applicationName"], listed["deploymentGroups"]) == ("shop", ["shop"])
    assert (
        codedeploy.list_deployments(applicationName="shop", deploymentGroupName="shop")[
            "deployments"
        ]
        == []
    )


REFUSALS = [
    pytest.param(
        "get_application", {"applicationName": "ghost"},
        "ApplicationDoesNotExistException", id="unknown-application",
    ),
    pytest.param(
        "create_application", {"applicationName": "shop", "computePlatform": "ECS"},
        "ApplicationAlreadyExistsException", id="application-exists",
    ),
    pytest.param(
        "get_deployment_group", {"applicationName": "shop", "deploymentGroupName": "ghost"},
        "DeploymentGroupDoesNotExistException", id="unknown-group",
    ),
    pytest.param(
        "get_deployment", {"deploymentId": "d-AAAAAAAAA"},
        "DeploymentDoesNotExistException", id="unknown-deployment",
    ),
    pytest.param(
        "create_deployment",
        {"applicationName": "shop", "deploymentGroupName": "shop",
         "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": "[1, 2"}}},
        "InvalidRevisionException", id="appspec-not-yaml",
    ),
    pytest.param(
        "create_deployment",
        {"applicationName": "shop", "deploymentGroupName": "shop",
         "revision": {"revisionType": "AppSpecContent",
                      "appSpecContent": {"content": "version: 0.0\nResources: []\n"}}},
        "InvalidRevisionException", id="appspec-without-target-service",
    ),
    pytest.param(
        "create_deployment",
        {"applicationName": "shop", "deploymentGroupName": "shop",
         "revision": {"revisionType": "S3",
                      "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"}}},
        "InvalidRevisionException", id="revision-not-appspec-content",
    ),
    pytest.param(
        "create_deployment",
        {"applicationName": "shop", "deploymentGroupName": "shop",
         "deploymentConfigName": "CodeDeployDefault.OneAtATime",
         "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": """
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: shop:1
        LoadBalancerInfo: {ContainerName: shop, ContainerPort: 8080}
"""}}},
        "DeploymentConfigDoesNotExistException", id="server-deployment-config",
    ),
    pytest.param(
        "create_deployment_group",
        {"applicationName": "shop", "deploymentGroupName": "two",
         "serviceRoleArn": "arn:aws:iam::123456789012:role/cd",
         "ecsServices": [{"clusterName": "prod", "serviceName": "shop"}]},
        "InvalidTargetGroupPairException", id="group-without-target-groups",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "params", "code"), REFUSALS)
def test_requests_codedeploy_would_refuse_are_refused_with_its_error(
    emulator: EmulatorHandle, codedeploy: Any, operation: str, params: dict[str, Any], code: str
) -> None:
    emulator.seed(SEED)

    with pytest.raises(codedeploy.exceptions.ClientError) as raised:
        getattr(codedeploy, operation)(**params)

    assert raised.value.response["Error"]["Code"] == code


def test_codedeploy_calls_are_counted_and_can_be_throttled(
    emulator: EmulatorHandle, codedeploy: Any
) -> None:
    emulator.seed(SEED)
    emulator.reset_stats()
    codedeploy.list_applications()
    emulator.faults(operations=["codedeploy:ListApplications"], throttle_rate=1.0)

    with pytest.raises(codedeploy.exceptions.ClientError) as raised:
        codedeploy.list_applications()

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert emulator.stats()["codedeploy:ListApplications"] == 2


def test_hook_answers_are_set_and_read_through_the_control_endpoint(
    emulator: EmulatorHandle,
) -> None:
    emulator.control("POST", "hooks", {"hook": "smoke", "answer": "IN_PROGRESS"})

    assert emulator.control("GET", "hooks") == {"answers": {"smoke": "IN_PROGRESS"}}
    emulator.control("POST", "reset")
    assert emulator.control("GET", "hooks") == {"answers": {}}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(
            {"hook": "smoke", "answer": "MAYBE"}, "SUCCEEDED, FAILED", id="unknown-answer"
        ),
        pytest.param({"answer": "FAILED"}, "hooks takes", id="no-hook"),
    ],
)
def test_a_wrong_hook_answer_is_refused(
    emulator: EmulatorHandle, body: dict[str, Any], says: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        emulator.control("POST", "hooks", body)

    with raised.value as error:
        assert (error.code, says in error.read().decode()) == (400, True)


def test_the_seed_format_documented_in_seed_py_applies_as_written(emulator: EmulatorHandle) -> None:
    documented = (seed.__doc__ or "").split("A seed file is YAML::", 1)[1].split("\n\n")[1]

    created = emulator.seed(textwrap.dedent(documented))

    assert {"rule:web:80:10", "listener:shop:8080", "codedeploy_group:shop:shop"} <= set(created)
    group = emulator.client("codedeploy").get_deployment_group(
        applicationName="shop", deploymentGroupName="shop"
    )["deploymentGroupInfo"]
    assert group["deploymentGroupId"] == created["codedeploy_group:shop:shop"]
