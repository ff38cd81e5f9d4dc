"""Merge to deploy (2): an image bump across N services, from the commit to every
rollout COMPLETED.

The emulator's clock runs by itself at a fixed speed (simulated seconds per
wall second); every service has the same size and rollout. Measured against a
fresh emulator each:

- the reconciler: one commit, one ``Reconciler.cycle()`` (fetch, plan, apply,
  track until every rollout ends), polling rollouts every second;
- the bulk deploy script teams run today: a shell loop calling the ecs-deploy
  CLI (``make peers``) once per service, in sequence, each run waiting for its
  rollout (ecs-deploy checks every second by default).

``python -m bench.merge_to_deploy [--services 20 100] [--speed 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import (
    CLUSTER,
    CONTAINER,
    EmulatorProcess,
    call_counts,
    commit_all,
    control,
    deploy_as_applied,
    make_reconciler,
    quiet_credentials,
    unit_name,
    write_repo,
)

ECS_DEPLOY = Path(
    os.environ.get(
        "BENCH_ECS_DEPLOY",
        Path(__file__).resolve().parents[1] / ".venv-peers" / "ecs-deploy" / "bin" / "ecs",
    )
)
"""The ecs-deploy CLI of ``make peers``; ``BENCH_ECS_DEPLOY`` points elsewhere."""
TASKS_PER_SERVICE = 2
OLD_TAG, NEW_TAG = "1.27", "1.28"


def wait_until_settled(endpoint: str, names: list[str], image: str, timeout: float = 600) -> None:
    """Until every service's only deployment is COMPLETED and runs ``image``."""
    ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=endpoint)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        settled = 0
        for start in range(0, len(names), 10):
            for service in ecs.describe_services(
                cluster=CLUSTER, services=names[start : start + 10]
            )["services"]:
                deployments = service["deployments"]
                if (
                    len(deployments) == 1
                    and deployments[0].get("rolloutState") == "COMPLETED"
                    and service["runningCount"] == TASKS_PER_SERVICE
                    and image_of(ecs, service["taskDefinition"]) == image
                ):
                    settled += 1
        if settled == len(names):
            return
        time.sleep(0.2)
    raise SystemExit(f"services did not settle on {image} within {timeout:.0f} s")


_IMAGES: dict[str, str] = {}


def image_of(ecs: Any, arn: str) -> str:
    if arn not in _IMAGES:
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        _IMAGES[arn] = definition["containerDefinitions"][0]["image"]
    return _IMAGES[arn]


def longest_rollout(endpoint: str, names: list[str], speed: float) -> float:
    """The critical path: the longest single rollout, in wall seconds at ``speed``."""
    ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=endpoint)
    longest = 0.0
    for start in range(0, len(names), 10):
        for service in ecs.describe_services(cluster=CLUSTER, services=names[start : start + 10])[
            "services"
        ]:
            primary = service["deployments"][0]
            seconds = (primary["updatedAt"] - primary["createdAt"]).total_seconds()
            longest = max(longest, seconds)
    return longest / speed


def prepare(endpoint: str, root: Path, count: int, speed: float) -> list[str]:
    """N services running ``OLD_TAG`` as apply left them; the clock running at ``speed``."""
    write_repo(root, count, tag=OLD_TAG, desired_count=TASKS_PER_SERVICE)
    deploy_as_applied(endpoint, root, commit_all(root, f"{count} services at {OLD_TAG}"))
    control(endpoint, "clock/run", {"speed": speed})
    names = [unit_name(i) for i in range(count)]
    wait_until_settled(endpoint, names, f"nginx:{OLD_TAG}")
    control(endpoint, "stats/reset")
    return names


def bump(root: Path, count: int) -> None:
    for index in range(count):
        path = root / unit_name(index) / "reconciler.yml"
        path.write_text(path.read_text().replace(OLD_TAG, NEW_TAG))


async def reconciler_cycle(endpoint: str, root: Path, data: Path) -> dict[str, Any]:
    reconciler = make_reconciler(endpoint, root, data, poll_interval=1.0)
    try:
        # The mirror is cloned and the first revision reconciled before the merge.
        await reconciler.cycle()
        control(endpoint, "stats/reset")
        count = len(reconciler.snapshot().units)
        started = time.perf_counter()
        bump(root, count)
        commit_all(root, f"bump every service to {NEW_TAG}")
        await reconciler.cycle()
        wall = time.perf_counter() - started
        failed = [u.unit for u in reconciler.snapshot().units if u.sync.value != "in_sync"]
    finally:
        await reconciler.close()
        reconciler.aws.close()
    return {"wall_s": wall, "failed": failed}


def measure_reconciler(count: int, speed: float) -> dict[str, Any]:
    with EmulatorProcess() as endpoint, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        names = prepare(endpoint, root, count, speed)
        outcome = asyncio.run(reconciler_cycle(endpoint, root, Path(folder) / "data"))
        calls = sum(call_counts(endpoint).values())
        wait_until_settled(endpoint, names, f"nginx:{NEW_TAG}", timeout=5)
        return {
            "tool": "reconciler (one commit, one cycle)",
            "services": count,
            **outcome,
            "critical_s": longest_rollout(endpoint, names, speed),
            "calls_per_service": calls / count,
        }


def measure_ecs_deploy(count: int, speed: float) -> dict[str, Any]:
    if not ECS_DEPLOY.exists():
        raise SystemExit(f"{ECS_DEPLOY} is missing: run `make peers` first")
    with EmulatorProcess() as endpoint, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        names = prepare(endpoint, root, count, speed)
        script = (
            f"for service in {' '.join(names)}; do\n"
            f"  {shlex.quote(str(ECS_DEPLOY))} deploy {CLUSTER} $service"
            f" --image {CONTAINER} nginx:{NEW_TAG} --timeout 600 || exit 1\n"
            "done\n"
        )
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"the ecs-deploy loop failed:\n{result.stdout}\n{result.stderr}")
        calls = sum(call_counts(endpoint).values())
        wait_until_settled(endpoint, names, f"nginx:{NEW_TAG}", timeout=5)
        return {
            "tool": "ecs-deploy, a shell loop",
            "services": count,
            "wall_s": wall,
            "failed": [],
            "critical_s": longest_rollout(endpoint, names, speed),
            "calls_per_service": calls / count,
        }


def table(rows: list[dict[str, Any]], speed: float) -> str:
    lines = [
        f"### Merge to deploy: an image bump, clock at {speed:g}x, "
        f"{TASKS_PER_SERVICE} tasks per service",
        "",
        "| services | tool | wall s | critical path s | AWS calls per service | failed |",
        "|---:|:---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['services']} | {r['tool']} | {r['wall_s']:.1f} | {r['critical_s']:.1f} "
            f"| {r['calls_per_service']:.1f} | {len(r['failed'])} |"
        )
    by_count: dict[int, dict[str, float]] = {}
    for r in rows:
        by_count.setdefault(r["services"], {})[r["tool"].split()[0]] = r["wall_s"]
    lines.append("")
    for count, walls in sorted(by_count.items()):
        if "reconciler" in walls and "ecs-deploy," in walls:
            lines.append(
                f"At {count} services the reconciler is "
                f"{walls['ecs-deploy,'] / walls['reconciler']:.1f}x faster (target: 10x at 100)."
            )
    return "\n".join(lines)


def met(rows: list[dict[str, Any]]) -> bool:
    walls = {(r["services"], r["tool"].split()[0]): r["wall_s"] for r in rows}
    ours, theirs = walls.get((100, "reconciler")), walls.get((100, "ecs-deploy,"))
    return all(not r["failed"] for r in rows) and (
        ours is None or theirs is None or theirs >= 10 * ours
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--skip-peer", action="store_true", help="the reconciler only")
    args = parser.parse_args(argv)
    quiet_credentials()
    rows = []
    for count in args.services:
        rows.append(measure_reconciler(count, args.speed))
        if not args.skip_peer:
            rows.append(measure_ecs_deploy(count, args.speed))
    print(table(rows, args.speed))
    return 0 if met(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
