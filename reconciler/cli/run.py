"""``reconciler run``: the daemon that keeps ECS equal to a git branch.

Secrets come from the environment, never from flags (flags show in process
lists): ``GIT_TOKEN``, ``GIT_SSH_KEY_FILE``, ``GIT_SSH_KNOWN_HOSTS_FILE``,
``STATUS_TOKEN``, ``WEBHOOK_SECRET``, ``ALERT_WEBHOOK_URL``.

SIGTERM (or Ctrl-C) stops it: statuses being posted are finished, rollouts in
progress keep going in AWS and a restarted reconciler adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.clock import Clock, EmulatorClock, SystemClock
from reconciler.errors import ReconcilerError, TransientError, UsageError
from reconciler.loop.daemon import LoopSettings, Reconciler, data_path, default_owner, run_forever
from reconciler.loop.heap import HeapSettler
from reconciler.loop.sharding import choose_ownership
from reconciler.report import (
    AlertFormat,
    AlertNotifier,
    StatusReporter,
    StatusSettings,
    make_status_provider,
)
from reconciler.report.logs import audit_lines_to
from reconciler.report.metrics import ReconcilerMetrics
from reconciler.source.remote import GitRemote, Mirror
from reconciler.source.watch import RevisionWatcher
from reconciler.source.webhook_server import webhook_app
from reconciler.web.app import create_app, serve

log = logging.getLogger(__name__)

PROVIDERS = ("gitnotes", "github", "gitlab", "gitea", "bitbucket")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> float:
    """``30``, ``30s``, ``5m``, ``1h30m`` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 5m or 1h")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    value = hours * 3600 + minutes * 60 + seconds
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than zero")
    return value


def address(text: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` or ``:8080`` -> (host, port)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="watch a branch and keep ECS equal to it (the daemon)",
        description="Watch a git branch; deploy what changes; report on the commits; "
        "alert on drift.",
    )
    parser.add_argument("--repo", required=True, help="repository URL or local path")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--interval", type=duration, default=30.0, help="poll the remote (30s)")
    parser.add_argument("--drift-interval", type=duration, default=300.0, help="check drift (5m)")
    parser.add_argument("--data-dir", default=".reconciler", help="where the mirror lives")
    parser.add_argument("--status-provider", choices=PROVIDERS, default="gitnotes")
    parser.add_argument("--status-repo", help="owner/name on the git host (default: --repo)")
    parser.add_argument("--status-base-url", help="the git host's API URL (self-hosted)")
    parser.add_argument(
        "--listen", type=address, default=("127.0.0.1", 8080), help="status page and metrics"
    )
    parser.add_argument("--webhook-listen", type=address, help="serve git host webhooks here")
    parser.add_argument("--alert-format", choices=["generic", "slack"], default="generic")
    parser.add_argument("--read-only", action="store_true", help="observe and report only")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--owner", help="the gitops:owner tag (default: repo@branch)")
    parser.add_argument("--shard-index", type=int, default=0)
    parser.add_argument("--shard-count", type=int, default=1)
    parser.add_argument(
        "--once", action="store_true", help="one cycle, then exit (for scripts and tests)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.shard_index < args.shard_count:
        raise UsageError(
            f"--shard-index {args.shard_index} is not below --shard-count {args.shard_count}"
        )
    try:
        with audit_lines_to(sys.stderr):
            return asyncio.run(_run(args))
    except ReconcilerError as exc:
        print(f"reconciler run: {exc}", file=sys.stderr)
        return EXIT_FAILED


def clock_from_environment() -> Clock:
    """The emulator's simulated time when ``RECONCILER_CLOCK=emulator``, else the wall."""
    if os.environ.get("RECONCILER_CLOCK") == "emulator":
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise UsageError("RECONCILER_CLOCK=emulator needs AWS_ENDPOINT_URL")
        return EmulatorClock(endpoint)
    return SystemClock()


async def _run(args: argparse.Namespace) -> int:
    clock = clock_from_environment()
    key = os.environ.get("GIT_SSH_KEY_FILE")
    known_hosts = os.environ.get("GIT_SSH_KNOWN_HOSTS_FILE")
    remote = GitRemote(
        url=args.repo,
        branch=args.branch,
        token=os.environ.get("GIT_TOKEN") or None,
        ssh_key=Path(key) if key else None,
        known_hosts=Path(known_hosts) if known_hosts else None,
    )
    mirror = Mirror(remote, data_path(args.data_dir))
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    metrics = ReconcilerMetrics()
    alerts = None
    if os.environ.get("ALERT_WEBHOOK_URL"):
        alerts = AlertNotifier(
            os.environ["ALERT_WEBHOOK_URL"], clock=clock, format=AlertFormat(args.alert_format)
        )
    # Replicas are shards: each reconciles the units a stable hash gives it, and
    # only while it holds its shard's Lease (one process without Kubernetes owns all).
    ownership = choose_ownership(args.shard_index, args.shard_count, clock=clock)
    reconciler = Reconciler(
        LoopSettings(
            owner=args.owner or default_owner(remote.display_url, args.branch),
            interval=args.interval,
            drift_interval=args.drift_interval,
            read_only=args.read_only,
            concurrency=args.concurrency,
        ),
        mirror=mirror,
        aws=aws,
        clock=clock,
        alerts=alerts,
        metrics=metrics,
        heap=HeapSettler(),
        ownership=ownership,
    )
    try:
        await ownership.start()
        # The mirror must exist before git notes can be written into it; a remote
        # that is down at start is waited for, as it is later.
        await _first_fetch(mirror, clock, args.interval)
        settings = StatusSettings(
            provider=args.status_provider,
            repo=str(mirror.path)
            if args.status_provider == "gitnotes"
            else args.status_repo or args.repo,
            token=os.environ.get("STATUS_TOKEN") or None,
            base_url=args.status_base_url,
        )
        provider = make_status_provider(settings, access=mirror.remote)
        reconciler.reporter = StatusReporter(provider, clock=clock)
        if args.once:
            await reconciler.cycle()
            await reconciler.close()
            return EXIT_OK if reconciler.ready() else EXIT_FAILED
        await _serve(args, reconciler, metrics, remote)
        return EXIT_OK
    finally:
        await reconciler.close()
        await ownership.stop()
        if alerts is not None:
            await alerts.close()
        aws.close()


async def _first_fetch(mirror: Mirror, clock: Clock, interval: float) -> None:
    while True:
        try:
            await mirror.fetch()
            return
        except TransientError as exc:
            if mirror.local_head() is not None:
                return  # an earlier clone serves until the remote is back
            log.warning("waiting for the watched repository", extra={"error": str(exc)})
            await clock.sleep(min(interval, 30.0))


async def _serve(
    args: argparse.Namespace, reconciler: Reconciler, metrics: ReconcilerMetrics, remote: GitRemote
) -> None:
    stop = asyncio.Event()
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    host, port = args.listen
    async with contextlib.AsyncExitStack() as stack:
        bound = await stack.enter_async_context(serve(create_app(reconciler, metrics), host, port))
        print(f"status page: http://{host}:{bound}/", file=sys.stderr, flush=True)
        if args.webhook_listen:
            secret = os.environ.get("WEBHOOK_SECRET")
            if not secret:
                raise UsageError("--webhook-listen needs WEBHOOK_SECRET in the environment")
            hook_host, hook_port = args.webhook_listen
            app = webhook_app(secret, args.branch, lambda event: wake.set())
            hook_bound = await stack.enter_async_context(serve(app, hook_host, hook_port))
            print(f"webhook: http://{hook_host}:{hook_bound}/webhook", file=sys.stderr)
        watcher = await stack.enter_async_context(_local_watcher(reconciler, remote, args, wake))
        del watcher
        await run_forever(reconciler, reconciler.clock, stop, wake)


@contextlib.asynccontextmanager
async def _local_watcher(
    reconciler: Reconciler, remote: GitRemote, args: argparse.Namespace, wake: asyncio.Event
) -> AsyncIterator[RevisionWatcher | None]:
    """A local repository's refs, watched: a commit on a laptop deploys at once."""
    if remote.local_path is None:
        yield None
        return
    async with RevisionWatcher(
        reconciler.clock, interval=args.interval, local_repo=remote.local_path, branch=args.branch
    ) as watcher:

        async def forward() -> None:
            async for trigger in watcher:
                if "local-change" in trigger.reasons:
                    wake.set()

        task = asyncio.get_running_loop().create_task(forward())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
