"""Steady-state drift check (1) and the cost of scale (4).

For N units on one cluster, all applied and unchanged, a fixed latency injected
on every AWS call, measure one drift check:

- the reconciler: ``Reconciler.check_drift`` from its git mirror, as the daemon
  runs it, cold (the first check of a fresh process) and warm (the next one,
  with the render cache and the plan memo filled);
- the per-service way a deploy CLI run per folder takes: one DescribeServices,
  one DescribeTaskDefinition and one DescribeScalableTargets per service.

Each N runs in a process of its own, so that its peak RSS is its own.
``python -m bench.steady_state [--units 10 100 1000] [--latency-ms 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    CLUSTER,
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
from reconciler.aws import Aws, AwsTarget
from reconciler.loop.daemon import Reconciler
from reconciler.model import SyncState

TARGET = AwsTarget("us-east-1")


def budget(units: int) -> int:
    return math.ceil(units / 10) + math.ceil(units / 50) + 2


WARM_CYCLES = 5
PAUSE_S = 3.0
"""Between cycles, as the drift interval (5 minutes by default) would: long enough
for the pacer's ECS read bucket (burst 100, 40 a second) to fill again, so that a
cycle is measured, not the pacing of the one before."""


async def drift_checks(reconciler: Reconciler, endpoint: str) -> list[dict[str, Any]]:
    """Daemon cycles with a drift check each, in one process: the first (cold) and
    WARM_CYCLES more; wall, CPU, calls, and whether all is in sync."""
    fetched = await reconciler.mirror.fetch()
    assert fetched.head is not None
    reconciler.reconciled = fetched.head  # applied already: every cycle checks drift
    checks = []
    for index in range(1 + WARM_CYCLES):
        if index:
            await asyncio.sleep(PAUSE_S)
        control(endpoint, "stats/reset")
        started, cpu = time.perf_counter(), time.process_time()
        await reconciler.cycle()
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        units = reconciler.snapshot().units
        checks.append(
            {
                "wall_s": wall,
                "cpu_s": used,
                "calls": sum(call_counts(endpoint).values()),
                "in_sync": bool(units) and all(u.sync is SyncState.IN_SYNC for u in units),
            }
        )
    return checks


async def per_service(aws: Aws, names: list[str]) -> float:
    """What a deploy CLI run per folder reads: three calls per service, one at a time."""
    started = time.perf_counter()
    for name in names:
        service = (
            await aws.call("ecs", "describe_services", TARGET, cluster=CLUSTER, services=[name])
        )["services"][0]
        await aws.call(
            "ecs", "describe_task_definition", TARGET, taskDefinition=service["taskDefinition"]
        )
        await aws.call(
            "application-autoscaling",
            "describe_scalable_targets",
            TARGET,
            ServiceNamespace="ecs",
            ResourceIds=[f"service/{CLUSTER}/{name}"],
        )
    return time.perf_counter() - started


def summarise(cycles: list[dict[str, Any]]) -> dict[str, Any]:
    """The warm cycles as one row: medians, the most calls and CPU any took, all in sync."""
    return {
        "wall_s": statistics.median(c["wall_s"] for c in cycles),
        "cpu_s": statistics.median(c["cpu_s"] for c in cycles),
        "cpu_max_s": max(c["cpu_s"] for c in cycles),
        "calls": max(c["calls"] for c in cycles),
        "in_sync": all(c["in_sync"] for c in cycles),
    }


def measure(count: int, latency_ms: float) -> dict[str, Any]:
    with EmulatorProcess() as endpoint, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        write_repo(root, count)
        deploy_as_applied(endpoint, root, commit_all(root, f"{count} units"))
        control(endpoint, "faults", {"operations": "all", "latency_ms": latency_ms})
        reconciler = make_reconciler(endpoint, root, Path(folder) / "data", drift_interval=0.0)
        try:
            cold, *warm_cycles = asyncio.run(drift_checks(reconciler, endpoint))
            warm = summarise(warm_cycles)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            control(endpoint, "stats/reset")
            peer_s = asyncio.run(per_service(reconciler.aws, [unit_name(i) for i in range(count)]))
            peer_calls = sum(call_counts(endpoint).values())
        finally:
            reconciler.aws.close()
    return {
        "units": count,
        "budget": budget(count),
        "cold": cold,
        "warm": warm,
        "peak_rss_mb": peak_mb,
        "renders_reused": reconciler.planning_cache.renders.hits,
        "peer_calls": peer_calls,
        "peer_s": peer_s,
    }


def run_one_process(count: int, latency_ms: float) -> dict[str, Any]:
    """``measure`` in a fresh interpreter: its caches cold and its RSS its own."""
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.steady_state",
            "--one",
            str(count),
            "--latency-ms",
            str(latency_ms),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def table(rows: list[dict[str, Any]], latency_ms: float) -> str:
    lines = [
        f"### Steady-state drift check, {latency_ms:g} ms latency per AWS call",
        "",
        "| units | calls (budget) | cold wall s | warm wall s | per-service calls "
        "| per-service wall s | in sync |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        cold, warm = r["cold"], r["warm"]
        ok = cold["in_sync"] and warm["in_sync"]
        lines.append(
            f"| {r['units']} | {cold['calls']} / {warm['calls']} ({r['budget']}) "
            f"| {cold['wall_s']:.2f} | {warm['wall_s']:.2f} | {r['peer_calls']} "
            f"| {r['peer_s']:.2f} | {'yes' if ok else 'NO'} |"
        )
    lines += [
        "",
        f"A cycle is the daemon's: a head check of the git mirror, then a drift check. "
        f"Cold is the first of a fresh process; warm is the median of the {WARM_CYCLES} "
        f"after it (calls: the most any took). "
        f"Targets: calls within budget, 1000 units under 3 s.",
        "",
        "### Cost of scale (the reconciler's process; the emulator runs apart)",
        "",
        "| units | peak RSS MB | cold cycle CPU s | warm cycle CPU s, median (max) "
        "| renders reused warm |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['units']} | {r['peak_rss_mb']:.0f} | {r['cold']['cpu_s']:.2f} "
            f"| {r['warm']['cpu_s']:.2f} ({r['warm']['cpu_max_s']:.2f}) "
            f"| {r['renders_reused']} |"
        )
    lines += ["", "Targets: under 200 MB; a warm cycle under 0.5 CPU s."]
    return "\n".join(lines)


def met(rows: list[dict[str, Any]]) -> bool:
    return all(
        r["cold"]["in_sync"]
        and r["warm"]["in_sync"]
        and max(r["cold"]["calls"], r["warm"]["calls"]) <= r["budget"]
        and (r["units"] < 1000 or r["warm"]["wall_s"] < 3.0)
        and r["peak_rss_mb"] < 200
        and (r["units"] < 1000 or r["warm"]["cpu_s"] < 0.5)
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quiet_credentials()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.latency_ms)))
        return 0
    rows = [run_one_process(n, args.latency_ms) for n in args.units]
    print(table(rows, args.latency_ms))
    return 0 if met(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
