"""``reconciler init``: write units from live services, so moving to GitOps is a commit.

Each unit is trimmed to what its author chose rather than what AWS filled in
(see ``reconciler.diff.trim``), so ``plan`` on it is in sync right away. The
reconciler's own tags are left out; an Application Auto Scaling target becomes
the unit's ``autoscaling`` policy, and its desired count is left to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from reconciler.aws import Aws, AwsTarget, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.diff.trim import trim_service, trim_task_definition
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model import TAG_PREFIX, JsonObject

# Fields the config names, or that say which revision runs: not the unit's to write.
SERVICE_IDENTITY = ("serviceName", "cluster", "clusterArn", "serviceArn", "taskDefinition")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write units from live services",
        description="Write an ecspresso-style unit (config, service and task definition) "
        "for each live service, trimmed to what was set rather than what AWS filled in.",
    )
    parser.add_argument("--cluster", required=True, help="cluster name or ARN")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--service", help="the service to import")
    group.add_argument("--all", action="store_true", help="import every service of the cluster")
    parser.add_argument("--region", default=None, help="AWS region (default: from the environment)")
    parser.add_argument(
        "--dir", default=".", help="where to write (a folder per service with --all)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no region: pass --region or set AWS_REGION")
    try:
        written = asyncio.run(_init(args, AwsTarget(region)))
    except UsageError:
        raise
    except ReconcilerError as exc:
        print(f"reconciler init: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for folder in written:
        print(f"wrote {folder}")
    return EXIT_OK


async def _init(args: argparse.Namespace, target: AwsTarget) -> list[Path]:
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        names = (
            [args.service]
            if args.service
            else [
                arn.rsplit("/", 1)[-1]
                for arn in await aws.paginate(
                    "ecs", "list_services", target, "serviceArns", cluster=args.cluster
                )
            ]
        )
        written = []
        for start in range(0, len(names), 10):
            response = await aws.call(
                "ecs",
                "describe_services",
                target,
                cluster=args.cluster,
                services=names[start : start + 10],
                include=["TAGS"],
            )
            missing = [f["arn"] for f in response.get("failures", [])]
            if missing and args.service:
                raise UsageError(f"no service {args.service} in cluster {args.cluster}")
            for service in response["services"]:
                folder = Path(args.dir) / service["serviceName"] if args.all else Path(args.dir)
                await _write_unit(aws, target, args, service, folder)
                written.append(folder)
        return written
    finally:
        aws.close()


async def _write_unit(
    aws: Aws, target: AwsTarget, args: argparse.Namespace, service: JsonObject, folder: Path
) -> None:
    described = await aws.call(
        "ecs",
        "describe_task_definition",
        target,
        taskDefinition=service["taskDefinition"],
        include=["TAGS"],
    )
    task_definition = dict(described["taskDefinition"])
    if described.get("tags"):
        task_definition["tags"] = [
            t for t in described["tags"] if not t["key"].startswith(TAG_PREFIX)
        ]
    resource = f"service/{args.cluster.rsplit('/', 1)[-1]}/{service['serviceName']}"
    scaling = await aws.call(
        "application-autoscaling",
        "describe_scalable_targets",
        target,
        ServiceNamespace="ecs",
        ResourceIds=[resource],
        ScalableDimension="ecs:service:DesiredCount",
    )
    scalable = scaling.get("ScalableTargets", [])

    body = {k: v for k, v in service.items() if k not in SERVICE_IDENTITY}
    body["tags"] = [t for t in service.get("tags", []) if not t["key"].startswith(TAG_PREFIX)]
    if scalable:
        body.pop("desiredCount", None)

    files = {
        "ecspresso.yml": yaml.safe_dump(
            {
                "region": target.region,
                "cluster": args.cluster.rsplit("/", 1)[-1],
                "service": service["serviceName"],
                "service_definition": "ecs-service-def.json",
                "task_definition": "ecs-task-def.json",
            },
            sort_keys=False,
        ),
        "ecs-service-def.json": _json(trim_service(body)),
        "ecs-task-def.json": _json(trim_task_definition(task_definition)),
    }
    if scalable:
        files["reconciler.yml"] = yaml.safe_dump(
            {
                "autoscaling": {
                    "min": int(scalable[0]["MinCapacity"]),
                    "max": int(scalable[0]["MaxCapacity"]),
                }
            },
            sort_keys=False,
        )
    existing = [name for name in files if (folder / name).exists()]
    if existing and not args.force:
        raise UsageError(f"{folder} already has {', '.join(existing)}; pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def _json(document: JsonObject) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
