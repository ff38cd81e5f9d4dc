"""Normalisation: what a user writes and what AWS returns for it read the same."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.diff import normalise_service, normalise_task_definition, ownership_for_unit
from reconciler.model import FieldOwnership, JsonObject
from tests.diff.diff_payloads import (
    ACCOUNT,
    NAMESPACE_ARN,
    REGION,
    WRITTEN_SERVICE,
    WRITTEN_TASK_DEFINITION,
    botocore_examples,
    described_service,
    described_task_definition,
    make_unit,
    read_ecspresso_fixture,
)

REPLICA = FieldOwnership()


def service_forms(
    written: JsonObject, described: JsonObject, context: FieldOwnership | None = None
) -> tuple[JsonObject, JsonObject]:
    context = context or ownership_for_unit(make_unit(service=written))
    return normalise_service(described, context=context), normalise_service(
        written, context=context
    )


def test_a_task_definition_as_written_reads_as_aws_describes_it() -> None:
    assert normalise_task_definition(described_task_definition()) == normalise_task_definition(
        WRITTEN_TASK_DEFINITION
    )


def test_a_service_as_written_reads_as_aws_describes_it() -> None:
    live, desired = service_forms(WRITTEN_SERVICE, described_service())

    assert live == desired


@pytest.mark.parametrize(
    "example_id",
    [
        "to-create-a-new-service-1472512584282",
        "to-create-a-new-service-behind-a-load-balancer-1472512484823",
    ],
    ids=["plain", "behind-a-classic-load-balancer"],
)
def test_botocore_create_service_examples_read_back_in_sync(example_id: str) -> None:
    example = next(e for e in botocore_examples()["CreateService"] if e["id"] == example_id)
    written = {k: v for k, v in example["input"].items() if k not in ("serviceName",)}

    live, desired = service_forms(written, example["output"]["service"])

    assert live == desired


def test_botocore_register_task_definition_example_reads_back_in_sync() -> None:
    example = botocore_examples()["RegisterTaskDefinition"][0]

    assert normalise_task_definition(example["output"]) == normalise_task_definition(
        example["input"]
    )


def test_botocore_described_task_definition_drops_its_read_only_fields() -> None:
    described = botocore_examples()["DescribeTaskDefinition"][0]["output"]

    form = normalise_task_definition(described)

    assert "revision" not in form
    assert "taskDefinitionArn" not in form
    assert [c["name"] for c in form["containerDefinitions"]] == ["mysql", "wordpress"]
    assert form["containerDefinitions"][1]["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}
    ]


def test_ecspresso_wrapped_and_plain_task_definitions_read_the_same() -> None:
    wrapped = read_ecspresso_fixture("td.json")
    plain = read_ecspresso_fixture("td-plain-in-tags.json")

    assert normalise_task_definition(wrapped) == normalise_task_definition(
        plain, ignore_tags=["TagKey"]
    )
    assert normalise_task_definition(plain)["tags"] == [{"key": "TagKey", "value": "TagValue"}]


@pytest.mark.parametrize(
    "name", ["sv.json", "ecs-service-def.json", "ci/ecs-service-def-daemon.json"]
)
def test_ecspresso_service_definitions_normalise_to_their_own_fixed_point(name: str) -> None:
    written = read_ecspresso_fixture(name)
    context = ownership_for_unit(make_unit(service=written))

    form = normalise_service(written, context=context)

    assert normalise_service(form, context=context) == form


@pytest.mark.parametrize(
    ("size", "written", "canonical"),
    [
        ("cpu", "0.25 vCPU", "256"),
        ("cpu", "1 vcpu", "1024"),
        ("cpu", "2vCPU", "2048"),
        ("cpu", 512, "512"),
        ("cpu", "512", "512"),
        ("memory", "1 GB", "1024"),
        ("memory", "0.5 GB", "512"),
        ("memory", "2gb", "2048"),
        ("memory", 3072, "3072"),
        ("memory", "512 MiB", "512"),
    ],
    ids=lambda v: str(v).replace(" ", "_"),
)
def test_task_sizes_read_as_the_units_aws_stores(size: str, written: Any, canonical: str) -> None:
    form = normalise_task_definition({"family": "api", size: written, "containerDefinitions": []})

    assert form[size] == canonical


def test_a_task_size_that_does_not_parse_is_kept_as_written() -> None:
    form = normalise_task_definition({"family": "api", "cpu": "a quarter", "memory": "1 GB"})

    assert form["cpu"] == "a quarter"


@pytest.mark.parametrize(
    "field",
    [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    ],
)
def test_read_only_task_definition_fields_are_dropped(field: str) -> None:
    described = described_task_definition()
    described["taskDefinition"]["deregisteredAt"] = described["taskDefinition"]["registeredAt"]

    assert field not in normalise_task_definition(described)


@pytest.mark.parametrize(
    "field",
    [
        "serviceArn",
        "serviceName",
        "clusterArn",
        "status",
        "events",
        "deployments",
        "runningCount",
        "pendingCount",
        "createdAt",
        "createdBy",
        "platformFamily",
        "taskDefinition",
        "roleArn",
    ],
)
def test_read_only_service_fields_are_dropped(field: str) -> None:
    assert field not in normalise_service(described_service(), context=REPLICA)


@pytest.mark.parametrize(
    ("container", "described"),
    [
        ({"essential": True}, {}),
        ({"cpu": 0}, {}),
        ({"versionConsistency": "enabled"}, {}),
        ({"privileged": False, "readonlyRootFilesystem": False}, {}),
        (
            {"mountPoints": [{"sourceVolume": "v", "containerPath": "/d", "readOnly": False}]},
            {"mountPoints": [{"sourceVolume": "v", "containerPath": "/d"}]},
        ),
        (
            {"healthCheck": {"command": ["true"], "interval": 30, "timeout": 5, "retries": 3}},
            {"healthCheck": {"command": ["true"], "startPeriod": 0}},
        ),
        (
            {"environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]},
            {"environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        ),
        (
            {"secrets": [{"name": "B", "valueFrom": "/b"}, {"name": "A", "valueFrom": "/a"}]},
            {"secrets": [{"name": "A", "valueFrom": "/a"}, {"name": "B", "valueFrom": "/b"}]},
        ),
        (
            {
                "ulimits": [
                    {"name": "nproc", "softLimit": 1, "hardLimit": 1},
                    {"name": "nofile", "softLimit": 2, "hardLimit": 2},
                ]
            },
            {
                "ulimits": [
                    {"name": "nofile", "softLimit": 2, "hardLimit": 2},
                    {"name": "nproc", "softLimit": 1, "hardLimit": 1},
                ]
            },
        ),
        (
            {
                "extraHosts": [
                    {"hostname": "b", "ipAddress": "10.0.0.2"},
                    {"hostname": "a", "ipAddress": "10.0.0.1"},
                ]
            },
            {
                "extraHosts": [
                    {"hostname": "a", "ipAddress": "10.0.0.1"},
                    {"hostname": "b", "ipAddress": "10.0.0.2"},
                ]
            },
        ),
        ({"dockerLabels": {"Team": "x"}}, {"DockerLabels": {"Team": "x"}}),
    ],
    ids=[
        "essential",
        "container-cpu",
        "version-consistency",
        "false-flags",
        "mount-read-only",
        "health-check",
        "environment-order",
        "secrets-order",
        "ulimits-order",
        "extra-hosts-order",
        "docker-label-case-kept",
    ],
)
def test_container_defaults_and_order_are_not_drift(
    container: JsonObject, described: JsonObject
) -> None:
    def task(extra: JsonObject) -> JsonObject:
        return {"family": "api", "containerDefinitions": [{"name": "app", "image": "x", **extra}]}

    assert normalise_task_definition(task(described)) == normalise_task_definition(task(container))


def test_docker_label_keys_keep_their_case() -> None:
    form = normalise_task_definition(WRITTEN_TASK_DEFINITION)

    app = next(c for c in form["containerDefinitions"] if c["name"] == "app")
    assert app["dockerLabels"] == {"Team": "payments"}
    assert "awslogs-group" in app["logConfiguration"]["options"]


@pytest.mark.parametrize(
    ("network_mode", "written", "described"),
    [
        ("awsvpc", {"containerPort": 80}, {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}),
        ("host", {"containerPort": 80}, {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}),
        ("bridge", {"containerPort": 80, "hostPort": 0}, {"containerPort": 80, "protocol": "tcp"}),
        (
            "bridge",
            {"containerPort": 53, "protocol": "udp"},
            {"containerPort": 53, "protocol": "udp"},
        ),
    ],
    ids=["awsvpc-host-port", "host-host-port", "bridge-dynamic-port", "udp-kept"],
)
def test_port_mapping_defaults_are_not_drift(
    network_mode: str, written: JsonObject, described: JsonObject
) -> None:
    def task(mapping: JsonObject) -> JsonObject:
        container = {"name": "app", "image": "x", "portMappings": [mapping]}
        return {"family": "api", "networkMode": network_mode, "containerDefinitions": [container]}

    assert normalise_task_definition(task(described)) == normalise_task_definition(task(written))


def test_a_bridge_port_without_host_port_is_not_given_one() -> None:
    container = {"name": "app", "image": "x", "portMappings": [{"containerPort": 80}]}
    form = normalise_task_definition({"family": "api", "containerDefinitions": [container]})

    assert "hostPort" not in form["containerDefinitions"][0]["portMappings"][0]


def test_an_empty_task_role_reads_as_none() -> None:
    form = normalise_task_definition(
        {"family": "api", "taskRoleArn": "", "containerDefinitions": []}
    )

    assert "taskRoleArn" not in form


@pytest.mark.parametrize(
    ("field", "aws_default"),
    [
        ("propagateTags", "NONE"),
        ("enableECSManagedTags", False),
        ("enableExecuteCommand", False),
        ("schedulingStrategy", "REPLICA"),
        ("healthCheckGracePeriodSeconds", 0),
        ("deploymentController", {"type": "ECS"}),
        ("deploymentConfiguration", {"maximumPercent": 200, "minimumHealthyPercent": 100}),
        (
            "deploymentConfiguration",
            {"deploymentCircuitBreaker": {"enable": False, "rollback": False}},
        ),
        ("deploymentConfiguration", {"strategy": "ROLLING"}),
        (
            "deploymentConfiguration",
            {"alarms": {"alarmNames": [], "enable": False, "rollback": False}},
        ),
    ],
    ids=[
        "propagate-tags",
        "managed-tags",
        "execute-command",
        "scheduling-strategy",
        "grace-period",
        "deployment-controller",
        "percentages",
        "circuit-breaker",
        "strategy",
        "alarms",
    ],
)
def test_service_defaults_aws_fills_in_are_not_drift(field: str, aws_default: Any) -> None:
    written: JsonObject = {"desiredCount": 1, "launchType": "EC2"}
    described = {**written, field: aws_default}

    live, desired = service_forms(written, described)

    assert live == desired


@pytest.mark.parametrize(
    ("field", "other_value"),
    [
        ("propagateTags", "SERVICE"),
        ("enableExecuteCommand", True),
        ("healthCheckGracePeriodSeconds", 60),
        (
            "deploymentConfiguration",
            {"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
        ),
    ],
    ids=["propagate-tags", "execute-command", "grace-period", "circuit-breaker"],
)
def test_a_service_value_other_than_the_default_is_a_difference(
    field: str, other_value: Any
) -> None:
    written: JsonObject = {"desiredCount": 1, "launchType": "EC2"}

    live, desired = service_forms(written, {**written, field: other_value})

    assert live != desired


def test_a_daemon_service_ignores_desired_count_and_has_daemon_percentages() -> None:
    written = {"schedulingStrategy": "DAEMON", "launchType": "EC2"}
    described = {
        **written,
        "desiredCount": 3,
        "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0},
    }

    live, desired = service_forms(written, described)

    assert live == desired
    assert "desiredCount" not in live


def test_a_capacity_provider_strategy_means_no_launch_type_and_default_base() -> None:
    written = {
        "desiredCount": 1,
        "capacityProviderStrategy": [
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        ],
    }
    described = {
        "desiredCount": 1,
        "launchType": "",
        "platformVersion": "LATEST",
        "capacityProviderStrategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        ],
    }

    live, desired = service_forms(written, described)

    assert live == desired
    assert "launchType" not in live


@pytest.mark.parametrize(
    ("launch_type", "platform_version"),
    [("FARGATE", "LATEST"), ("EC2", None)],
    ids=["fargate-gets-latest", "ec2-gets-none"],
)
def test_platform_version_defaults_to_latest_on_fargate_only(
    launch_type: str, platform_version: str | None
) -> None:
    form = normalise_service({"launchType": launch_type}, context=REPLICA)

    assert form.get("platformVersion") == platform_version


def test_a_public_ip_is_not_assigned_unless_asked_and_subnets_are_a_set() -> None:
    written = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["b", "a"]}}}
    described = {
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["a", "b"], "assignPublicIp": "DISABLED"}
        }
    }

    live, desired = service_forms(written, described)

    assert live == desired


@pytest.mark.parametrize(
    ("written_namespace", "described_namespace", "names", "equal"),
    [
        ("internal", NAMESPACE_ARN, {}, True),
        (NAMESPACE_ARN, NAMESPACE_ARN, {}, True),
        ("other", NAMESPACE_ARN, {}, False),
        (
            "internal",
            f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-4xq7v2",
            {f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-4xq7v2": "internal"},
            True,
        ),
    ],
    ids=["name-vs-arn", "arn-vs-arn", "another-namespace", "arn-by-namespace-id"],
)
def test_service_connect_namespace_compares_by_name(
    written_namespace: str, described_namespace: str, names: dict[str, str], equal: bool
) -> None:
    def service(namespace: str) -> JsonObject:
        return {
            "serviceConnectConfiguration": {
                "enabled": True,
                "namespace": namespace,
                "services": [{"portName": "http"}],
            }
        }

    context = FieldOwnership(namespace_names=names)
    live, desired = service_forms(service(written_namespace), service(described_namespace), context)

    assert (live == desired) is equal


def test_service_connect_is_read_from_the_primary_deployment() -> None:
    form = normalise_service(described_service(), context=REPLICA)

    assert form["serviceConnectConfiguration"] == {
        "enabled": True,
        "namespace": "internal",
        "services": [
            {
                "portName": "http",
                "discoveryName": "http",
                "clientAliases": [{"port": 80, "dnsName": "http.internal"}],
            }
        ],
    }


NAMESPACE_BY_ID = NAMESPACE_ARN.replace("/internal", "/ns-4xq7v2")


@pytest.mark.parametrize(
    ("namespace", "names"),
    [
        ("internal", {}),
        (NAMESPACE_ARN, {}),
        (NAMESPACE_BY_ID, {NAMESPACE_BY_ID: "internal"}),
    ],
    ids=["written-as-name", "described-as-arn", "arn-by-namespace-id"],
)
def test_a_client_alias_without_dns_name_reads_as_the_name_aws_gives_it(
    namespace: str, names: dict[str, str]
) -> None:
    # AWS fills dnsName with "discoveryName.namespace" when the alias leaves it out.
    def service(alias: JsonObject) -> JsonObject:
        return {
            "serviceConnectConfiguration": {
                "enabled": True,
                "namespace": namespace,
                "services": [
                    {"portName": "http", "discoveryName": "api", "clientAliases": [alias]}
                ],
            }
        }

    context = FieldOwnership(namespace_names=names)
    written = normalise_service(service({"port": 80}), context=context)
    described = normalise_service(service({"port": 80, "dnsName": "api.internal"}), context=context)

    alias = written["serviceConnectConfiguration"]["services"][0]["clientAliases"][0]
    assert alias["dnsName"] == "api.internal"
    assert written == described


def test_a_disabled_service_connect_reads_as_none() -> None:
    form = normalise_service(
        {"serviceConnectConfiguration": {"enabled": False, "namespace": "internal"}},
        context=REPLICA,
    )

    assert "serviceConnectConfiguration" not in form


def test_a_role_name_reads_as_the_role_arn_aws_returns() -> None:
    live, desired = service_forms(
        {"role": "ecsServiceRole"}, {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsServiceRole"}
    )

    assert live == desired


@pytest.mark.parametrize(
    ("context", "field"),
    [
        (FieldOwnership(autoscaling_owns_desired_count=True), "desiredCount"),
        (FieldOwnership(code_deploy=True), "loadBalancers"),
        (FieldOwnership(code_deploy=True), "networkConfiguration"),
        (FieldOwnership(unit_fields=frozenset({"desiredCount"})), "availabilityZoneRebalancing"),
        (FieldOwnership(unit_fields=frozenset({"desiredCount"})), "role"),
        (FieldOwnership(unit_fields=frozenset({"desiredCount"})), "launchType"),
    ],
    ids=[
        "auto-scaling-owns-desired-count",
        "code-deploy-owns-target-groups",
        "code-deploy-owns-network",
        "unset-az-rebalancing-is-kept-by-aws",
        "unset-role-is-chosen-by-aws",
        "unset-capacity-is-the-clusters",
    ],
)
def test_fields_owned_by_others_are_left_out(context: FieldOwnership, field: str) -> None:
    assert field not in normalise_service(described_service(), context=context)


@pytest.mark.parametrize(
    ("ignore_tags", "kept"),
    [
        ((), ["cost-center", "team"]),
        (("cost-*",), ["team"]),
        (("team",), ["cost-center"]),
    ],
    ids=["only-gitops-and-aws-dropped", "ignored-by-pattern", "ignored-by-name"],
)
def test_reconciler_aws_and_ignored_tags_are_left_out(
    ignore_tags: tuple[str, ...], kept: list[str]
) -> None:
    described = described_service()
    described["tags"] += [
        {"key": "cost-center", "value": "42"},
        {"key": "aws:cloudformation:stack-name", "value": "api"},
    ]

    form = normalise_service(described, context=FieldOwnership(ignore_tags=ignore_tags))

    assert [tag["key"] for tag in form["tags"]] == kept


def test_normalising_does_not_change_the_input() -> None:
    written = copy.deepcopy(WRITTEN_TASK_DEFINITION)
    described = described_service()

    normalise_task_definition(written)
    normalise_service(described, context=REPLICA)

    assert written == WRITTEN_TASK_DEFINITION
    assert described == described_service()


@pytest.mark.parametrize(
    ("written_namespace", "equal"),
    [(None, True), ("internal", True), ("other", False)],
    ids=["left-to-the-cluster-default", "named", "another-named"],
)
def test_a_service_connect_namespace_left_out_is_the_clusters_default(
    written_namespace: str | None, equal: bool
) -> None:
    written: JsonObject = {
        "desiredCount": 1,
        "serviceConnectConfiguration": {"enabled": True, "services": [{"portName": "http"}]},
    }
    if written_namespace is not None:
        written["serviceConnectConfiguration"]["namespace"] = written_namespace
    described = {
        "desiredCount": 1,
        "serviceConnectConfiguration": {
            "enabled": True,
            "namespace": NAMESPACE_ARN,
            "services": [{"portName": "http", "discoveryName": "http"}],
        },
    }

    live, desired = service_forms(written, described)

    assert (live == desired) is equal


@pytest.mark.parametrize(
    ("written", "described"),
    [
        ({"type": "spread", "field": "host"}, {"type": "spread", "field": "instanceId"}),
        ({"type": "binpack", "field": "memory"}, {"type": "binpack", "field": "memory"}),
    ],
    ids=["spread-by-host-is-by-instance", "binpack-kept"],
)
def test_placement_strategies_read_as_aws_stores_them(
    written: JsonObject, described: JsonObject
) -> None:
    live, desired = service_forms(
        {
            "placementStrategy": [
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                written,
            ]
        },
        {
            "placementStrategy": [
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                described,
            ]
        },
    )

    assert live == desired


def test_placement_strategy_order_is_a_difference() -> None:
    first = {"type": "spread", "field": "attribute:ecs.availability-zone"}
    second = {"type": "binpack", "field": "memory"}

    live, desired = service_forms(
        {"placementStrategy": [first, second]}, {"placementStrategy": [second, first]}
    )

    assert live != desired


def base_task_definition() -> JsonObject:
    return {
        "family": "api",
        "cpu": "256",
        "memory": "512",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "registry.example.com/api:1.4.2",
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            }
        ],
    }


@pytest.mark.parametrize(
    "written",
    [
        {**base_task_definition(), "cpu": "0.25 vCPU", "memory": "0.5 GB"},
        {**base_task_definition(), "cpu": 256, "memory": 512},
        {
            **base_task_definition(),
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "registry.example.com/api:1.4.2",
                    "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                }
            ],
        },
        {
            "Family": "api",
            "Cpu": "256",
            "Memory": "512",
            "NetworkMode": "awsvpc",
            "ContainerDefinitions": [
                {
                    "Name": "app",
                    "Image": "registry.example.com/api:1.4.2",
                    "Environment": [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}],
                }
            ],
        },
    ],
    ids=["vcpu-and-gb-strings", "integer-sizes", "reordered-environment", "capitalised-keys"],
)
def test_ways_of_writing_the_same_task_definition_read_the_same(written: JsonObject) -> None:
    assert normalise_task_definition(written) == normalise_task_definition(base_task_definition())
