"""Payloads shaped as ECS returns them, and units written as users write them.

The describe outputs below follow the shapes of botocore's ECS model and of
real describe-services / describe-task-definition output (read-only fields,
datetimes, defaults filled in, AWS's own list order), so the normaliser is
tested against AWS rather than against our own emulator.
"""

from __future__ import annotations

import copy
import datetime
import json
import pathlib
from typing import Any

import botocore
import pytest

from reconciler.model import AutoScaling, DesiredUnit, JsonObject, Policy, UnitConfig

ACCOUNT = "123456789012"
REGION = "us-east-1"
NAMESPACE_ARN = f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/internal"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/api/6a3018507022"
WHEN = datetime.datetime(2026, 11, 3, 9, 30, tzinfo=datetime.UTC)

ECSPRESSO_FIXTURES = pathlib.Path("/work/shared/reference/ecspresso-fixtures/tests")
BOTOCORE_EXAMPLES = pathlib.Path(botocore.__file__).parent / "data/ecs/2014-11-13/examples-1.json"

# The task definition as a user writes it: capitalised keys, "0.25 vCPU",
# environment in the order it came to mind, defaults left out.
WRITTEN_TASK_DEFINITION: JsonObject = {
    "Family": "api",
    "Cpu": "0.25 vCPU",
    "Memory": "0.5 GB",
    "NetworkMode": "awsvpc",
    "RequiresCompatibilities": ["FARGATE"],
    "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
    "ContainerDefinitions": [
        {
            "Name": "app",
            "Image": "registry.example.com/api:1.4.2",
            "PortMappings": [{"ContainerPort": 8080}],
            "Environment": [
                {"Name": "LOG_LEVEL", "Value": "info"},
                {"Name": "DB_HOST", "Value": "db.internal"},
                {"Name": "API_TOKEN", "Value": "tok-123"},
            ],
            "LogConfiguration": {
                "LogDriver": "awslogs",
                "Options": {
                    "awslogs-group": "/ecs/api",
                    "awslogs-region": REGION,
                    "awslogs-stream-prefix": "app",
                },
            },
            "DockerLabels": {"Team": "payments"},
        },
        {
            "Name": "envoy",
            "Image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29",
            "Essential": False,
            "HealthCheck": {"Command": ["CMD-SHELL", "curl -s localhost:9901/ready"]},
        },
    ],
    "Tags": [{"Key": "team", "Value": "payments"}],
}


def described_task_definition() -> JsonObject:
    """describe_task_definition(include=["TAGS"]) for WRITTEN_TASK_DEFINITION."""
    return {
        "taskDefinition": {
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:7",
            "containerDefinitions": [
                {
                    "name": "envoy",
                    "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29",
                    "cpu": 0,
                    "portMappings": [],
                    "essential": False,
                    "environment": [],
                    "mountPoints": [],
                    "volumesFrom": [],
                    "healthCheck": {
                        "command": ["CMD-SHELL", "curl -s localhost:9901/ready"],
                        "interval": 30,
                        "timeout": 5,
                        "retries": 3,
                    },
                    "systemControls": [],
                },
                {
                    "name": "app",
                    "image": "registry.example.com/api:1.4.2",
                    "cpu": 0,
                    "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                    "essential": True,
                    "environment": [
                        {"name": "API_TOKEN", "value": "tok-123"},
                        {"name": "DB_HOST", "value": "db.internal"},
                        {"name": "LOG_LEVEL", "value": "info"},
                    ],
                    "mountPoints": [],
                    "volumesFrom": [],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/api",
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": "app",
                        },
                        "secretOptions": [],
                    },
                    "dockerLabels": {"Team": "payments"},
                    "systemControls": [],
                },
            ],
            "family": "api",
            "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
            "networkMode": "awsvpc",
            "revision": 7,
            "volumes": [],
            "status": "ACTIVE",
            "requiresAttributes": [
                {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
                {"name": "ecs.capability.execution-role-awslogs"},
                {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
                {"name": "ecs.capability.container-health-check"},
                {"name": "ecs.capability.task-eni"},
            ],
            "placementConstraints": [],
            "compatibilities": ["EC2", "FARGATE"],
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "registeredAt": WHEN,
            "registeredBy": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci",
            "enableFaultInjection": False,
        },
        "tags": [
            {"key": "gitops:digest", "value": "v1:0a1b2c"},
            {"key": "team", "value": "payments"},
        ],
    }


# The service as a user writes it in ecs-service-def.json.
WRITTEN_SERVICE: JsonObject = {
    "desiredCount": 2,
    "launchType": "FARGATE",
    "deploymentConfiguration": {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    },
    "loadBalancers": [
        {"containerName": "app", "containerPort": 8080, "targetGroupArn": TARGET_GROUP}
    ],
    "networkConfiguration": {
        "awsvpcConfiguration": {"subnets": ["subnet-0b", "subnet-0a"], "securityGroups": ["sg-1"]}
    },
    "serviceConnectConfiguration": {
        "enabled": True,
        "namespace": "internal",
        "services": [{"portName": "http", "clientAliases": [{"port": 80}]}],
    },
    "capacityProviderStrategy": [],
    "placementConstraints": [],
    "serviceRegistries": [],
    "tags": [{"key": "team", "value": "payments"}],
}


def described_service() -> JsonObject:
    """A describe_services(include=["TAGS"]) item for WRITTEN_SERVICE, after a rollout."""
    network = {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a", "subnet-0b"],
            "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED",
        }
    }
    return {
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/api",
        "serviceName": "api",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod",
        "loadBalancers": [
            {"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": 8080}
        ],
        "serviceRegistries": [],
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "platformFamily": "Linux",
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:7",
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "alarms": {"alarmNames": [], "rollback": False, "enable": False},
            "strategy": "ROLLING",
        },
        "deployments": [
            {
                "id": "ecs-svc/1234567890123456789",
                "status": "PRIMARY",
                "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:7",
                "desiredCount": 2,
                "pendingCount": 0,
                "runningCount": 2,
                "failedTasks": 0,
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": network,
                "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment ecs-svc/1234567890123456789 completed.",
                "serviceConnectConfiguration": {
                    "enabled": True,
                    "namespace": NAMESPACE_ARN,
                    "services": [
                        {
                            "portName": "http",
                            "discoveryName": "http",
                            "clientAliases": [{"port": 80}],
                        }
                    ],
                },
                "serviceConnectResources": [
                    {
                        "discoveryName": "http",
                        "discoveryArn": f"{NAMESPACE_ARN.rsplit(':', 1)[0]}:service/srv-1",
                    }
                ],
            }
        ],
        "roleArn": (
            f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
        ),
        "events": [
            {
                "id": "5f7c6a51-3f7a-4e8e-a4a2-5b0c1d2e3f40",
                "createdAt": WHEN,
                "message": "(service api) has reached a steady state.",
            }
        ],
        "createdAt": WHEN,
        "placementConstraints": [],
        "placementStrategy": [],
        "networkConfiguration": network,
        "healthCheckGracePeriodSeconds": 0,
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "tags": [
            {"key": "team", "value": "payments"},
            {"key": "gitops:owner", "value": "git@example.com:platform/services.git#main"},
            {"key": "gitops:revision", "value": "4f1c2e9"},
        ],
        "createdBy": f"arn:aws:iam::{ACCOUNT}:role/deployer",
        "enableECSManagedTags": False,
        "propagateTags": "NONE",
        "enableExecuteCommand": False,
        "availabilityZoneRebalancing": "ENABLED",
    }


def make_unit(
    task_definition: JsonObject | None = None,
    service: JsonObject | None = None,
    *,
    ignore_tags: tuple[str, ...] = (),
    autoscaling: AutoScaling | None = None,
    revision: str = "4f1c2e9",
) -> DesiredUnit:
    return DesiredUnit(
        id="api",
        revision=revision,
        path="api",
        config=UnitConfig(
            region=REGION,
            cluster="prod",
            service="api" if service is not None else None,
            service_definition="ecs-service-def.json" if service is not None else None,
            task_definition="ecs-task-def.json",
            ignore_tags=ignore_tags,
        ),
        policy=Policy(autoscaling=autoscaling),
        task_definition=copy.deepcopy(task_definition),
        service=copy.deepcopy(service),
    )


def botocore_examples() -> dict[str, Any]:
    examples: dict[str, Any] = json.loads(BOTOCORE_EXAMPLES.read_text())["examples"]
    return examples


def read_ecspresso_fixture(name: str) -> JsonObject:
    """One of ecspresso's test fixtures; the test is skipped when it is absent."""
    path = ECSPRESSO_FIXTURES / name
    if not path.is_file():
        pytest.skip(f"ecspresso fixture {path} is not available here")
    fixture: JsonObject = json.loads(path.read_text())
    return fixture
