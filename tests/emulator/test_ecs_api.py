"""The emulator's ECS API through EcsBackend.handle: defaults, refusals, lists, tags.

Params are written as boto3 sends them (the decoded JSON body); time is a fake
clock the tests move, and advance() is called once per simulated second.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from reconciler.emulator.ecs import EcsApiError, EcsBackend

REGION = "us-east-1"
FIXTURES = Path("/work/shared/reference/ecspresso-fixtures/tests")
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}}


class SimulatedEcs:
    """An EcsBackend on a clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.backend = EcsBackend(lambda: self.now)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        # A JSON round trip, as the server does, so nothing unserialisable slips by.
        response = self.backend.handle(REGION, operation, json.loads(json.dumps(params)))
        return json.loads(json.dumps(response))

    def refused(self, operation: str, **params: Any) -> EcsApiError:
        with pytest.raises(EcsApiError) as caught:
            self.backend.handle(REGION, operation, params)
        return caught.value

    def tick(self, seconds: int = 1) -> None:
        for _ in range(seconds):
            self.now += 1
            self.backend.advance()


def fargate_task_definition(family: str = "web", image: str = "nginx:1") -> dict[str, Any]:
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {"name": "app", "image": image, "portMappings": [{"containerPort": 80}]}
        ],
    }


@pytest.fixture
def ecs() -> SimulatedEcs:
    simulated = SimulatedEcs()
    simulated.call("CreateCluster", clusterName="prod")
    simulated.call("RegisterTaskDefinition", **fargate_task_definition())
    simulated.call(
        "RegisterTaskDefinition",
        family="plain",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}],
    )
    return simulated


def create_web_service(ecs: SimulatedEcs, name: str = "api", **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "cluster": "prod",
        "serviceName": name,
        "taskDefinition": "web",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "networkConfiguration": NETWORK,
    }
    params.update(extra)
    # None leaves a default member out, as boto3 callers do by not passing it.
    return ecs.call("CreateService", **{k: v for k, v in params.items() if v is not None})[
        "service"
    ]


def botocore_example(operation: str) -> dict[str, Any]:
    loader = botocore.session.get_session().get_component("data_loader")
    examples = loader.load_service_model("ecs", "examples-1")["examples"]
    output: dict[str, Any] = examples[operation][0]["output"]
    return output


def load_fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{FIXTURES} is absent")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def assert_contains(described: Any, expected: Any, path: str = "") -> None:
    """Every field of ``expected`` is in ``described`` with the same value."""
    if isinstance(expected, dict):
        assert isinstance(described, dict), path
        for key, value in expected.items():
            assert key in described, f"{path}.{key} missing"
            assert_contains(described[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(described, list), path
        assert len(described) == len(expected), path
        for index, (ours, theirs) in enumerate(zip(described, expected, strict=True)):
            assert_contains(ours, theirs, f"{path}[{index}]")
    else:
        assert described == expected, path


# Defaults, against payloads shaped as real AWS returns them.


def test_a_registered_task_definition_describes_as_ecspresso_fixture_shows_it() -> None:
    ecs = SimulatedEcs()
    registered = load_fixture("td.json")["taskDefinition"]
    ecs.call("RegisterTaskDefinition", **registered)

    described = ecs.call("DescribeTaskDefinition", taskDefinition="katsubushi", include=["TAGS"])

    expected = {key: value for key, value in registered.items() if key != "tags"}
    assert_contains(described["taskDefinition"], expected)
    assert described["tags"] == []


def test_the_plain_fixture_with_tags_round_trips_with_status_and_revision() -> None:
    ecs = SimulatedEcs()
    fixture = load_fixture("td-plain-in-tags.json")
    read_only = ("status", "revision")
    ecs.call("RegisterTaskDefinition", **{k: v for k, v in fixture.items() if k not in read_only})

    described = ecs.call("DescribeTaskDefinition", taskDefinition="katsubushi", include=["TAGS"])

    assert_contains(described["taskDefinition"], {k: v for k, v in fixture.items() if k != "tags"})
    assert described["tags"] == fixture["tags"]


def test_a_minimal_container_gets_the_defaults_the_fixture_shows() -> None:
    ecs = SimulatedEcs()
    fixture_container = load_fixture("td.json")["taskDefinition"]["containerDefinitions"][0]
    ecs.call(
        "RegisterTaskDefinition",
        family="katsubushi",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1 vCPU",
        memory="2 GB",
        containerDefinitions=[
            {
                "name": "katsubushi",
                "image": "katsubushi",
                "portMappings": [{"containerPort": 11212}],
            }
        ],
    )

    described = ecs.call("DescribeTaskDefinition", taskDefinition="katsubushi")["taskDefinition"]

    container = described["containerDefinitions"][0]
    for key in ("essential", "mountPoints", "volumesFrom", "portMappings"):
        assert container[key] == fixture_container[key], key
    assert container["environment"] == []
    assert container["cpu"] == 0
    assert (described["cpu"], described["memory"]) == ("1024", "2048")
    assert described["volumes"] == described["placementConstraints"] == []
    assert described["compatibilities"] == ["EC2", "FARGATE"]
    assert described["status"] == "ACTIVE"
    assert described["revision"] == 1
    assert described["taskDefinitionArn"].endswith(":task-definition/katsubushi:1")
    assert {"name": "ecs.capability.task-eni"} in described["requiresAttributes"]
    assert described["registeredBy"].startswith("arn:aws:iam::")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param(("0.25 vCPU", "0.5 GB"), ("256", "512"), id="units"),
        pytest.param(("512", "1024"), ("512", "1024"), id="numbers"),
        pytest.param(("1 vcpu", "3GB"), ("1024", "3072"), id="lower-case-no-space"),
    ],
)
def test_task_sizes_are_stored_as_aws_returns_them(
    given: tuple[str, str], stored: tuple[str, str]
) -> None:
    ecs = SimulatedEcs()
    definition = fargate_task_definition()
    definition["cpu"], definition["memory"] = given

    described = ecs.call("RegisterTaskDefinition", **definition)["taskDefinition"]

    assert (described["cpu"], described["memory"]) == stored


def test_task_definition_keys_cover_botocores_documented_example() -> None:
    ecs = SimulatedEcs()
    example = botocore_example("DescribeTaskDefinition")["taskDefinition"]
    containers = example["containerDefinitions"]
    ecs.call("RegisterTaskDefinition", family=example["family"], containerDefinitions=containers)

    described = ecs.call("DescribeTaskDefinition", taskDefinition="hello_world")["taskDefinition"]

    assert set(example) <= set(described)
    for ours, theirs in zip(described["containerDefinitions"], containers, strict=True):
        # The example predates port protocols; everything it shows is there unchanged.
        assert_contains(ours, theirs)
        assert all(mapping["protocol"] == "tcp" for mapping in ours["portMappings"])


def test_service_defaults_are_filled_around_the_fixture_service_definition(
    ecs: SimulatedEcs,
) -> None:
    definition = load_fixture("sv.json")
    ecs.call(
        "RegisterTaskDefinition",
        family="test",
        networkMode="awsvpc",
        containerDefinitions=[
            {
                "name": "test",
                "image": "nginx",
                "memory": 64,
                "portMappings": [{"containerPort": 9999}],
            }
        ],
    )
    ecs.call("CreateService", cluster="prod", serviceName="sv", taskDefinition="test", **definition)

    described = ecs.call("DescribeServices", cluster="prod", services=["sv"], include=["TAGS"])
    service = described["services"][0]

    assert_contains(service, definition)
    assert service["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["healthCheckGracePeriodSeconds"] == 0
    assert service["enableECSManagedTags"] is False
    assert service["enableExecuteCommand"] is False
    assert service["serviceRegistries"] == service["placementConstraints"] == []
    assert "roleArn" not in service
    assert "platformVersion" not in service


def test_a_bare_fargate_service_gets_every_aws_default(ecs: SimulatedEcs) -> None:
    service = create_web_service(ecs)

    assert service["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "strategy": "ROLLING",
    }
    assert service["propagateTags"] == "NONE"
    assert service["schedulingStrategy"] == "REPLICA"
    assert service["platformVersion"] == "LATEST"
    assert service["platformFamily"] == "Linux"
    assert service["loadBalancers"] == service["placementStrategy"] == []
    assert "healthCheckGracePeriodSeconds" not in service
    assert service["status"] == "ACTIVE"
    assert service["serviceArn"].endswith(":service/prod/api")
    assert service["createdBy"].startswith("arn:aws:iam::")
    assert re.fullmatch(r"ecs-svc/\d{19}", service["deployments"][0]["id"])
    assert service["deployments"][0]["platformVersion"] == "1.4.0"


def test_service_keys_cover_botocores_documented_create_service_example(
    ecs: SimulatedEcs,
) -> None:
    example = botocore_example("CreateService")["service"]

    service = create_web_service(ecs)

    assert set(example) <= set(service)
    assert set(example["deployments"][0]) <= set(service["deployments"][0])


def test_fields_outside_the_service_shape_are_kept_on_the_deployment(ecs: SimulatedEcs) -> None:
    connect = {"enabled": True, "namespace": "internal"}

    service = create_web_service(ecs, serviceConnectConfiguration=connect)

    assert service["deployments"][0]["serviceConnectConfiguration"] == connect


def test_a_capacity_provider_strategy_from_the_cluster_makes_a_fargate_service(
    ecs: SimulatedEcs,
) -> None:
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    ecs.call(
        "PutClusterCapacityProviders",
        cluster="prod",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=strategy,
    )

    service = create_web_service(ecs, launchType=None)

    assert service["capacityProviderStrategy"] == strategy
    assert "launchType" not in service
    assert service["platformVersion"] == "LATEST"
    ecs.tick(5)
    task_arns = ecs.call("ListTasks", cluster="prod", serviceName="api")["taskArns"]
    tasks = ecs.call("DescribeTasks", cluster="prod", tasks=task_arns)["tasks"]
    assert {task["capacityProviderName"] for task in tasks} == {"FARGATE_SPOT"}


def test_task_keys_cover_botocores_documented_describe_tasks_example(ecs: SimulatedEcs) -> None:
    example = botocore_example("DescribeTasks")["tasks"][0]
    create_web_service(ecs)
    ecs.tick(5)

    arns = ecs.call("ListTasks", cluster="prod")["taskArns"]
    task = ecs.call("DescribeTasks", cluster="prod", tasks=arns)["tasks"][0]

    # A Fargate task runs on no container instance (EC2 tasks name theirs).
    assert set(example) - {"containerInstanceArn"} <= set(task)
    assert set(example["containers"][0]) <= set(task["containers"][0])
    assert task["overrides"]["containerOverrides"] == [{"name": "app"}]


def test_capacity_providers_fargate_and_fargate_spot_always_exist(ecs: SimulatedEcs) -> None:
    found = ecs.call("DescribeCapacityProviders", capacityProviders=["FARGATE", "EC2-ASG"])

    assert [item["name"] for item in found["capacityProviders"]] == ["FARGATE"]
    assert found["failures"] == [{"arn": "EC2-ASG", "reason": "MISSING"}]
    everything = ecs.call("DescribeCapacityProviders")["capacityProviders"]
    assert {item["name"] for item in everything} == {"FARGATE", "FARGATE_SPOT"}


# Refusals.


REFUSALS = [
    pytest.param(
        "CreateCluster", {"clusterName": "x", "colour": "red"}, "ClientException",
        "Unknown parameter", id="unknown-field",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "web", "desiredCount": "2"},
        "ClientException", "Invalid type", id="wrong-type",
    ),
    pytest.param(
        "RegisterTaskDefinition", {"family": "x"}, "ClientException",
        "Missing required parameter", id="missing-required",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "web", "desiredCount": 1,
         "launchType": "FARGATES", "networkConfiguration": NETWORK},
        "InvalidParameterException", "Member must satisfy enum value set", id="enum",
    ),
    pytest.param(
        "RegisterTaskDefinition",
        {"family": "x", "containerDefinitions": [
            {"name": "a", "image": "a", "memory": 64,
             "portMappings": [{"containerPort": 80, "protocol": "sctp"}]}]},
        "InvalidParameterException", "containerDefinitions.1.member.portMappings", id="nested-enum",
    ),
    pytest.param(
        "RegisterTaskDefinition",
        {**fargate_task_definition(), "networkMode": "bridge"},
        "ClientException", "Fargate only supports network mode 'awsvpc'.", id="bridge-on-fargate",
    ),
    pytest.param(
        "RegisterTaskDefinition",
        {k: v for k, v in fargate_task_definition().items() if k != "cpu"},
        "ClientException", "Fargate requires that 'cpu'", id="fargate-without-cpu",
    ),
    pytest.param(
        "RegisterTaskDefinition",
        {"family": "x", "containerDefinitions": [{"name": "a", "image": "a"}]},
        "ClientException", "'memory' or 'memoryReservation'", id="container-without-memory",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "web", "desiredCount": 1,
         "launchType": "FARGATE", "networkConfiguration": NETWORK,
         "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
        "InvalidParameterException", "both a launch type and capacity provider",
        id="launch-type-and-capacity-providers",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "web", "desiredCount": 1,
         "launchType": "FARGATE"},
        "InvalidParameterException", "Network Configuration must be provided",
        id="awsvpc-without-network",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "plain", "desiredCount": 1,
         "launchType": "FARGATE", "networkConfiguration": NETWORK},
        "InvalidParameterException", "does not support launch_type FARGATE",
        id="ec2-task-definition-on-fargate",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "nowhere", "serviceName": "x", "taskDefinition": "plain", "desiredCount": 1},
        "ClusterNotFoundException", "Cluster not found.", id="unknown-cluster",
    ),
    pytest.param(
        "UpdateService", {"cluster": "prod", "service": "ghost", "desiredCount": 1},
        "ServiceNotFoundException", "Service not found.", id="unknown-service",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "api", "taskDefinition": "plain", "desiredCount": 1},
        "InvalidParameterException", "Creation of service was not idempotent.",
        id="service-exists",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "nope:3", "desiredCount": 1},
        "ClientException", "TaskDefinition not found.", id="unknown-task-definition",
    ),
    pytest.param(
        "DescribeServices", {"cluster": "prod", "services": [f"s{i}" for i in range(11)]},
        "InvalidParameterException", "at most 10", id="eleven-services",
    ),
    pytest.param(
        "DescribeTasks", {"cluster": "prod", "tasks": [f"t{i}" for i in range(101)]},
        "InvalidParameterException", "at most 100", id="hundred-and-one-tasks",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "plain", "desiredCount": 1,
         "deploymentConfiguration": {"strategy": "BLUE_GREEN"}},
        "InvalidParameterException", "advancedConfiguration", id="blue-green-without-a-balancer",
    ),
    pytest.param(
        "CreateService",
        {"cluster": "prod", "serviceName": "x", "taskDefinition": "plain", "desiredCount": 1,
         "deploymentController": {"type": "CODE_DEPLOY"}},
        "InvalidParameterException", "needs a load balancer",
        id="codedeploy-without-a-balancer",
    ),
    pytest.param(
        "ListServices", {"cluster": "prod", "maxResults": 101},
        "InvalidParameterException", "maxResults", id="page-too-large",
    ),
    pytest.param(
        "ListServices", {"cluster": "prod", "nextToken": "not-a-token"},
        "InvalidParameterException", "nextToken", id="forged-token",
    ),
    pytest.param(
        "DeleteService", {"cluster": "prod", "service": "api"},
        "InvalidParameterException", "scaled above 0", id="delete-scaled-service",
    ),
    pytest.param(
        "CreateTaskSet", {"cluster": "prod", "service": "api", "taskDefinition": "web"},
        "UnknownOperationException", "CreateTaskSet", id="unimplemented-operation",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "params", "code", "message"), REFUSALS)
def test_requests_aws_would_refuse_are_refused_with_its_error(
    ecs: SimulatedEcs, operation: str, params: dict[str, Any], code: str, message: str
) -> None:
    create_web_service(ecs)

    error = ecs.refused(operation, **copy.deepcopy(params))

    assert error.code == code
    assert message in error.message


def test_a_refused_update_leaves_the_service_untouched(ecs: SimulatedEcs) -> None:
    create_web_service(ecs)

    ecs.refused("UpdateService", cluster="prod", service="api", taskDefinition="missing:9")

    service = ecs.call("DescribeServices", cluster="prod", services=["api"])["services"][0]
    assert service["taskDefinition"].endswith("/web:1")
    assert len(service["deployments"]) == 1


def test_unknown_names_in_describe_calls_are_failures_not_errors(ecs: SimulatedEcs) -> None:
    create_web_service(ecs)

    described = ecs.call("DescribeServices", cluster="prod", services=["api", "ghost"])
    clusters = ecs.call("DescribeClusters", clusters=["prod", "ghost"])

    assert [service["serviceName"] for service in described["services"]] == ["api"]
    assert described["failures"] == [
        {"arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/ghost", "reason": "MISSING"}
    ]
    assert clusters["failures"][0]["reason"] == "MISSING"


# Lists and pagination.


def collect_pages(ecs: SimulatedEcs, operation: str, key: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    pages = 0
    while True:
        page = ecs.call(operation, **params)
        items.extend(page[key])
        pages += 1
        if "nextToken" not in page:
            return items
        params["nextToken"] = page["nextToken"]
        assert pages < 100, "pagination never ends"


def test_list_services_pages_by_ten_by_default_and_reaches_every_service(
    ecs: SimulatedEcs,
) -> None:
    for index in range(25):
        create_web_service(ecs, name=f"svc-{index:02}", desiredCount=0)

    first = ecs.call("ListServices", cluster="prod")
    everything = collect_pages(ecs, "ListServices", "serviceArns", cluster="prod")

    assert len(first["serviceArns"]) == 10
    assert len(everything) == len(set(everything)) == 25


@pytest.mark.parametrize("page_size", [1, 3, 100], ids=["one", "three", "hundred"])
def test_list_task_definitions_pages_with_max_results(ecs: SimulatedEcs, page_size: int) -> None:
    for _ in range(6):
        ecs.call("RegisterTaskDefinition", **fargate_task_definition(family="batch"))

    arns = collect_pages(
        ecs,
        "ListTaskDefinitions",
        "taskDefinitionArns",
        familyPrefix="batch",
        sort="DESC",
        maxResults=page_size,
    )

    assert [arn.rsplit(":", 1)[1] for arn in arns] == ["6", "5", "4", "3", "2", "1"]


def test_deregistered_revisions_leave_the_active_list_and_the_family_resolves_to_the_latest(
    ecs: SimulatedEcs,
) -> None:
    ecs.call("RegisterTaskDefinition", **fargate_task_definition(image="nginx:2"))
    ecs.call("DeregisterTaskDefinition", taskDefinition="web:2")

    active = ecs.call("ListTaskDefinitions", familyPrefix="web")["taskDefinitionArns"]
    inactive = ecs.call("ListTaskDefinitions", familyPrefix="web", status="INACTIVE")
    latest = ecs.call("DescribeTaskDefinition", taskDefinition="web")["taskDefinition"]

    assert [arn.rsplit(":", 1)[1] for arn in active] == ["1"]
    assert [arn.rsplit(":", 1)[1] for arn in inactive["taskDefinitionArns"]] == ["2"]
    assert latest["revision"] == 1
    families = ecs.call("ListTaskDefinitionFamilies", familyPrefix="w")["families"]
    assert families == ["web"]


def test_list_clusters_and_delete_cluster(ecs: SimulatedEcs) -> None:
    ecs.call("CreateCluster", clusterName="staging")

    ecs.call("DeleteCluster", cluster="staging")

    assert ecs.call("ListClusters")["clusterArns"] == [
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    ]
    staging = ecs.call("DescribeClusters", clusters=["staging"])["clusters"][0]
    assert staging["status"] == "INACTIVE"


def test_a_cluster_with_services_cannot_be_deleted(ecs: SimulatedEcs) -> None:
    create_web_service(ecs)

    error = ecs.refused("DeleteCluster", cluster="prod")

    assert error.code == "ClusterContainsServicesException"


# Tags.


def test_tags_on_clusters_services_task_definitions_and_tasks(ecs: SimulatedEcs) -> None:
    service = create_web_service(ecs, tags=[{"key": "team", "value": "a"}])
    ecs.tick(4)
    task_arn = ecs.call("ListTasks", cluster="prod", serviceName="api")["taskArns"][0]
    arns = {
        "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "service": service["serviceArn"],
        "task-definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
        "task": task_arn,
    }

    for arn in arns.values():
        ecs.call("TagResource", resourceArn=arn, tags=[{"key": "owner", "value": "git"}])
    ecs.call("UntagResource", resourceArn=arns["service"], tagKeys=["team"])

    tags = {
        kind: ecs.call("ListTagsForResource", resourceArn=arn)["tags"] for kind, arn in arns.items()
    }
    assert all(found == [{"key": "owner", "value": "git"}] for found in tags.values())
    described = ecs.call("DescribeServices", cluster="prod", services=["api"], include=["TAGS"])
    assert described["services"][0]["tags"] == [{"key": "owner", "value": "git"}]
    untagged = ecs.call("DescribeServices", cluster="prod", services=["api"])
    assert "tags" not in untagged["services"][0]
    cluster = ecs.call("DescribeClusters", clusters=["prod"], include=["TAGS", "SETTINGS"])
    assert cluster["clusters"][0]["tags"] == [{"key": "owner", "value": "git"}]
    assert cluster["clusters"][0]["settings"] == [
        {"name": "containerInsights", "value": "disabled"}
    ]


def test_tagging_an_unknown_resource_is_refused(ecs: SimulatedEcs) -> None:
    error = ecs.refused(
        "TagResource",
        resourceArn="arn:aws:ecs:us-east-1:123456789012:service/prod/ghost",
        tags=[{"key": "a", "value": "b"}],
    )

    assert error.code == "ResourceNotFoundException"


def test_reserved_tag_keys_are_refused(ecs: SimulatedEcs) -> None:
    error = ecs.refused(
        "TagResource",
        resourceArn="arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        tags=[{"key": "aws:owner", "value": "b"}],
    )

    assert error.code == "InvalidParameterException"


# Plain tasks, deletion, existence.


def test_run_task_starts_tasks_that_run_until_stopped(ecs: SimulatedEcs) -> None:
    started = ecs.call(
        "RunTask",
        cluster="prod",
        taskDefinition="web",
        count=2,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        startedBy="migration",
    )["tasks"]
    ecs.tick(3)

    running = ecs.call("DescribeTasks", cluster="prod", tasks=[t["taskArn"] for t in started])
    assert [task["lastStatus"] for task in running["tasks"]] == ["RUNNING", "RUNNING"]
    assert {task["group"] for task in running["tasks"]} == {"family:web"}
    listed = ecs.call("ListTasks", cluster="prod", startedBy="migration")["taskArns"]
    assert sorted(listed) == sorted(t["taskArn"] for t in started)

    stopping = ecs.call("StopTask", cluster="prod", task=started[0]["taskArn"], reason="done")
    assert stopping["task"]["lastStatus"] == "STOPPING"
    ecs.tick(3)
    stopped = ecs.call("ListTasks", cluster="prod", desiredStatus="STOPPED")["taskArns"]
    assert stopped == [started[0]["taskArn"]]
    task = ecs.call("DescribeTasks", cluster="prod", tasks=stopped)["tasks"][0]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED",
        "UserInitiated",
        "done",
    )


def test_a_deleted_service_drains_then_becomes_inactive(ecs: SimulatedEcs) -> None:
    create_web_service(ecs)
    ecs.tick(4)

    deleted = ecs.call("DeleteService", cluster="prod", service="api", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    ecs.tick(4)

    service = ecs.call("DescribeServices", cluster="prod", services=["api"])["services"][0]
    assert service["status"] == "INACTIVE"
    assert service["runningCount"] == 0
    assert ecs.call("ListServices", cluster="prod")["serviceArns"] == []
    assert ecs.call("ListTasks", cluster="prod", serviceName="api")["taskArns"] == []
    assert not ecs.backend.service_exists(REGION, "prod", "api")
    recreated = create_web_service(ecs)
    assert recreated["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("cluster", "service", "exists"),
    [
        pytest.param("prod", "api", True, id="names"),
        pytest.param(
            "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "arn:aws:ecs:us-east-1:123456789012:service/prod/api",
            True,
            id="arns",
        ),
        pytest.param("prod", "ghost", False, id="unknown-service"),
        pytest.param("staging", "api", False, id="unknown-cluster"),
    ],
)
def test_service_exists_accepts_names_and_arns(
    ecs: SimulatedEcs, cluster: str, service: str, exists: bool
) -> None:
    create_web_service(ecs)

    assert ecs.backend.service_exists(REGION, cluster, service) is exists


def test_reset_forgets_everything(ecs: SimulatedEcs) -> None:
    create_web_service(ecs)

    ecs.backend.reset()

    assert ecs.call("ListClusters")["clusterArns"] == []
    assert ecs.refused("DescribeServices", cluster="prod", services=["api"]).code == (
        "ClusterNotFoundException"
    )


def test_the_same_scenario_gives_the_same_ids_and_events() -> None:
    def scenario() -> dict[str, Any]:
        ecs = SimulatedEcs()
        ecs.call("CreateCluster", clusterName="prod")
        ecs.call("RegisterTaskDefinition", **fargate_task_definition())
        create_web_service(ecs)
        ecs.tick(10)
        return ecs.call("DescribeServices", cluster="prod", services=["api"])

    assert scenario() == scenario()


def test_service_tags_reach_its_tasks_when_the_service_propagates_them(ecs: SimulatedEcs) -> None:
    create_web_service(ecs, propagateTags="SERVICE", tags=[{"key": "team", "value": "a"}])
    ecs.tick(4)
    arns = ecs.call("ListTasks", cluster="prod", serviceName="api")["taskArns"]

    tagged = ecs.call("DescribeTasks", cluster="prod", tasks=arns, include=["TAGS"])["tasks"]
    plain = ecs.call("DescribeTasks", cluster="prod", tasks=arns)["tasks"]

    assert [task["tags"] for task in tagged] == [[{"key": "team", "value": "a"}]] * 2
    assert all("tags" not in task for task in plain)
