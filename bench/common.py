"""What every benchmark shares: the emulator in a process of its own, a repository of
N units committed to git, services created as apply leaves them, call counts."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from reconciler.aws import Aws, Sessions
from reconciler.clock import Clock, SystemClock
from reconciler.desired import render_units
from reconciler.loop.daemon import LoopSettings, Reconciler
from reconciler.loop.heap import HeapSettler
from reconciler.model import TAG_DIGEST, TAG_OWNER, TAG_REVISION, TAG_TASK_DEFINITION, TAG_UNIT
from reconciler.plan import desired_digest
from reconciler.source import open_repo_files
from reconciler.source.remote import GitRemote, Mirror

CLUSTER = "bench"
OWNER = "bench@main"
CONTAINER = "app"


def quiet_credentials() -> None:
    """Credentials for the emulator, and no instance metadata lookups."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


class EmulatorProcess:
    """The emulator in a process of its own, so its CPU is not counted as ours."""

    def __enter__(self) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        self.endpoint = self._process.stdout.readline().strip().split("=", 1)[1]
        return self.endpoint

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()


def control(endpoint: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{endpoint}/_emulator/{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def call_counts(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/_emulator/stats", timeout=60) as response:
        return dict(json.load(response)["calls"])


def unit_name(index: int) -> str:
    return f"svc-{index:04d}"


def write_repo(root: Path, count: int, *, tag: str = "1.27", desired_count: int = 1) -> None:
    """``count`` units of one cluster, each a Fargate service of ``desired_count`` tasks."""
    for index in range(count):
        write_unit(root, index, tag=tag, desired_count=desired_count)


def write_unit(root: Path, index: int, *, tag: str, desired_count: int = 1) -> None:
    name = unit_name(index)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ecspresso.yml").write_text(
        f"region: us-east-1\ncluster: {CLUSTER}\nservice: {name}\n"
        "service_definition: ecs-service-def.json\ntask_definition: ecs-task-def.json\n"
    )
    (folder / "reconciler.yml").write_text(f"vars:\n  IMAGE_TAG: '{tag}'\n")
    task = {
        "family": name,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": CONTAINER,
                "image": "nginx:{{ must_env `IMAGE_TAG` }}",
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "UNIT", "value": str(index)}],
            }
        ],
    }
    service = {
        "desiredCount": desired_count,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
        "deploymentConfiguration": {
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    }
    (folder / "ecs-task-def.json").write_text(json.dumps(task, indent=2))
    (folder / "ecs-service-def.json").write_text(json.dumps(service, indent=2))


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit_all(root: Path, message: str) -> str:
    """Commit the folder (made a repository on branch main the first time); the commit id."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def deploy_as_applied(endpoint: str, root: Path, revision: str) -> None:
    """Create every service as apply leaves it: tagged with its digest, ARN and revision."""
    ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=endpoint)
    ecs.create_cluster(clusterName=CLUSTER)
    results = asyncio.run(render_units(open_repo_files(root, revision), None))
    for result in results:
        unit = result.unit
        if unit is None or unit.task_definition is None or unit.service is None:
            raise SystemExit(f"{result.id} did not render: {result.findings}")
        arn = ecs.register_task_definition(**unit.task_definition)["taskDefinition"][
            "taskDefinitionArn"
        ]
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=unit.id,
            taskDefinition=arn,
            tags=[
                {"key": TAG_DIGEST, "value": desired_digest(unit) or ""},
                {"key": TAG_TASK_DEFINITION, "value": arn},
                {"key": TAG_REVISION, "value": revision},
                {"key": TAG_OWNER, "value": OWNER},
                {"key": TAG_UNIT, "value": unit.id},
            ],
            **unit.service,
        )


def make_reconciler(
    endpoint: str,
    repo: Path,
    data: Path,
    *,
    clock: Clock | None = None,
    concurrency: int = 8,
    poll_interval: float = 5.0,
    drift_interval: float = 300.0,
) -> Reconciler:
    """A reconciler wired as ``reconciler run`` wires it, its mirror a clone of ``repo``."""
    return Reconciler(
        LoopSettings(
            owner=OWNER,
            concurrency=concurrency,
            poll_interval=poll_interval,
            drift_interval=drift_interval,
        ),
        mirror=Mirror(GitRemote(str(repo)), data),
        aws=Aws(Sessions(endpoint_url=endpoint)),
        clock=clock or SystemClock(),
        heap=HeapSettler(),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine() -> str:
    """The machine the figures were taken on: CPU model, cores, memory."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1]
    return f"{model}, nproc {os.cpu_count()}, memory: {' '.join(memory.split()[1:2])} total"
