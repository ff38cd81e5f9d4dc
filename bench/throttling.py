"""Under throttling (5): 30% of ECS calls answered with ThrottlingException.

An image bump across N services (one commit, one ``Reconciler.cycle()``, the
emulator's clock running at a fixed speed), then a drift check of the same
services, both with 30% of every ECS operation throttled. The cycle must
complete with no unit failed; reported with the calls (attempts, the throttled
ones included) and the time it took, beside the same run unthrottled.

``python -m bench.throttling [--services 100] [--rate 0.3] [--speed 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import (
    EmulatorProcess,
    call_counts,
    commit_all,
    control,
    make_reconciler,
    quiet_credentials,
)
from bench.merge_to_deploy import NEW_TAG, bump, prepare, wait_until_settled
from reconciler.model import SyncState


def ecs_operations() -> list[str]:
    """Every ECS operation, as the emulator's fault rules name them."""
    model = boto3.client("ecs", region_name="us-east-1").meta.service_model
    return [f"ecs:{name}" for name in model.operation_names]


async def bump_and_check(endpoint: str, root: Path, data: Path, rate: float) -> dict[str, Any]:
    reconciler = make_reconciler(endpoint, root, data, poll_interval=1.0)
    try:
        await reconciler.cycle()
        count = len(reconciler.snapshot().units)
        if rate:
            control(endpoint, "faults", {"operations": ecs_operations(), "throttle_rate": rate})
        control(endpoint, "stats/reset")
        reconciler.aws.throttles.clear()
        started = time.perf_counter()
        bump(root, count)
        commit_all(root, f"bump every service to {NEW_TAG}")
        await reconciler.cycle()
        deploy_s = time.perf_counter() - started
        deploy_calls = sum(call_counts(endpoint).values())
        deploy_failed = [
            u.unit for u in reconciler.snapshot().units if u.sync is not SyncState.IN_SYNC
        ]

        control(endpoint, "stats/reset")
        started = time.perf_counter()
        await reconciler.check_drift()
        check_s = time.perf_counter() - started
        check_calls = sum(call_counts(endpoint).values())
        check_failed = [
            u.unit for u in reconciler.snapshot().units if u.sync is not SyncState.IN_SYNC
        ]
        throttled = sum(reconciler.aws.throttles.values())
    finally:
        await reconciler.close()
        reconciler.aws.close()
    return {
        "services": count,
        "rate": rate,
        "deploy_s": deploy_s,
        "deploy_calls": deploy_calls,
        "check_s": check_s,
        "check_calls": check_calls,
        "throttled": throttled,
        "failed": sorted(set(deploy_failed) | set(check_failed)),
    }


def measure(count: int, rate: float, speed: float) -> dict[str, Any]:
    with EmulatorProcess() as endpoint, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        names = prepare(endpoint, root, count, speed)
        outcome = asyncio.run(bump_and_check(endpoint, root, Path(folder) / "data", rate))
        control(endpoint, "faults/clear")
        wait_until_settled(endpoint, names, f"nginx:{NEW_TAG}", timeout=5)
        return outcome


def table(rows: list[dict[str, Any]], speed: float) -> str:
    lines = [
        f"### Under throttling: image bump then drift check, clock at {speed:g}x",
        "",
        "| services | ECS calls throttled | deploy wall s | deploy calls | drift check wall s "
        "| drift check calls | throttled answers | failed units |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['services']} | {r['rate']:.0%} | {r['deploy_s']:.1f} | {r['deploy_calls']} "
            f"| {r['check_s']:.2f} | {r['check_calls']} | {r['throttled']} | {len(r['failed'])} |"
        )
    lines += ["", "Calls count every attempt the emulator answered, throttled ones included."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--speed", type=float, default=10.0)
    args = parser.parse_args(argv)
    quiet_credentials()
    rows = [measure(args.services, 0.0, args.speed), measure(args.services, args.rate, args.speed)]
    print(table(rows, args.speed))
    return 0 if not any(r["failed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
