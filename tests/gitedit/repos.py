"""Small unit repositories written with pygit2, for the commands that commit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pygit2

from reconciler.cli.main import main

AUTHOR = pygit2.Signature("Dana Deployer", "dana@example.com")

WEB = {
    "web/ecspresso.yml": (
        "region: us-east-1\n"
        "cluster: prod\n"
        "service: web\n"
        "service_definition: ecs-service-def.json\n"
        "task_definition: ecs-task-def.json\n"
    ),
    "web/ecs-service-def.json": """{
  "launchType": "FARGATE",
  "desiredCount": 3,
  "networkConfiguration": {
    "awsvpcConfiguration": {
      "subnets": ["subnet-0a1b2c3d"],
      "assignPublicIp": "DISABLED"
    }
  },
  "tags": [{"key": "team", "value": "web"}]
}
""",
    "web/ecs-task-def.json": """{
  "family": "prod-web",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "awsvpc",
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "ghcr.io/acme/web:{{ must_env `IMAGE_TAG` }}",
      "essential": true,
      "environment": [{"name": "APP_VERSION", "value": "{{ must_env `IMAGE_TAG` }}"}]
    },
    {
      "name": "proxy",
      "image": "public.ecr.aws/nginx/nginx:1.27",
      "essential": true
    }
  ]
}
""",
    "web/reconciler.yml": (
        "# The public site.\n"
        "wave: 1\n"
        "vars:\n"
        '  IMAGE_TAG: "2.0.1"  # bumped by CI\n'
        '  LOG_LEVEL: "info"\n'
    ),
}

API_JSONNET = {
    "api/ecspresso.yml": (
        "region: us-east-1\n"
        "cluster: prod\n"
        "service: api\n"
        "service_definition: ecs-service-def.jsonnet\n"
        "task_definition: ecs-task-def.jsonnet\n"
    ),
    "api/ecs-service-def.jsonnet": """// The API service.
{
  launchType: 'FARGATE',
  desiredCount: 4,
  enableExecuteCommand: true,
}
""",
    "api/ecs-task-def.jsonnet": """local imageTag = std.native('must_env')('IMAGE_TAG');
{
  family: 'prod-api',
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [
    { name: 'app', image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api:' + imageTag },
    { name: 'otel', image: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0' },
  ],
}
""",
    "api/reconciler.yml": 'vars:\n  IMAGE_TAG: "1.4.2"\n',
}


def make_repo(root: Path, files: dict[str, str]) -> pygit2.Repository:
    """A working copy at ``root`` on branch main, ``files`` committed once."""
    repo = pygit2.init_repository(str(root), initial_head="main")
    repo.config["user.name"] = AUTHOR.name
    repo.config["user.email"] = AUTHOR.email
    for path, text in files.items():
        local = root / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    repo.create_commit("HEAD", AUTHOR, AUTHOR, "Add units\n", tree, [])
    return repo


def head_text(repo: pygit2.Repository, path: str) -> str:
    """A file's content as committed at HEAD."""
    tree = repo.head.peel(pygit2.Commit).tree
    return bytes(repo[tree[path].id].data).decode()


def exit_code(argv: Sequence[str]) -> int:
    """The exit code of ``reconciler argv``, whether returned or raised by argparse."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
