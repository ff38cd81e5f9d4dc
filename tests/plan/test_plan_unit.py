"""Plans made against services read back from the emulator, which fills defaults as AWS does."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import PermanentAwsError, Reason
from reconciler.live import LiveRequest, fetch_live
from reconciler.model import (
    Cause,
    DesiredUnit,
    JsonObject,
    PlanStatus,
    Policy,
    StepKind,
    UnitConfig,
)
from reconciler.plan import desired_digest, plan_error, plan_unit
from tests.conftest import EmulatorHandle, run_async

TASK_DEFINITION: JsonObject = {
    "family": "api",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "ghcr.io/acme/api:1.4.2",
            "portMappings": [{"containerPort": 8080}],
            "environment": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "PORT", "value": "8080"},
            ],
        }
    ],
}
SERVICE: JsonObject = {
    "desiredCount": 2,
    "capacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
    ],
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
    "deploymentConfiguration": {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    },
}


def unit(
    task_definition: JsonObject = TASK_DEFINITION, service: JsonObject | None = SERVICE
) -> DesiredUnit:
    config = UnitConfig(
        region="us-east-1",
        cluster="prod",
        service="api" if service is not None else None,
        service_definition="ecs-service-def.json" if service is not None else None,
        task_definition="ecs-task-def.json",
    )
    return DesiredUnit(
        id="api",
        revision="c0ffee",
        path="api",
        config=config,
        policy=Policy(),
        task_definition=copy.deepcopy(task_definition),
        service=copy.deepcopy(service),
    )


def deploy(emulator: EmulatorHandle, task_definition: JsonObject, service: JsonObject) -> None:
    """Create the service in the emulator the way a user would from these definitions."""
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.put_cluster_capacity_providers(
        cluster="prod",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[],
    )
    arn = ecs.register_task_definition(**task_definition)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition=arn, **service)


def plan_against_emulator(
    aws: Aws, desired: DesiredUnit, applied: DesiredUnit | None = None
) -> Any:
    request = LiveRequest(
        "api", AwsTarget("us-east-1"), "prod", desired.config.service, desired_digest(desired)
    )
    (result,) = run_async(fetch_live(aws, [request]))
    assert result.error is None
    assert result.live is not None
    return plan_unit(desired, result.live, applied)


def test_a_service_created_from_its_definition_plans_in_sync(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    deploy(emulator, TASK_DEFINITION, SERVICE)

    plan = plan_against_emulator(aws, unit())

    assert plan.status is PlanStatus.IN_SYNC, plan.changes
    assert plan.steps == ()


def test_a_unit_written_loosely_plans_in_sync_against_its_equivalent(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    deploy(emulator, TASK_DEFINITION, SERVICE)
    loose = copy.deepcopy(TASK_DEFINITION)
    loose["cpu"] = "0.25 vCPU"
    loose["memory"] = "0.5 GB"
    container = loose["containerDefinitions"][0]
    container["environment"].reverse()
    container["Image"] = container.pop("image")

    plan = plan_against_emulator(aws, unit(loose))

    assert plan.status is PlanStatus.IN_SYNC, plan.changes


def edit(target: JsonObject, path: str, value: Any) -> JsonObject:
    edited = copy.deepcopy(target)
    *parents, last = path.split(".")
    node: Any = edited
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return edited


@pytest.mark.parametrize(
    ("task_definition", "service", "path", "steps"),
    [
        pytest.param(
            edit(TASK_DEFINITION, "containerDefinitions.0.image", "ghcr.io/acme/api:1.5.0"),
            SERVICE,
            "containerDefinitions[app].image",
            (StepKind.REGISTER_TASK_DEFINITION, StepKind.UPDATE_SERVICE),
            id="image",
        ),
        pytest.param(
            edit(TASK_DEFINITION, "containerDefinitions.0.environment.0.value", "debug"),
            SERVICE,
            "containerDefinitions[app].environment[LOG_LEVEL]",
            (StepKind.REGISTER_TASK_DEFINITION, StepKind.UPDATE_SERVICE),
            id="environment-variable",
        ),
        pytest.param(
            TASK_DEFINITION,
            edit(SERVICE, "desiredCount", 4),
            "desiredCount",
            (StepKind.UPDATE_SERVICE,),
            id="desired-count",
        ),
        pytest.param(
            TASK_DEFINITION,
            edit(SERVICE, "capacityProviderStrategy.1.weight", 1),
            "capacityProviderStrategy[FARGATE_SPOT].weight",
            (StepKind.UPDATE_SERVICE,),
            id="capacity-provider-weight",
        ),
        pytest.param(
            TASK_DEFINITION,
            edit(SERVICE, "deploymentConfiguration.deploymentCircuitBreaker.rollback", False),
            "deploymentConfiguration.deploymentCircuitBreaker.rollback",
            (StepKind.UPDATE_SERVICE,),
            id="circuit-breaker",
        ),
    ],
)
def test_one_edit_plans_as_exactly_that_one_change(
    emulator: EmulatorHandle,
    aws: Aws,
    task_definition: JsonObject,
    service: JsonObject,
    path: str,
    steps: tuple[StepKind, ...],
) -> None:
    deploy(emulator, TASK_DEFINITION, SERVICE)

    plan = plan_against_emulator(aws, unit(task_definition, service))

    assert plan.status is PlanStatus.CHANGED
    assert [change.path for change in plan.changes] == [path]
    assert plan.steps == steps
    assert plan.causes == {Cause.CHANGE}


def test_a_missing_service_plans_its_creation(emulator: EmulatorHandle, aws: Aws) -> None:
    emulator.client("ecs").create_cluster(clusterName="prod")

    plan = plan_against_emulator(aws, unit())

    assert plan.status is PlanStatus.MISSING
    assert plan.steps == (StepKind.REGISTER_TASK_DEFINITION, StepKind.CREATE_SERVICE)


def test_a_change_made_by_hand_is_drift(emulator: EmulatorHandle, aws: Aws) -> None:
    deploy(emulator, TASK_DEFINITION, SERVICE)
    emulator.client("ecs").update_service(cluster="prod", service="api", desiredCount=7)

    plan = plan_against_emulator(aws, unit(), applied=unit())

    assert plan.causes == {Cause.DRIFT}
    assert [(c.path, c.live, c.desired) for c in plan.changes] == [("desiredCount", 7, 2)]


def test_git_moving_while_aws_drifted_is_both_change_and_drift(
    emulator: EmulatorHandle, aws: Aws
) -> None:
    deploy(emulator, TASK_DEFINITION, SERVICE)
    emulator.client("ecs").update_service(cluster="prod", service="api", desiredCount=7)
    moved = unit(edit(TASK_DEFINITION, "containerDefinitions.0.image", "ghcr.io/acme/api:2"))

    plan = plan_against_emulator(aws, moved, applied=unit())

    assert plan.causes == {Cause.CHANGE, Cause.DRIFT}


def test_a_unit_that_cannot_be_read_is_planned_as_an_error_naming_the_call() -> None:
    error = PermanentAwsError(
        Reason.AWS_NOT_FOUND, "ecs", "DescribeServices", "ClusterNotFoundException", "no cluster"
    )

    plan = plan_error("api", error, cluster="prod", service="api")

    assert plan.status is PlanStatus.ERROR
    assert plan.error is not None
    assert "ecs:DescribeServices" in plan.error.message
    assert plan.error.code == "AWS_NOT_FOUND"
