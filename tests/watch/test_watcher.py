"""The revision watcher: the interval on a fake clock, webhooks, and commits to a
local repository seen through its refs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from reconciler.source.remote import GitRemote, Mirror
from reconciler.source.watch import RevisionWatcher, Trigger, ref_files
from reconciler.source.webhook_server import WEBHOOK_PATH, webhook_app
from reconciler.source.webhooks import sign_body
from tests.conftest import run_async
from tests.watch.gitserve import GitDaemon, commit_file, git, make_served_repo

BOUND = 20.0
"""Seconds a test waits at most for something that should happen at once."""


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._sleeping = asyncio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        self._sleeping.set()
        await future

    async def until_sleeping(self) -> None:
        """Wait for someone to sleep on this clock."""
        await asyncio.wait_for(self._sleeping.wait(), BOUND)
        self._sleeping.clear()

    def advance(self, seconds: float) -> None:
        self._now += seconds
        waking = [(t, f) for t, f in self._sleepers if t <= self._now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now]
        for _, future in waking:
            if not future.done():
                future.set_result(None)


def test_the_watcher_announces_at_start_then_once_per_interval() -> None:
    async def scenario() -> list[object]:
        clock = FakeClock()
        seen: list[object] = []
        async with RevisionWatcher(clock, interval=30) as watcher:
            seen.append(await asyncio.wait_for(watcher.next_trigger(), BOUND))

            await clock.until_sleeping()
            clock.advance(29)
            await asyncio.sleep(0)
            seen.append(watcher.pending)

            clock.advance(1)
            seen.append(await asyncio.wait_for(watcher.next_trigger(), BOUND))
            await clock.until_sleeping()
            clock.advance(30)
            seen.append(await asyncio.wait_for(watcher.next_trigger(), BOUND))
        return seen

    assert run_async(scenario()) == [
        Trigger(frozenset({"start"})),
        frozenset(),
        Trigger(frozenset({"interval"})),
        Trigger(frozenset({"interval"})),
    ]


def test_announcements_made_while_busy_merge_into_one_trigger() -> None:
    async def scenario() -> tuple[Trigger, frozenset[str]]:
        async with RevisionWatcher(FakeClock(), interval=30) as watcher:
            for _ in range(5):
                watcher.announce("webhook")
            merged = await asyncio.wait_for(watcher.next_trigger(), BOUND)
            return merged, watcher.pending

    merged, left = run_async(scenario())

    assert merged == Trigger(frozenset({"start", "webhook"}))
    assert left == frozenset()


def test_a_webhook_push_triggers_the_watcher_without_waiting_for_a_fetch() -> None:
    async def scenario() -> tuple[int, Trigger]:
        async with RevisionWatcher(FakeClock(), interval=30) as watcher:
            await watcher.next_trigger()
            app = webhook_app("s3cret", "main", lambda event: watcher.announce("webhook"))
            body = b'{"ref": "refs/heads/main", "after": "abc"}'
            headers = {
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": "sha256=" + sign_body("s3cret", body),
            }
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                response = await client.post(WEBHOOK_PATH, data=body, headers=headers)
            return response.status, await asyncio.wait_for(watcher.next_trigger(), BOUND)

    assert run_async(scenario()) == (202, Trigger(frozenset({"webhook"})))


def test_a_commit_in_a_local_repository_is_seen_at_once_and_fetched(tmp_path: Path) -> None:
    _bare, work = make_served_repo(tmp_path)
    mirror = Mirror(GitRemote(str(work)), tmp_path / "data")

    async def scenario() -> tuple[Trigger, str, str]:
        async with RevisionWatcher(FakeClock(), interval=30, local_repo=work) as watcher:
            await watcher.next_trigger()
            await mirror.fetch()

            committed = await asyncio.to_thread(commit_file, work, "README", "two\n", "laptop")
            trigger = await asyncio.wait_for(watcher.next_trigger(), BOUND)
            return trigger, committed, (await mirror.fetch()).head

    trigger, committed, fetched = run_async(scenario())

    assert trigger == Trigger(frozenset({"local-change"}))
    assert fetched == committed


def test_only_the_watched_branch_ref_packed_refs_and_head_are_watched(tmp_path: Path) -> None:
    _, work = make_served_repo(tmp_path)
    git_dir = work / ".git"

    watched = ref_files(git_dir, "release/v2")

    assert watched == {
        str(git_dir / "refs/heads/release/v2"),
        str(git_dir / "packed-refs"),
        str(git_dir / "HEAD"),
    }
    assert str(git_dir / "refs/heads/main") not in watched


def test_a_bare_local_repository_is_watched_through_its_own_refs(tmp_path: Path) -> None:
    bare, work = make_served_repo(tmp_path)

    async def scenario() -> Trigger:
        async with RevisionWatcher(FakeClock(), interval=30, local_repo=bare) as watcher:
            await watcher.next_trigger()
            await asyncio.to_thread(commit_file, work, "README", "two\n", "second")
            await asyncio.to_thread(git, work, "push", "-q", "origin", "main")
            return await asyncio.wait_for(watcher.next_trigger(), BOUND)

    assert run_async(scenario()) == Trigger(frozenset({"local-change"}))


def test_leaving_the_watcher_stops_every_task_it_started(tmp_path: Path) -> None:
    _, work = make_served_repo(tmp_path)

    async def scenario() -> list[asyncio.Task[object]]:
        async with RevisionWatcher(FakeClock(), interval=30, local_repo=work) as watcher:
            await watcher.next_trigger()
            started = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return started  # type: ignore[return-value]

    started = run_async(scenario())

    # run_async fails on leaked tasks; the watcher really did have tasks to stop.
    assert sorted(t.get_name() for t in started) == [
        "revision-watcher-interval",
        "revision-watcher-refs",
    ]
    assert all(t.done() for t in started)


def test_cancelling_a_consumer_waiting_on_the_watcher_leaves_no_task(tmp_path: Path) -> None:
    _, work = make_served_repo(tmp_path)

    async def scenario() -> bool:
        async with RevisionWatcher(FakeClock(), interval=30, local_repo=work) as watcher:
            await watcher.next_trigger()

            async def consume() -> None:
                async for _ in watcher:
                    pass

            consumer = asyncio.create_task(consume())
            await asyncio.sleep(0)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            return consumer.cancelled()

    assert run_async(scenario())


def test_a_local_path_that_is_not_a_repository_still_gets_the_interval(tmp_path: Path) -> None:
    async def scenario() -> Trigger:
        clock = FakeClock()
        async with RevisionWatcher(clock, interval=30, local_repo=tmp_path / "nothing") as watcher:
            await watcher.next_trigger()
            await clock.until_sleeping()
            clock.advance(30)
            return await asyncio.wait_for(watcher.next_trigger(), BOUND)

    assert run_async(scenario()) == Trigger(frozenset({"interval"}))


def test_a_push_announced_by_webhook_is_fetched_from_git_daemon(tmp_path: Path) -> None:
    bare, work = make_served_repo(tmp_path)
    daemon = GitDaemon(bare.parent)
    daemon.start()
    mirror = Mirror(GitRemote(daemon.url(bare.name)), tmp_path / "data")

    async def scenario() -> tuple[str, str, Trigger]:
        async with RevisionWatcher(FakeClock(), interval=30) as watcher:
            await watcher.next_trigger()
            before = (await mirror.fetch()).head

            pushed = await asyncio.to_thread(commit_file, work, "README", "two\n", "second")
            await asyncio.to_thread(git, work, "push", "-q", daemon.url(bare.name), "main")
            app = webhook_app("s3cret", "main", lambda event: watcher.announce("webhook"))
            body = json.dumps({"ref": "refs/heads/main", "after": pushed}).encode()
            headers = {"X-Gitea-Event": "push", "X-Gitea-Signature": sign_body("s3cret", body)}
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                await client.post(WEBHOOK_PATH, data=body, headers=headers)

            trigger = await asyncio.wait_for(watcher.next_trigger(), BOUND)
            result = await mirror.fetch()
            assert result.previous == before
            return result.head, pushed, trigger

    try:
        head, pushed, trigger = run_async(scenario())
    finally:
        daemon.stop()

    assert head == pushed
    assert trigger == Trigger(frozenset({"webhook"}))
