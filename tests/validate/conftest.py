"""A clean rendered unit, and a way to build variants of it for each bad input."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from reconciler.model import AutoScaling, DesiredUnit, JsonObject, Policy, UnitConfig

# A task definition as the render stage hands it over: camelCase, read-only keys
# gone, template calls already filled in.
CLEAN_TASK: JsonObject = {
    "family": "prod-api",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "1024",
    "memory": "2048",
    "executionRoleArn": "arn:aws:iam::123456789012:role/prod-ecs-task-execution",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.4.2",
            "essential": True,
            "cpu": 768,
            "memory": 1792,
            "memoryReservation": 1536,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "PORT", "value": "8080"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": "/prod/api/db-password"}],
            "dependsOn": [{"containerName": "otel", "condition": "START"}],
            "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8080/healthz"]},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/prod/api",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "app",
                },
            },
            "dockerLabels": {"com.example.team": "platform"},
        },
        {
            "name": "otel",
            "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
            "essential": False,
            "cpu": 256,
            "memoryReservation": 256,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/prod/api",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "otel",
                },
            },
        },
    ],
}

CLEAN_SERVICE: JsonObject = {
    "capacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 2},
    ],
    "deploymentConfiguration": {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    },
    "networkConfiguration": {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"],
            "securityGroups": ["sg-0a1b2c3d"],
            "assignPublicIp": "DISABLED",
        }
    },
    "loadBalancers": [
        {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
            "targetgroup/api/0123456789abcdef",
            "containerName": "app",
            "containerPort": 8080,
        }
    ],
    "schedulingStrategy": "REPLICA",
    "propagateTags": "SERVICE",
}

TASK_FILE = "api/ecs-task-def.json"
SERVICE_FILE = "api/ecs-service-def.json"
CONFIG_FILE = "api/ecspresso.yml"

MakeUnit = Callable[..., DesiredUnit]

API_SCALING = AutoScaling(min=5, max=50)


def build_unit(
    unit_id: str = "api",
    *,
    task: JsonObject | None = None,
    service: JsonObject | None = None,
    service_name: str | None = None,
    cluster: str = "prod",
    region: str = "us-east-1",
    autoscaling: AutoScaling | None = API_SCALING,
    unpinned_vars: frozenset[str] = frozenset(),
    task_only: bool = False,
) -> DesiredUnit:
    """The clean unit with its definitions replaced where given."""
    config = UnitConfig(
        region=region,
        cluster=cluster,
        service=None if task_only else (service_name or unit_id),
        service_definition=None if task_only else "ecs-service-def.json",
        task_definition="ecs-task-def.json",
    )
    files = [f"{unit_id}/ecspresso.yml", f"{unit_id}/ecs-task-def.json"]
    if not task_only:
        files.append(f"{unit_id}/ecs-service-def.json")
    return DesiredUnit(
        id=unit_id,
        revision=None,
        path=unit_id,
        config=config,
        policy=Policy(autoscaling=autoscaling),
        task_definition=copy.deepcopy(CLEAN_TASK) if task is None else task,
        service=None if task_only else copy.deepcopy(CLEAN_SERVICE if service is None else service),
        files=tuple(files),
        unpinned_vars=unpinned_vars,
    )


@pytest.fixture
def clean_task() -> JsonObject:
    return copy.deepcopy(CLEAN_TASK)


@pytest.fixture
def clean_service() -> JsonObject:
    return copy.deepcopy(CLEAN_SERVICE)


@pytest.fixture
def make_unit() -> Callable[..., DesiredUnit]:
    return build_unit
