"""Building small unit repositories for the render tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.aws import Aws
from reconciler.desired import render_units
from reconciler.model import RenderResult
from reconciler.source import FolderFiles, RepoFiles
from tests.conftest import run_async

TASK = {
    "family": "api",
    "cpu": "256",
    "memory": "512",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "essential": True}],
}
SERVICE = {"desiredCount": 2, "launchType": "FARGATE"}
CONFIG = """\
region: us-east-1
cluster: prod
service: api
service_definition: ecs-service-def.json
task_definition: ecs-task-def.json
"""
FIXTURES = Path("/work/shared/reference/ecspresso-fixtures/tests")


def unit_files(
    folder: str = "api",
    *,
    config: str = CONFIG,
    task: Any = None,
    service: Any = None,
) -> dict[str, str]:
    """A service unit in ``folder``: ecspresso.yml and its two JSON definitions."""
    prefix = "" if folder == "." else f"{folder}/"
    return {
        f"{prefix}ecspresso.yml": config,
        f"{prefix}ecs-task-def.json": task if isinstance(task, str) else json.dumps(task or TASK),
        f"{prefix}ecs-service-def.json": service
        if isinstance(service, str)
        else json.dumps(service or SERVICE),
    }


def write_repo(root: Path, files: Mapping[str, str | bytes]) -> FolderFiles:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return FolderFiles(root)


def render(
    files: RepoFiles,
    *,
    env: Mapping[str, str] | None = None,
    aws: Aws | None = None,
    units: Sequence[str] | None = None,
) -> dict[str, RenderResult]:
    results = run_async(render_units(files, aws, units, env=env or {}))
    return {r.id: r for r in results}
