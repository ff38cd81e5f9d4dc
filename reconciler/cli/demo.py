"""``reconciler demo``: the GitOps loop, told step by step on the embedded emulator.

It makes a throwaway git repository from ``sample-repo/``, starts the emulator
with its clock running and seeds what the units refer to, runs the loop with
its status page, and walks through the story: every unit's first deploy; a
commit that bumps an image; a change made by hand in "AWS", reported as drift;
a broken image rolled back by the circuit breaker, with a failure status on its
commit; a git revert that deploys the previous state again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pygit2

from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.cli.output import Style

AUTHOR = pygit2.Signature("Demo", "demo@example.com")
SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the GitOps loop on the embedded emulator, told step by step",
        description="Run the story of merge to deploy, drift and rollback by git revert "
        "on the embedded ECS emulator, with the status page.",
    )
    parser.add_argument("--exit", action="store_true", help="stop after the story")
    parser.add_argument("--port", type=int, default=0, help="status page port (default: free)")
    parser.add_argument(
        "--speed", type=float, default=20.0, help="simulated seconds per wall second (20)"
    )
    parser.add_argument("--sample-repo", type=Path, default=SAMPLE_REPO, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not (args.sample_repo / "emulator-seed.yml").exists():
        print(f"reconciler demo: {args.sample_repo} has no emulator-seed.yml", file=sys.stderr)
        return EXIT_FAILED
    return asyncio.run(Story(args, Style.for_stream(sys.stdout)).tell())


class Story:
    def __init__(self, args: argparse.Namespace, style: Style) -> None:
        self.args = args
        self.style = style
        self.failures: list[str] = []

    def say(self, text: str) -> None:
        print(f"\n{self.style.bold(text)}", flush=True)

    def tell_line(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def check(self, holds: bool, what: str) -> None:
        if holds:
            self.tell_line(self.style.green(f"ok: {what}"))
        else:
            self.failures.append(what)
            self.tell_line(self.style.red(f"NOT AS EXPECTED: {what}"))

    async def tell(self) -> int:
        from reconciler.emulator.app import Emulator, load_seed_file

        workdir = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
        emulator = Emulator("127.0.0.1", 0, auto_tick=self.args.speed)
        emulator.start()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": emulator.endpoint,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "demo"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "demo"),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        try:
            emulator.apply_seed(load_seed_file(self.args.sample_repo / "emulator-seed.yml"))
            folder = workdir / "units"
            shutil.copytree(self.args.sample_repo, folder)
            repository = pygit2.init_repository(str(folder), initial_head="main")
            commit(repository, "Three services in ecspresso's layout")
            print(f"emulator: {emulator.endpoint} (clock at {self.args.speed:g}x)")
            print(f"repository: {folder}")
            return await self._story(repository, folder, workdir, emulator)
        finally:
            emulator.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    async def _story(
        self, repository: pygit2.Repository, folder: Path, workdir: Path, emulator: Any
    ) -> int:
        import boto3

        from reconciler.aws import Aws, Sessions
        from reconciler.clock import SystemClock
        from reconciler.loop.daemon import LoopSettings, Reconciler, run_forever
        from reconciler.report import StatusReporter, StatusSettings, make_status_provider
        from reconciler.source.remote import GitRemote, Mirror
        from reconciler.web.app import create_app, serve

        clock = SystemClock()
        aws = Aws(Sessions(endpoint_url=emulator.endpoint))
        mirror = Mirror(GitRemote(str(folder)), workdir / "data")
        await mirror.fetch()
        # The throwaway repository is a working copy: the notes stay in the mirror.
        provider = make_status_provider(StatusSettings(repo=str(mirror.path), remote=None))
        loop = Reconciler(
            LoopSettings(owner=f"{folder}@main", interval=5.0, poll_interval=1.0),
            mirror=mirror,
            aws=aws,
            clock=clock,
            reporter=StatusReporter(provider, clock=clock),
        )
        ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=emulator.endpoint)
        try:
            async with serve(create_app(loop), "127.0.0.1", self.args.port) as port:
                print(f"status page: http://127.0.0.1:{port}/  (JSON: /api/status)")
                await self._chapters(repository, folder, loop, ecs, provider)
                self.say("Reading the statuses in git")
                self.tell_line(f"git -C {mirror.path} log --notes=ecs-status --oneline -5")
                if self.failures:
                    self.say(f"{len(self.failures)} step(s) did not go as told")
                    return EXIT_FAILED
                self.say("The story went as told.")
                if not self.args.exit:
                    print("The loop keeps watching; commit in the repository above. Ctrl-C ends.")
                    stop, wake = asyncio.Event(), asyncio.Event()
                    asyncio.get_running_loop().add_signal_handler(2, stop.set)
                    await run_forever(loop, clock, stop, wake)
                return EXIT_OK
        finally:
            await loop.close()
            await provider.close()
            aws.close()

    async def _chapters(
        self,
        repository: pygit2.Repository,
        folder: Path,
        loop: Any,
        ecs: Any,
        provider: Any,
    ) -> None:
        async def statuses(revision: str) -> dict[str, str]:
            return {
                s.context: f"{s.state}: {s.description}" for s in await provider.statuses(revision)
            }

        def services() -> dict[str, Any]:
            found = ecs.describe_services(
                cluster="prod", services=["api", "frontend", "batch-worker"]
            )
            return {s["serviceName"]: s for s in found["services"]}

        self.say("1. Merge to deploy: the loop sees the first commit and creates every service")
        first = str(repository.head.target)
        await loop.cycle()
        for context, text in sorted((await statuses(first)).items()):
            self.tell_line(f"{context}: {text}")
        self.check(len(services()) == 3, "api, frontend and batch-worker run")

        self.say("2. A commit bumps the api image (the committed IMAGE_TAG variable)")
        edit(folder / "api" / "reconciler.yml", lambda t: t.replace('"1.4.2"', '"1.4.3"'))
        bump = commit(repository, "api: 1.4.3")
        await loop.cycle()
        shown = await statuses(bump)
        for context, text in sorted(shown.items()):
            self.tell_line(f"{context}: {text}")
        running = services()["api"]["taskDefinition"].rsplit("/", 1)[-1]
        self.tell_line(f"api runs {running}")
        self.check(set(shown) == {"ecs/api"}, "only api got a status on this commit")

        self.say("3. Someone turns the api's circuit breaker off by hand in the console")
        ecs.update_service(
            cluster="prod",
            service="api",
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": False, "rollback": False}
            },
        )
        await loop.check_drift()
        book = {u.unit: u for u in loop.snapshot().units}["api"]
        self.tell_line(f"drift on api: {', '.join(book.drift) or 'none'}")
        applied = str(repository.head.target)
        for context, text in sorted((await statuses(applied)).items()):
            if context.startswith("ecs-drift/"):
                self.tell_line(f"{context} on {applied[:12]}: {text}")
        self.check(
            any("deploymentCircuitBreaker" in path for path in book.drift),
            "the drift is reported, on the revision last applied (api's policy: alert)",
        )

        self.say("4. A commit ships a batch image that cannot start")
        edit(
            folder / "batch" / "reconciler.yml",
            lambda t: t.replace('"0.9.7"', '"broken-0.9.8"'),
        )
        broken = commit(repository, "batch: 0.9.8")
        await loop.cycle()
        shown = await statuses(broken)
        for context, text in sorted(shown.items()):
            self.tell_line(f"{context}: {text}")
        self.check(
            shown.get("ecs/batch", "").startswith("failure"),
            "the circuit breaker rolled batch back and the commit says so",
        )

        self.say("5. Rollback by git revert: revert the api bump")
        revert = revert_commit(repository, bump, 'Revert "api: 1.4.3"')
        await loop.cycle()
        running = services()["api"]["taskDefinition"].rsplit("/", 1)[-1]
        for context, text in sorted((await statuses(revert)).items()):
            self.tell_line(f"{context}: {text}")
        self.tell_line(f"api runs {running} again")
        self.check(running.endswith(":1"), "the revision that ran before is reused")


def commit(repository: pygit2.Repository, message: str) -> str:
    repository.index.add_all()
    repository.index.write()
    tree = repository.index.write_tree()
    parents = [] if repository.head_is_unborn else [repository.head.target]
    return str(repository.create_commit("HEAD", AUTHOR, AUTHOR, message, tree, parents))


def revert_commit(repository: pygit2.Repository, revision: str, message: str) -> str:
    head = repository.head.peel(pygit2.Commit)
    index = repository.revert_commit(repository[revision].peel(pygit2.Commit), head)
    tree = index.write_tree(repository)
    new = repository.create_commit("HEAD", AUTHOR, AUTHOR, message, tree, [head.id])
    # The working files follow the new commit, as a user's revert leaves them.
    repository.index.read_tree(repository[tree].peel(pygit2.Tree))
    repository.index.write()
    cast(Any, repository).checkout_index(strategy=pygit2.enums.CheckoutStrategy.FORCE)
    return str(new)


def edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text()))
