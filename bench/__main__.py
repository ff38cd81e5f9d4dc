"""``make bench``: every benchmark in turn, as one markdown report on stdout.

Each runs against its own emulator on loopback. The exit status is 1 when any
benchmark missed a target (its table says which).
"""

from __future__ import annotations

import datetime
import platform
import sys

from bench import commit_latency, merge_to_deploy, steady_state, throttling
from bench.common import machine


def main() -> int:
    print("## Benchmarks\n")
    print(f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine()}")
    print(f"- Python {platform.python_version()}, {platform.platform()}\n")
    missed = []
    for name, module in (
        ("steady state and cost of scale", steady_state),
        ("merge to deploy", merge_to_deploy),
        ("commit to first UpdateService", commit_latency),
        ("under throttling", throttling),
    ):
        sys.stdout.flush()
        if module.main([]) != 0:
            missed.append(name)
        print()
    if missed:
        print(f"Missed a target: {', '.join(missed)}.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
