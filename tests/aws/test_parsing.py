"""The planned JSON parser returns what botocore's parser returns, to the key order and type.

Real bodies come from the emulator (captured as botocore is about to parse
them); hand-made bodies against a small model cover what the emulator does not
send: nulls, unknown keys, renamed members, blobs, documents, unions, recursion.
Results are compared both with ``==`` and by ``repr``, so a key order, a float
standing in for an int, or a timestamp left as a number would show.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore.model import OperationModel, ServiceModel, Shape, ShapeResolver

from reconciler.aws import AwsTarget, Sessions
from reconciler.aws.parsing import PlannedJSONParser, PlannedResponseParserFactory
from tests.conftest import EmulatorHandle
from tests.emulator.codedeploy_world import CodeDeployWorld

Captured = tuple[OperationModel, dict[str, Any]]


def planned_parser() -> botocore.parsers.ResponseParser:
    return PlannedResponseParserFactory().create_parser("json")


def assert_parsed_alike(response: dict[str, Any], shape: Shape | None) -> Any:
    """Parse ``response`` both ways; they must agree exactly. Returns botocore's result."""
    stock = botocore.parsers.create_parser("json").parse(response, shape)
    planned = planned_parser().parse(response, shape)
    assert planned == stock
    assert repr(planned) == repr(stock)
    return stock


def capture(client: Any) -> list[Captured]:
    """Every response ``client`` receives from now on, as botocore is about to parse it."""
    responses: list[Captured] = []

    def keep(operation_model: OperationModel, response_dict: dict[str, Any], **_: Any) -> None:
        responses.append((operation_model, dict(response_dict)))

    client.meta.events.register("before-parse", keep)
    return responses


def assert_captured_parse_alike(responses: list[Captured]) -> dict[str, Any]:
    """Each captured response parsed both ways; botocore's results by operation name."""
    by_operation: dict[str, Any] = {}
    for operation, response in responses:
        assert operation.service_model.resolved_protocol == "json"
        by_operation[operation.name] = assert_parsed_alike(response, operation.output_shape)
    return by_operation


def test_sessions_clients_parse_json_protocol_responses_with_the_planned_parser(
    emulator: EmulatorHandle,
) -> None:
    sessions = Sessions(endpoint_url=emulator.endpoint)
    target = AwsTarget("us-east-1")

    for service in ("ecs", "application-autoscaling", "codedeploy"):
        client = sessions.client(service, target)
        factory = client._endpoint._response_parser_factory
        assert isinstance(factory.create_parser("json"), PlannedJSONParser), service
    sts = sessions.client("sts", target)
    query = sts._endpoint._response_parser_factory.create_parser("query")
    assert type(query) is botocore.parsers.QueryParser


def test_a_sessions_client_reads_services_as_a_stock_client_does(
    emulator: EmulatorHandle,
) -> None:
    stock = emulator.client("ecs")
    create_fleet(emulator, stock)
    planned = Sessions(endpoint_url=emulator.endpoint).client("ecs", AwsTarget("us-east-1"))

    read = {"cluster": "prod", "services": ["web", "api"], "include": ["TAGS"]}
    planned_services = planned.describe_services(**read)["services"]
    stock_services = stock.describe_services(**read)["services"]

    # Timestamps compare equal although the two clients' time zone objects differ.
    assert planned_services == stock_services
    assert isinstance(planned_services[0]["createdAt"], datetime.datetime)


def create_fleet(emulator: EmulatorHandle, ecs: Any) -> None:
    """Two services with most of what a service can carry, and a scalable target."""
    refs = emulator.seed(
        {
            "clusters": ["prod"],
            "vpcs": [
                {
                    "name": "prod",
                    "cidr": "10.0.0.0/16",
                    "subnets": [{"name": "private-a", "cidr": "10.0.1.0/24"}],
                }
            ],
            "load_balancers": [
                {
                    "name": "shop",
                    "vpc": "prod",
                    "subnets": ["private-a"],
                    "target_groups": [{"name": "web", "port": 8080}],
                    "listeners": [{"port": 80, "default_target_group": "web"}],
                }
            ],
        }
    )
    task_definition = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx:1.27",
                "portMappings": [{"containerPort": 8080, "name": "http"}],
                "environment": [{"name": "MODE", "value": "prod"}],
            }
        ],
        tags=[{"key": "team", "value": "shop"}],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a", "subnet-0b"],
            "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED",
        }
    }
    ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=task_definition,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=network,
        loadBalancers=[
            {
                "targetGroupArn": refs["target_group:web"],
                "containerName": "app",
                "containerPort": 8080,
            }
        ],
        healthCheckGracePeriodSeconds=30,
        deploymentConfiguration={
            "maximumPercent": 150,
            "minimumHealthyPercent": 50,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        serviceConnectConfiguration={
            "enabled": True,
            "namespace": "internal",
            "services": [
                {
                    "portName": "http",
                    "clientAliases": [{"port": 80, "dnsName": "web"}],
                }
            ],
        },
        tags=[{"key": "gitops:unit", "value": "web"}, {"key": "team", "value": "shop"}],
        propagateTags="SERVICE",
        enableExecuteCommand=True,
    )
    ecs.create_service(
        cluster="prod",
        serviceName="api",
        taskDefinition=task_definition,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    emulator.tick(30)


def test_emulator_ecs_responses_parse_alike(emulator: EmulatorHandle) -> None:
    ecs = emulator.client("ecs")
    create_fleet(emulator, ecs)
    responses = capture(ecs)

    ecs.describe_services(cluster="prod", services=["web", "api", "gone"], include=["TAGS"])
    ecs.describe_task_definition(taskDefinition="web", include=["TAGS"])
    ecs.list_services(cluster="prod")
    ecs.describe_clusters(clusters=["prod"])
    tasks = ecs.list_tasks(cluster="prod")["taskArns"]
    ecs.describe_tasks(cluster="prod", tasks=tasks)
    parsed = assert_captured_parse_alike(responses)

    # The comparison covered what it is meant to: nested lists of structures,
    # timestamps at several depths, failures, tags.
    services = parsed["DescribeServices"]["services"]
    web = next(s for s in services if s["serviceName"] == "web")
    assert web["loadBalancers"][0]["containerPort"] == 8080
    assert web["deployments"][0]["serviceConnectConfiguration"]["enabled"] is True
    assert isinstance(web["deployments"][0]["createdAt"], datetime.datetime)
    assert web["tags"] == [{"key": "gitops:unit", "value": "web"}, {"key": "team", "value": "shop"}]
    assert parsed["DescribeServices"]["failures"][0]["arn"].endswith("gone")
    assert parsed["DescribeTasks"]["tasks"], "the services started no tasks to compare"


def test_emulator_application_auto_scaling_responses_parse_alike(
    emulator: EmulatorHandle,
) -> None:
    create_fleet(emulator, emulator.client("ecs"))
    scaling = emulator.client("application-autoscaling")
    responses = capture(scaling)

    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/prod/web",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=9,
    )
    scaling.put_scaling_policy(
        PolicyName="cpu",
        ServiceNamespace="ecs",
        ResourceId="service/prod/web",
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
        },
    )
    scaling.describe_scalable_targets(ServiceNamespace="ecs")
    scaling.describe_scaling_policies(ServiceNamespace="ecs")
    parsed = assert_captured_parse_alike(responses)

    target = parsed["DescribeScalableTargets"]["ScalableTargets"][0]
    assert isinstance(target["CreationTime"], datetime.datetime)
    policy = parsed["DescribeScalingPolicies"]["ScalingPolicies"][0]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 60.0


def test_emulator_codedeploy_responses_parse_alike(emulator: EmulatorHandle) -> None:
    world = CodeDeployWorld(emulator)
    world.create_service("shop:1")
    responses = capture(world.codedeploy)

    deployment_id = world.deploy("shop:2", as_json=True)
    emulator.tick(30)
    world.codedeploy.get_deployment(deploymentId=deployment_id)
    world.codedeploy.get_deployment_group(applicationName="shop", deploymentGroupName="shop")
    world.codedeploy.list_deployments(applicationName="shop")
    parsed = assert_captured_parse_alike(responses)
    task_sets = capture(world.ecs)
    world.ecs.describe_services(cluster="prod", services=["shop"])
    parsed_ecs = assert_captured_parse_alike(task_sets)

    deployment = parsed["GetDeployment"]["deploymentInfo"]
    assert isinstance(deployment["createTime"], datetime.datetime)
    assert deployment["revision"]["revisionType"] == "AppSpecContent"
    service = parsed_ecs["DescribeServices"]["services"][0]
    assert isinstance(service["taskSets"][0]["createdAt"], datetime.datetime)


# A small model with what the emulator's services do not send: a renamed
# member, blobs, a document, a tagged union and a recursive structure.
SHAPES: dict[str, Any] = {
    "Output": {
        "type": "structure",
        "members": {
            "Name": {"shape": "String"},
            "Renamed": {"shape": "String", "locationName": "wireName"},
            "Count": {"shape": "Integer"},
            "Ratio": {"shape": "Double"},
            "Enabled": {"shape": "Boolean"},
            "When": {"shape": "Timestamp"},
            "Stamps": {"shape": "Timestamps"},
            "Items": {"shape": "Items"},
            "Grid": {"shape": "Grid"},
            "Labels": {"shape": "Labels"},
            "ItemsByName": {"shape": "ItemsByName"},
            "StampsByName": {"shape": "StampsByName"},
            "Names": {"shape": "Names"},
            "Data": {"shape": "Blob"},
            "Document": {"shape": "Document"},
            "Choice": {"shape": "Choice"},
            "Tree": {"shape": "Node"},
        },
    },
    "Item": {
        "type": "structure",
        "members": {
            "Key": {"shape": "String"},
            "Value": {"shape": "String", "locationName": "val"},
            "At": {"shape": "Timestamp"},
            "Tags": {"shape": "Names"},
        },
    },
    "Node": {
        "type": "structure",
        "members": {"Label": {"shape": "String"}, "Children": {"shape": "Nodes"}},
    },
    "Nodes": {"type": "list", "member": {"shape": "Node"}},
    "Choice": {
        "type": "structure",
        "union": True,
        "members": {"Text": {"shape": "String"}, "At": {"shape": "Timestamp"}},
    },
    "Document": {"type": "structure", "members": {}, "document": True},
    "Items": {"type": "list", "member": {"shape": "Item"}},
    "Grid": {"type": "list", "member": {"shape": "Items"}},
    "Timestamps": {"type": "list", "member": {"shape": "Timestamp"}},
    "Names": {"type": "list", "member": {"shape": "String"}},
    "Labels": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    "ItemsByName": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Item"}},
    "StampsByName": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Timestamp"}},
    "String": {"type": "string"},
    "Integer": {"type": "integer"},
    "Double": {"type": "double"},
    "Boolean": {"type": "boolean"},
    "Timestamp": {"type": "timestamp"},
    "Blob": {"type": "blob"},
}


def output_shape() -> Shape:
    return ShapeResolver(SHAPES).get_shape_by_name("Output")


def response(body: Any, status: int = 200) -> dict[str, Any]:
    return {
        "body": json.dumps(body).encode(),
        "headers": {"x-amzn-RequestId": "req-1", "Content-Type": "application/x-amz-json-1.1"},
        "status_code": status,
        "context": {"operation_name": "Read"},
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param(
            {"Name": None, "Count": None, "Items": None, "Choice": None, "Tree": None},
            id="null-members-dropped",
        ),
        pytest.param(
            {"Name": "a", "Surprise": {"x": 1}, "Items": [{"Key": "k", "Extra": 2}]},
            id="unknown-keys-dropped",
        ),
        pytest.param(
            {"Count": 0, "Ratio": 0.0, "Enabled": False, "Name": "", "Names": [], "Labels": {}},
            id="falsy-values-kept",
        ),
        pytest.param({"Count": 3, "Ratio": 2, "Enabled": True}, id="numbers-as-sent"),
        pytest.param(
            {"wireName": "on the wire", "Renamed": "ignored", "Items": [{"val": "v", "Value": 1}]},
            id="renamed-members",
        ),
        pytest.param(
            {
                "Items": [
                    {"Key": "a", "val": "1", "At": 1767225600, "Tags": ["x", None]},
                    None,
                    {"Key": None, "At": "2026-01-01T00:00:00Z"},
                ],
                "Grid": [[{"Key": "a"}], [], None, [None, {"val": "b"}]],
            },
            id="nested-lists-of-structures",
        ),
        pytest.param(
            {
                "When": 1767225600.5,
                "Stamps": [1767225600, None, "2026-01-01T00:00:00Z", 0],
            },
            id="timestamps-in-lists",
        ),
        pytest.param(
            {
                "Labels": {"a": "1", "b": None},
                "ItemsByName": {"x": {"Key": "k", "At": 1, "Drop": 1}, "y": None},
                "StampsByName": {"start": 1767225600, "end": "2026-01-01T00:00:00Z"},
            },
            id="maps",
        ),
        pytest.param({"Data": "aGVsbG8=", "Names": ["a", "b"]}, id="blob"),
        pytest.param(
            {"Document": {"free": [1, None, {"form": None}], "At": 1767225600}},
            id="document-as-sent",
        ),
        pytest.param({"Document": [1, "two", None]}, id="document-list"),
        pytest.param({"Choice": {"At": 1767225600}}, id="union"),
        pytest.param({"Choice": {"Later": "x"}}, id="union-member-unknown-to-the-sdk"),
        pytest.param({"Choice": {"__type": "Choice", "Text": "t", "At": None}}, id="union-nulls"),
        pytest.param(
            {
                "Tree": {
                    "Label": "root",
                    "Children": [
                        {"Label": "leaf", "Children": [], "Weight": 1},
                        {"Label": None, "Children": [{"Label": "deep"}]},
                    ],
                }
            },
            id="recursive-shape",
        ),
    ],
)
def test_hand_made_bodies_parse_alike(body: dict[str, Any]) -> None:
    assert_parsed_alike(response(body), output_shape())


def test_planned_results_have_timestamps_converted_and_members_renamed() -> None:
    # Checked directly too, not only against botocore.
    parsed = planned_parser().parse(
        response({"When": 1767225600, "wireName": "w", "Renamed": "x"}), output_shape()
    )

    assert parsed["When"] == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert parsed["Renamed"] == "w"


def test_a_union_with_two_members_set_is_refused_as_botocore_refuses_it() -> None:
    shape = output_shape()
    body = response({"Choice": {"Text": "t", "At": 1}})

    with pytest.raises(botocore.parsers.ResponseParserError, match="one and only one"):
        botocore.parsers.create_parser("json").parse(body, shape)
    with pytest.raises(botocore.parsers.ResponseParserError, match="one and only one"):
        planned_parser().parse(body, shape)


def test_a_body_that_is_not_json_parses_alike() -> None:
    shape = ShapeResolver({"Out": {"type": "structure", "members": {}}}).get_shape_by_name("Out")
    broken = response({}) | {"body": b"<html>not json</html>"}

    assert_parsed_alike(broken, shape)


def ecs_model() -> ServiceModel:
    client = botocore.session.get_session().create_client("ecs", region_name="us-east-1")
    model: ServiceModel = client.meta.service_model
    return model


def test_errors_parse_alike_generic_and_modeled() -> None:
    ecs = ecs_model()
    error = response({"__type": "ServiceNotFoundException", "message": "not there"}, status=400)
    throttled = response({"__type": "ThrottlingException", "message": "slow down"}, status=400)
    bad_gateway = {"body": b"", "headers": {}, "status_code": 502, "context": {}}

    for failed in (error, throttled, bad_gateway):
        assert_parsed_alike(failed, ecs.operation_model("DescribeServices").output_shape)
    modeled = assert_parsed_alike(error, ecs.shape_for("ServiceNotFoundException"))
    assert modeled["message"] == "not there"


def test_ecs_unions_and_documents_inside_a_service_parse_alike() -> None:
    shape = ecs_model().operation_model("DescribeServices").output_shape
    body = {
        "services": [
            {
                "serviceName": "web",
                "createdAt": 1767225600,
                "deploymentConfiguration": {
                    "lifecycleHooks": [
                        {
                            "hookTargetArn": "arn:aws:lambda:us-east-1:1:function:hook",
                            "hookDetails": {"any": ["json", 1, None]},
                        }
                    ]
                },
                "deployments": [
                    {
                        "id": "ecs-svc/1",
                        "createdAt": 1767225600,
                        "serviceConnectConfiguration": {
                            "enabled": True,
                            "containerConfigurations": [{"later": {"x": 1}}],
                        },
                    }
                ],
            }
        ],
        "failures": [],
    }

    assert_parsed_alike(response(body), shape)


def test_a_describe_services_body_is_walked_without_botocores_per_node_dispatch(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal results alone would not show the speed-up: a plan that quietly fell
    # back to botocore's walk would pass every test above.
    ecs = emulator.client("ecs")
    create_fleet(emulator, ecs)
    responses = capture(ecs)
    ecs.describe_services(cluster="prod", services=["web", "api"], include=["TAGS"])
    [(operation, described)] = responses
    parser = planned_parser()

    def refuse(*_: Any) -> Any:
        raise AssertionError("botocore's per-node walk was used")

    monkeypatch.setattr(botocore.parsers.ResponseParser, "_parse_shape", refuse)
    parsed = parser.parse(described, operation.output_shape)

    assert isinstance(parsed["services"][0]["createdAt"], datetime.datetime)
