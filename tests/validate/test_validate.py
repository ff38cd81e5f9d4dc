"""Rendered definitions that AWS would refuse are reported before they reach it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.desired.lint import lint_unit
from reconciler.desired.validate import (
    FARGATE_SIZES,
    check_service_claims,
    parse_task_size,
    validate_unit,
    validate_units,
)
from reconciler.model import Finding, JsonObject, Severity
from tests.validate.conftest import CONFIG_FILE, SERVICE_FILE, TASK_FILE, MakeUnit

Mutation = Callable[[JsonObject, JsonObject], None]


def container(task: JsonObject, name: str) -> dict[str, Any]:
    return next(c for c in task["containerDefinitions"] if c["name"] == name)


@dataclass(frozen=True)
class BadInput:
    """A change to the clean unit, and the finding it must produce."""

    mutate: Mutation
    code: str
    file: str
    field: str
    hint: str | None = None
    severity: Severity = Severity.ERROR


def _set(path: str, value: Any) -> Mutation:
    """Set ``task.a.b`` or ``service.a.b`` (dict keys only) to ``value``."""
    side, *keys = path.split(".")

    def mutate(task: JsonObject, service: JsonObject) -> None:
        node = task if side == "task" else service
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _app(**changes: Any) -> Mutation:
    """Change the ``app`` container; a value of None removes the key."""

    def mutate(task: JsonObject, service: JsonObject) -> None:
        app = container(task, "app")
        for key, value in changes.items():
            if value is None:
                app.pop(key, None)
            else:
                app[key] = value

    return mutate


def _steps(*mutations: Mutation) -> Mutation:
    def mutate(task: JsonObject, service: JsonObject) -> None:
        for step in mutations:
            step(task, service)

    return mutate


def _drop(path: str) -> Mutation:
    side, *keys = path.split(".")

    def mutate(task: JsonObject, service: JsonObject) -> None:
        node = task if side == "task" else service
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def _on_ec2(task: JsonObject, service: JsonObject) -> None:
    """The clean unit moved to EC2 with bridge networking."""
    task["requiresCompatibilities"] = ["EC2"]
    task["networkMode"] = "bridge"
    del service["capacityProviderStrategy"]
    service["launchType"] = "EC2"


BAD_INPUTS = [
    pytest.param(
        BadInput(
            _app(portMapping=[{"containerPort": 8080}]),
            "unknown-field",
            TASK_FILE,
            "containerDefinitions[app].portMapping",
            hint="did you mean 'portMappings'?",
        ),
        id="unknown-container-field-suggests-the-closest",
    ),
    pytest.param(
        BadInput(
            _set("service.desiredcount", 3),
            "unknown-field",
            SERVICE_FILE,
            "desiredcount",
            hint="did you mean 'desiredCount'?",
        ),
        id="unknown-service-field-in-the-wrong-case",
    ),
    pytest.param(
        BadInput(_app(cpu="768"), "wrong-type", TASK_FILE, "containerDefinitions[app].cpu"),
        id="container-cpu-as-a-string",
    ),
    pytest.param(
        BadInput(_set("task.cpu", 1024), "wrong-type", TASK_FILE, "cpu"),
        id="task-cpu-as-a-number",
    ),
    pytest.param(
        BadInput(_set("service.desiredCount", True), "wrong-type", SERVICE_FILE, "desiredCount"),
        id="boolean-where-a-number-belongs",
    ),
    pytest.param(
        BadInput(
            _set("service.deploymentConfiguration", []),
            "wrong-type",
            SERVICE_FILE,
            "deploymentConfiguration",
        ),
        id="list-where-an-object-belongs",
    ),
    pytest.param(
        BadInput(
            _app(dockerLabels={"com.example.team": 5}),
            "wrong-type",
            TASK_FILE,
            "containerDefinitions[app].dockerLabels.com.example.team",
        ),
        id="number-in-a-dotted-docker-label",
    ),
    pytest.param(
        BadInput(
            _set("task.networkMode", "awsvpcc"),
            "bad-enum",
            TASK_FILE,
            "networkMode",
            hint="did you mean 'awsvpc'?",
        ),
        id="bad-network-mode-enum",
    ),
    pytest.param(
        BadInput(
            _app(portMappings=[{"containerPort": 8080, "protocol": "TCP"}]),
            "bad-enum",
            TASK_FILE,
            "containerDefinitions[app].portMappings[0].protocol",
            hint="did you mean 'tcp'?",
        ),
        id="port-protocol-in-capitals",
    ),
    pytest.param(
        BadInput(
            _set("service.propagateTags", "SERVICES"), "bad-enum", SERVICE_FILE, "propagateTags"
        ),
        id="bad-propagate-tags-enum",
    ),
    pytest.param(
        BadInput(_drop("task.family"), "missing-field", TASK_FILE, "family"),
        id="task-definition-without-family",
    ),
    pytest.param(
        BadInput(
            _app(secrets=[{"name": "DB_PASSWORD"}]),
            "missing-field",
            TASK_FILE,
            "containerDefinitions[app].secrets[DB_PASSWORD].valueFrom",
        ),
        id="secret-without-value-from",
    ),
    pytest.param(
        BadInput(
            _set("service.tags", [{"key": "", "value": "x"}]),
            "too-short",
            SERVICE_FILE,
            "tags[0].key",
        ),
        id="empty-tag-key",
    ),
    pytest.param(
        BadInput(
            _app(cpu=1000), "container-cpu-over-task", TASK_FILE, "containerDefinitions[*].cpu"
        ),
        id="container-cpu-sum-over-task-cpu",
    ),
    pytest.param(
        BadInput(
            _app(memory=2000, memoryReservation=1900),
            "container-memory-over-task",
            TASK_FILE,
            "containerDefinitions[*].memoryReservation",
        ),
        id="container-memory-sum-over-task-memory",
    ),
    pytest.param(
        BadInput(
            _app(memory=4096),
            "container-memory-over-task",
            TASK_FILE,
            "containerDefinitions[app].memory",
        ),
        id="one-container-memory-over-task-memory",
    ),
    pytest.param(
        BadInput(
            _app(memoryReservation=1900),
            "memory-reservation-over-limit",
            TASK_FILE,
            "containerDefinitions[app].memoryReservation",
        ),
        id="memory-reservation-above-hard-limit",
    ),
    pytest.param(
        BadInput(
            _steps(_set("task.cpu", "4096"), _set("task.memory", "4096")),
            "fargate-size-invalid",
            TASK_FILE,
            "memory",
            hint="with cpu 4096, memory (MiB) is 8192 to 30720 in steps of 1024",
        ),
        id="fargate-memory-not-offered-with-that-cpu",
    ),
    pytest.param(
        BadInput(_set("task.cpu", "768"), "fargate-size-invalid", TASK_FILE, "cpu"),
        id="fargate-cpu-not-in-the-table",
    ),
    pytest.param(
        BadInput(_drop("task.cpu"), "fargate-size-missing", TASK_FILE, "cpu"),
        id="fargate-task-without-cpu",
    ),
    pytest.param(
        BadInput(_set("task.memory", "2 TB"), "task-size-unreadable", TASK_FILE, "memory"),
        id="unreadable-task-memory",
    ),
    pytest.param(
        BadInput(
            _app(essential=False), "no-essential-container", TASK_FILE, "containerDefinitions"
        ),
        id="no-essential-container",
    ),
    pytest.param(
        BadInput(
            _drop("service.networkConfiguration"),
            "network-configuration-missing",
            SERVICE_FILE,
            "networkConfiguration.awsvpcConfiguration",
        ),
        id="awsvpc-without-network-configuration",
    ),
    pytest.param(
        BadInput(_on_ec2, "network-configuration-unused", SERVICE_FILE, "networkConfiguration"),
        id="network-configuration-for-a-bridge-task",
    ),
    pytest.param(
        BadInput(
            _set("service.launchType", "FARGATE"),
            "launch-type-with-capacity-providers",
            SERVICE_FILE,
            "launchType",
        ),
        id="launch-type-and-capacity-providers",
    ),
    pytest.param(
        BadInput(
            _set(
                "service.capacityProviderStrategy",
                [
                    {"capacityProvider": "FARGATE", "weight": 0},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 1},
                ],
            ),
            "spot-without-base",
            SERVICE_FILE,
            "capacityProviderStrategy",
            severity=Severity.WARNING,
        ),
        id="all-weight-on-spot-without-a-fargate-base",
    ),
    pytest.param(
        BadInput(
            lambda task, service: container(task, "otel").update(name="app"),
            "duplicate-container-name",
            TASK_FILE,
            "containerDefinitions[1].name",
        ),
        id="duplicate-container-names",
    ),
    pytest.param(
        BadInput(_app(image=None), "image-missing", TASK_FILE, "containerDefinitions[app].image"),
        id="container-without-image",
    ),
    pytest.param(
        BadInput(_app(image="  "), "image-missing", TASK_FILE, "containerDefinitions[app].image"),
        id="container-with-blank-image",
    ),
    pytest.param(
        BadInput(
            _set("service.loadBalancers", [{"containerName": "web", "containerPort": 8080}]),
            "load-balancer-container-missing",
            SERVICE_FILE,
            "loadBalancers[0].containerName",
        ),
        id="load-balancer-names-an-unknown-container",
    ),
    pytest.param(
        BadInput(
            _set("service.loadBalancers", [{"containerName": "app", "containerPort": 80}]),
            "load-balancer-port-missing",
            SERVICE_FILE,
            "loadBalancers[0].containerPort",
        ),
        id="load-balancer-port-the-container-does-not-map",
    ),
    pytest.param(
        BadInput(
            _set("task.networkMode", "bridge"), "fargate-network-mode", TASK_FILE, "networkMode"
        ),
        id="bridge-network-mode-on-fargate",
    ),
    pytest.param(
        BadInput(
            _steps(_drop("task.requiresCompatibilities"), _set("task.networkMode", "host")),
            "fargate-network-mode",
            TASK_FILE,
            "networkMode",
        ),
        id="host-network-mode-on-fargate-capacity-providers",
    ),
    pytest.param(
        BadInput(
            _app(dependsOn=[{"containerName": "otel-collector", "condition": "START"}]),
            "depends-on-unknown-container",
            TASK_FILE,
            "containerDefinitions[app].dependsOn[0].containerName",
        ),
        id="depends-on-an-unknown-container",
    ),
    pytest.param(
        BadInput(
            _steps(
                _on_ec2,
                _drop("service.networkConfiguration"),
                _drop("task.cpu"),
                _drop("task.memory"),
                lambda task, service: container(task, "otel").pop("memoryReservation"),
            ),
            "container-memory-missing",
            TASK_FILE,
            "containerDefinitions[otel].memoryReservation",
        ),
        id="ec2-container-without-any-memory",
    ),
    pytest.param(
        BadInput(
            _app(portMappings=[{"containerPort": 8080, "hostPort": 80}]),
            "host-port-mismatch",
            TASK_FILE,
            "containerDefinitions[app].portMappings[0].hostPort",
        ),
        id="host-port-differs-from-container-port-in-awsvpc",
    ),
    pytest.param(
        BadInput(
            _app(dependsOn=[{"containerName": "otel", "condition": "HEALTHY"}]),
            "depends-on-unchecked-container",
            TASK_FILE,
            "containerDefinitions[app].dependsOn[0].condition",
        ),
        id="waits-for-healthy-on-a-container-without-health-check",
    ),
    pytest.param(
        BadInput(
            lambda task, service: container(task, "otel")["logConfiguration"]["options"].pop(
                "awslogs-region"
            ),
            "awslogs-option-missing",
            TASK_FILE,
            "containerDefinitions[otel].logConfiguration.options",
        ),
        id="awslogs-without-a-region",
    ),
    pytest.param(
        BadInput(
            lambda task, service: container(task, "app")["logConfiguration"]["options"].pop(
                "awslogs-stream-prefix"
            ),
            "awslogs-option-missing",
            TASK_FILE,
            "containerDefinitions[app].logConfiguration.options",
            hint="add 'awslogs-stream-prefix' to the log configuration options",
        ),
        id="awslogs-without-a-stream-prefix-on-fargate",
    ),
    pytest.param(
        BadInput(
            _set("service.schedulingStrategy", "DAEMON"),
            "fargate-daemon",
            SERVICE_FILE,
            "schedulingStrategy",
        ),
        id="daemon-service-on-fargate",
    ),
    pytest.param(
        BadInput(
            _set("service.deploymentController", {"type": "EXTERNAL"}),
            "external-deployment-controller",
            SERVICE_FILE,
            "deploymentController.type",
        ),
        id="external-deployment-controller",
    ),
    pytest.param(
        BadInput(
            _set("service.roleArn", "arn:aws:iam::123456789012:role/ecsServiceRole"),
            "output-only-field",
            SERVICE_FILE,
            "roleArn",
            severity=Severity.WARNING,
        ),
        id="service-field-ecs-only-reports",
    ),
]


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_a_bad_definition_is_reported_at_its_unit_file_and_field(
    bad: BadInput, make_unit: MakeUnit, clean_task: JsonObject, clean_service: JsonObject
) -> None:
    bad.mutate(clean_task, clean_service)
    unit = make_unit(task=clean_task, service=clean_service)

    findings = validate_unit(unit)

    matching = [f for f in findings if f.code == bad.code]
    assert matching, f"no {bad.code} among {[str(f) for f in findings]}"
    found = matching[0]
    assert (found.unit, found.file, found.field) == ("api", bad.file, bad.field)
    assert found.severity is bad.severity
    assert found.message
    if bad.hint is not None:
        assert found.hint == bad.hint


def test_a_clean_unit_has_no_findings(make_unit: MakeUnit) -> None:
    assert validate_unit(make_unit()) == []


def test_a_task_definition_only_unit_is_checked_without_a_service(make_unit: MakeUnit) -> None:
    unit = make_unit(task_only=True)
    assert validate_unit(unit) == []

    unit.task_definition["containerDefinitions"][0].pop("image")  # type: ignore[index]
    assert [f.code for f in validate_unit(unit)] == ["image-missing"]


def test_every_problem_in_a_definition_is_reported_not_only_the_first(
    make_unit: MakeUnit, clean_task: JsonObject
) -> None:
    container(clean_task, "app").pop("image")
    container(clean_task, "otel")["cpu"] = "256"
    clean_task["pidMode"] = "tasks"

    codes = sorted(str(f.code) for f in validate_unit(make_unit(task=clean_task)))

    assert codes == ["bad-enum", "image-missing", "wrong-type"]


@pytest.mark.parametrize(
    ("written", "kind", "expected"),
    [
        pytest.param("256", "cpu", 256, id="cpu-units"),
        pytest.param("0.25 vCPU", "cpu", 256, id="quarter-vcpu"),
        pytest.param("1 vCPU", "cpu", 1024, id="one-vcpu"),
        pytest.param("16 vcpu", "cpu", 16384, id="sixteen-vcpu-lower-case"),
        pytest.param(".5 vCPU", "cpu", 512, id="half-vcpu-without-leading-zero"),
        pytest.param("512", "memory", 512, id="memory-mib"),
        pytest.param("1 GB", "memory", 1024, id="one-gb"),
        pytest.param("2GB", "memory", 2048, id="gb-without-space"),
        pytest.param("0.5 GB", "memory", 512, id="half-gb"),
        pytest.param(2048, "memory", 2048, id="a-number"),
        pytest.param("1 vCPU", "memory", None, id="vcpu-is-not-memory"),
        pytest.param("1 GB", "cpu", None, id="gb-is-not-cpu"),
        pytest.param("0.3 vCPU", "cpu", None, id="fractional-cpu-unit"),
        pytest.param("lots", "memory", None, id="words"),
    ],
)
def test_task_sizes_are_read_as_aws_lets_users_write_them(
    written: Any, kind: str, expected: int | None
) -> None:
    assert parse_task_size(written, kind) == expected


def _fargate_findings(make_unit: MakeUnit, task: JsonObject, cpu: str, memory: str) -> list[str]:
    task["cpu"], task["memory"] = cpu, memory
    # One small container, so only the task size can be wrong.
    task["containerDefinitions"] = [
        {
            "name": "app",
            "image": "app:1",
            "portMappings": [{"containerPort": 8080}],
            "healthCheck": {"command": ["CMD", "true"]},
        }
    ]
    return [str(f.code) for f in validate_unit(make_unit(task=task))]


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(str(cpu), str(memory)) for cpu, sizes in FARGATE_SIZES.items() for memory in sizes]
    + [("8 vCPU", "60 GB"), ("16 vCPU", "120 GB"), ("0.25 vCPU", "0.5 GB")],
)
def test_every_fargate_size_in_the_published_table_is_accepted(
    cpu: str, memory: str, make_unit: MakeUnit, clean_task: JsonObject
) -> None:
    assert _fargate_findings(make_unit, clean_task, cpu, memory) == []


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        pytest.param("256", "1536", id="quarter-vcpu-has-no-1.5-gb"),
        pytest.param("256", "4096", id="quarter-vcpu-tops-out-at-2-gb"),
        pytest.param("512", "512", id="half-vcpu-starts-at-1-gb"),
        pytest.param("8192", "18432", id="8-vcpu-steps-by-4-gb"),
        pytest.param("16384", "16384", id="16-vcpu-starts-at-32-gb"),
        pytest.param("16384", "131072", id="16-vcpu-tops-out-at-120-gb"),
        pytest.param("32768", "65536", id="no-32-vcpu"),
    ],
)
def test_a_fargate_size_aws_does_not_offer_is_an_error(
    cpu: str, memory: str, make_unit: MakeUnit, clean_task: JsonObject
) -> None:
    assert _fargate_findings(make_unit, clean_task, cpu, memory) == ["fargate-size-invalid"]


def _claims(findings: list[Finding]) -> list[tuple[str | None, str | None, str]]:
    return [(f.unit, f.file, f.message) for f in findings if f.code == "service-claimed-twice"]


def test_two_units_claiming_one_service_are_both_errors_naming_each_other(
    make_unit: MakeUnit,
) -> None:
    units = [
        make_unit("api"),
        make_unit("api-copy", service_name="api"),
        make_unit("frontend"),
    ]

    per_unit = validate_units(units)

    assert _claims(per_unit["api"]) == [
        (
            "api",
            CONFIG_FILE,
            "service api in cluster prod (us-east-1) is also claimed by unit api-copy",
        )
    ]
    assert _claims(per_unit["api-copy"]) == [
        (
            "api-copy",
            "api-copy/ecspresso.yml",
            "service api in cluster prod (us-east-1) is also claimed by unit api",
        )
    ]
    assert per_unit["frontend"] == []


@pytest.mark.parametrize(
    ("second", "claimed"),
    [
        pytest.param(
            {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"},
            True,
            id="cluster-by-arn-is-the-same-cluster",
        ),
        pytest.param({"cluster": "staging"}, False, id="another-cluster"),
        pytest.param({"region": "eu-west-1"}, False, id="another-region"),
        pytest.param({"task_only": True}, False, id="a-task-definition-only-unit"),
    ],
)
def test_a_service_is_the_same_only_in_the_same_region_and_cluster(
    second: dict[str, Any], claimed: bool, make_unit: MakeUnit
) -> None:
    units = [make_unit("api"), make_unit("other", service_name="api", **second)]

    findings = check_service_claims(units)

    assert bool(findings) is claimed


def _every_path(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _every_path(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _every_path(value, (*path, index))
    return paths


def _replaced(document: JsonObject, path: tuple[Any, ...], value: Any) -> JsonObject:
    changed = copy.deepcopy(document)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


ODD_VALUES = [None, "x", -1, True, [], {}, [None], {"x": None}]


@pytest.mark.parametrize("side", ["task", "service"])
def test_any_value_of_any_type_anywhere_is_reported_never_a_crash(
    side: str, make_unit: MakeUnit, clean_task: JsonObject, clean_service: JsonObject
) -> None:
    document = clean_task if side == "task" else clean_service
    for path in _every_path(document):
        for value in ODD_VALUES:
            changed = _replaced(document, path, value)
            unit = make_unit(task=changed) if side == "task" else make_unit(service=changed)
            findings = validate_unit(unit) + lint_unit(unit)
            assert all(f.unit == "api" and f.file for f in findings)


def test_a_stream_prefix_is_required_on_fargate_only(
    make_unit: MakeUnit, clean_task: JsonObject, clean_service: JsonObject
) -> None:
    for item in clean_task["containerDefinitions"]:
        item["logConfiguration"]["options"].pop("awslogs-stream-prefix")
    clean_task["requiresCompatibilities"] = ["EC2"]
    del clean_service["capacityProviderStrategy"]
    clean_service["launchType"] = "EC2"

    assert validate_unit(make_unit(task=clean_task, service=clean_service)) == []
