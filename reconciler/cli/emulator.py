"""``reconciler emulator``: serve the embedded ECS emulator until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="serve the embedded ECS emulator (moto plus rollouts) on loopback",
        description=(
            "Serve the embedded ECS emulator. Point boto3, the AWS CLI or the "
            "reconciler at it with AWS_ENDPOINT_URL. Control endpoints live under "
            "/_emulator/ (tick, faults, release, stats, reset, failing-images, seed)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--auto-tick",
        type=float,
        default=None,
        metavar="SPEED",
        help="run the clock: SPEED simulated seconds per wall second (default: "
        "time moves only on POST /_emulator/tick)",
    )
    parser.add_argument("--seed", type=Path, help="a seed file (YAML) to apply at start")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from reconciler.emulator.app import Emulator
    from reconciler.emulator.seed import SeedError

    if args.auto_tick is not None and args.auto_tick <= 0:
        print("reconciler emulator: --auto-tick must be positive", file=sys.stderr)
        return 64
    emulator = Emulator(args.host, args.port, auto_tick=args.auto_tick, seed=args.seed)
    try:
        emulator.start()
    except SeedError as exc:
        print(f"reconciler emulator: {exc}", file=sys.stderr)
        emulator.stop()
        return 1
    except OSError as exc:
        print(
            f"reconciler emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    print(f"AWS_ENDPOINT_URL={emulator.endpoint}", flush=True)
    clock = f"running at {args.auto_tick}x" if args.auto_tick else "driven by POST /_emulator/tick"
    print(f"emulator ready; clock {clock}; Ctrl-C stops it", file=sys.stderr, flush=True)

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()
    return 0
