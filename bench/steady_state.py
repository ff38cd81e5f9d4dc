"""Steady-state drift check: the reconciler against the per-service way.

For N units on one cluster, all applied and unchanged, with a fixed latency
injected on every AWS call, measure what one drift check costs:

- the reconciler: ``plan_revision`` (render, read live batched, diff), cold (a
  fresh process's caches) and warm (the second cycle);
- the per-service way a deploy CLI run per folder takes: one DescribeServices,
  one DescribeTaskDefinition and one DescribeScalableTargets per service.

Prints a markdown table. Everything runs against the embedded emulator on
loopback. Run: ``make bench`` or ``python bench/steady_state.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from reconciler.aws import Aws, AwsTarget, Sessions
from reconciler.desired import render_units
from reconciler.live import TaskDefinitionCache
from reconciler.loop.planning import plan_revision
from reconciler.model import TAG_DIGEST, TAG_TASK_DEFINITION, PlanStatus
from reconciler.plan import desired_digest
from reconciler.source import open_repo_files

TARGET = AwsTarget("us-east-1")


def write_repo(root: Path, count: int) -> None:
    for index in range(count):
        folder = root / f"svc-{index:04d}"
        folder.mkdir(parents=True)
        (folder / "ecspresso.yml").write_text(
            f"region: us-east-1\ncluster: bench\nservice: svc-{index:04d}\n"
            "service_definition: ecs-service-def.json\ntask_definition: ecs-task-def.json\n"
        )
        (folder / "reconciler.yml").write_text("vars:\n  IMAGE_TAG: '1.27'\n")
        (folder / "ecs-task-def.json").write_text(
            json.dumps(
                {
                    "family": f"svc-{index:04d}",
                    "networkMode": "awsvpc",
                    "requiresCompatibilities": ["FARGATE"],
                    "cpu": "256",
                    "memory": "512",
                    "containerDefinitions": [
                        {
                            "name": "app",
                            "image": "nginx:{{ must_env `IMAGE_TAG` }}",
                            "essential": True,
                            "portMappings": [{"containerPort": 8080}],
                            "environment": [{"name": "UNIT", "value": str(index)}],
                        }
                    ],
                }
            )
        )
        (folder / "ecs-service-def.json").write_text(
            json.dumps(
                {
                    "desiredCount": 1,
                    "launchType": "FARGATE",
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
                    "deploymentConfiguration": {
                        "deploymentCircuitBreaker": {"enable": True, "rollback": True}
                    },
                }
            )
        )


def deploy(endpoint: str, root: Path) -> None:
    """Create every service as apply leaves it: tagged with its digest and ARN."""
    ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=endpoint)
    ecs.create_cluster(clusterName="bench")
    results = asyncio.run(render_units(open_repo_files(root), None))
    for result in results:
        unit = result.unit
        if unit is None or unit.task_definition is None or unit.service is None:
            raise SystemExit(f"{result.id} did not render: {result.findings}")
        arn = ecs.register_task_definition(**unit.task_definition)["taskDefinition"][
            "taskDefinitionArn"
        ]
        ecs.create_service(
            cluster="bench",
            serviceName=unit.id,
            taskDefinition=arn,
            tags=[
                {"key": TAG_DIGEST, "value": desired_digest(unit) or ""},
                {"key": TAG_TASK_DEFINITION, "value": arn},
            ],
            **unit.service,
        )


def control(endpoint: str, path: str, body: dict[str, Any]) -> Any:
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint}/_emulator/{path}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def calls(endpoint: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/_emulator/stats") as response:
        return sum(json.load(response)["calls"].values())


async def reconciler_cycles(aws: Aws, root: Path) -> list[tuple[float, float, bool]]:
    """Two drift checks in one process: (wall seconds, CPU seconds, in sync)."""
    cache = TaskDefinitionCache()
    files = open_repo_files(root)
    outcomes = []
    for _ in range(2):
        started, cpu = time.perf_counter(), time.process_time()
        planned = await plan_revision(files, aws, cache=cache)
        in_sync = all(u.status is PlanStatus.IN_SYNC for u in planned.plan.units)
        outcomes.append((time.perf_counter() - started, time.process_time() - cpu, in_sync))
    return outcomes


async def per_service(aws: Aws, names: list[str]) -> float:
    """What a deploy CLI run per folder reads: three calls per service, one at a time."""
    started = time.perf_counter()
    for name in names:
        service = (
            await aws.call("ecs", "describe_services", TARGET, cluster="bench", services=[name])
        )["services"][0]
        await aws.call(
            "ecs", "describe_task_definition", TARGET, taskDefinition=service["taskDefinition"]
        )
        await aws.call(
            "application-autoscaling",
            "describe_scalable_targets",
            TARGET,
            ServiceNamespace="ecs",
            ResourceIds=[f"service/bench/{name}"],
        )
    return time.perf_counter() - started


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
        return self._process.stdout.readline().strip().split("=", 1)[1]

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()


def measure(count: int, latency_ms: float) -> dict[str, Any]:
    with EmulatorProcess() as endpoint, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_repo(root, count)
        deploy(endpoint, root)
        control(endpoint, "faults", {"operations": "all", "latency_ms": latency_ms})
        aws = Aws(Sessions(endpoint_url=endpoint))
        try:
            control(endpoint, "stats/reset", {})
            (cold, cold_cpu, cold_ok), (warm, warm_cpu, warm_ok) = asyncio.run(
                reconciler_cycles(aws, root)
            )
            both = calls(endpoint)
            control(endpoint, "stats/reset", {})
            peer = asyncio.run(per_service(aws, [f"svc-{i:04d}" for i in range(count)]))
            peer_calls = calls(endpoint)
        finally:
            aws.close()
    return {
        "units": count,
        "budget": math.ceil(count / 10) + math.ceil(count / 50) + 2,
        "calls": both / 2,
        "cold_s": cold,
        "warm_s": warm,
        "cold_cpu_s": cold_cpu,
        "warm_cpu_s": warm_cpu,
        "in_sync": cold_ok and warm_ok,
        "peer_calls": peer_calls,
        "peer_s": peer,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    rows = [measure(n, args.latency_ms) for n in args.units]
    print(f"Steady-state drift check, {args.latency_ms:g} ms latency per AWS call\n")
    print(
        "| units | calls (budget) | cold wall s | warm wall s | cold CPU s | warm CPU s "
        "| in sync | per-service calls | per-service wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|:---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['units']} | {r['calls']:.0f} ({r['budget']}) | {r['cold_s']:.2f} "
            f"| {r['warm_s']:.2f} | {r['cold_cpu_s']:.2f} | {r['warm_cpu_s']:.2f} "
            f"| {'yes' if r['in_sync'] else 'NO'} | {r['peer_calls']} | {r['peer_s']:.2f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS of the reconciler's process (the emulator runs apart): {peak:.0f} MB")
    return 0 if all(r["in_sync"] and r["calls"] <= r["budget"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
