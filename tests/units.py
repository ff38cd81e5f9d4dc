"""Small units written to disk, as a team would commit them, for tests that need a repo."""

from __future__ import annotations

import json
from pathlib import Path


def write_unit(root: Path, name: str, *, image: str = "nginx:1.27", count: int = 2) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ecspresso.yml").write_text(
        f"region: us-east-1\ncluster: prod\nservice: {name}\n"
        "service_definition: ecs-service-def.json\ntask_definition: ecs-task-def.json\n"
    )
    (folder / "ecs-task-def.json").write_text(
        json.dumps(
            {
                "family": name,
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "256",
                "memory": "512",
                "containerDefinitions": [{"name": "app", "image": image}],
            }
        )
    )
    (folder / "ecs-service-def.json").write_text(
        json.dumps(
            {
                "desiredCount": count,
                "launchType": "FARGATE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
            }
        )
    )
