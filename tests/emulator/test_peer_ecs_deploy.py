"""Other tools work against the emulator unchanged: the ecs-deploy CLI sees its rollout complete.

ecs-deploy runs from a virtualenv of its own (``make peers``), so its pins never
shape ours. The emulator's clock runs by itself here, as ecs-deploy polls on the
wall clock.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import EmulatorHandle

ECS_DEPLOY = Path(__file__).resolve().parents[2] / ".venv-peers" / "ecs-deploy" / "bin" / "ecs"


@pytest.fixture
def running_emulator(emulator: EmulatorHandle) -> Iterator[EmulatorHandle]:
    emulator.control("POST", "clock/run", {"speed": 60})
    yield emulator
    emulator.control("POST", "clock/stop")


@pytest.mark.slow
def test_ecs_deploy_sees_its_rollout_complete(running_emulator: EmulatorHandle) -> None:
    assert ECS_DEPLOY.exists(), "run `make peers` to install ecs-deploy in .venv-peers/"
    ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=running_emulator.endpoint)
    ecs.create_cluster(clusterName="prod")
    arn = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx:1.27"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=arn,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
    )

    result = subprocess.run(
        [
            str(ECS_DEPLOY),
            "deploy",
            "prod",
            "web",
            "--image",
            "web",
            "nginx:1.28",
            "--timeout",
            "120",
        ],
        env={**os.environ, "AWS_ENDPOINT_URL": running_emulator.endpoint},
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deployment successful" in result.stdout
    service = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert service["taskDefinition"].endswith("task-definition/web:2")
    assert service["runningCount"] == 2
