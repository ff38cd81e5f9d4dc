"""Knowing when to look at the remote again.

A :class:`RevisionWatcher` announces "a new revision may exist"; it never
fetches itself. Three things announce it: the interval (on the injected
:class:`~reconciler.clock.Clock`, so tests drive it without waiting), a webhook
(:meth:`RevisionWatcher.announce`, called by the webhook handler) and, when the
watched repository is a folder on this machine, a change of its refs seen by
``watchfiles``, so that a commit on a laptop deploys at once.

Announcements that arrive while nobody is waiting are merged into one trigger:
a burst of pushes, or git rewriting a ref through a lock file, costs one fetch.

Use it as an async context manager; leaving it cancels and awaits every task
it started::

    async with RevisionWatcher(clock, interval=30, local_repo=path) as watcher:
        async for trigger in watcher:
            result = await mirror.fetch()
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pygit2
import watchfiles

from reconciler.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0
"""Seconds between two cheap checks of the remote head when nothing else announces."""

WATCH_READY_TIMEOUT = 10.0
"""Seconds to wait for the file watcher to start before giving up on it."""


def ref_files(git_dir: Path, branch: str) -> frozenset[str]:
    """The files in ``git_dir`` whose change may move ``branch``: its loose ref,
    ``packed-refs`` and ``HEAD``. Other branches and objects are not watched."""
    names = (f"refs/heads/{branch}", "packed-refs", "HEAD")
    return frozenset(os.fspath(git_dir / name) for name in names)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why the remote should be looked at now: ``start``, ``interval``, ``webhook``
    and/or ``local-change``, merged when several came before anyone looked."""

    reasons: frozenset[str]


class RevisionWatcher:
    """Announces, on an interval, a webhook or a local ref change, that the remote
    may have a new revision."""

    def __init__(
        self,
        clock: Clock,
        *,
        interval: float = DEFAULT_INTERVAL,
        local_repo: Path | None = None,
        branch: str = "main",
        debounce_ms: int = 100,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self._clock = clock
        self._interval = interval
        self._local_repo = local_repo
        self._branch = branch
        self._debounce_ms = debounce_ms
        self._pending: set[str] = set()
        self._announced = asyncio.Event()
        self._watching = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pending(self) -> frozenset[str]:
        """The reasons announced since the last trigger was taken."""
        return frozenset(self._pending)

    def announce(self, reason: str) -> None:
        """Say that the remote may have a new revision; returns at once. Call it
        on the watcher's event loop (from another thread: ``call_soon_threadsafe``)."""
        self._pending.add(reason)
        self._announced.set()

    async def next_trigger(self) -> Trigger:
        """Wait for an announcement and take every one made so far."""
        await self._announced.wait()
        self._announced.clear()
        reasons, self._pending = frozenset(self._pending), set()
        return Trigger(reasons)

    def __aiter__(self) -> AsyncIterator[Trigger]:
        return self._triggers()

    async def _triggers(self) -> AsyncIterator[Trigger]:
        while True:
            yield await self.next_trigger()

    async def __aenter__(self) -> RevisionWatcher:
        # Look once at start: the remote may have moved while we were down.
        self.announce("start")
        git_dir = self._git_dir()
        self._tasks.append(asyncio.create_task(self._tick(), name="revision-watcher-interval"))
        if git_dir is None:
            return self
        watch = asyncio.create_task(self._watch_refs(git_dir), name="revision-watcher-refs")
        self._tasks.append(watch)

        # Until the watch is in place a commit would go unseen until the next
        # interval; waiting here makes "enter, then commit" reliable.
        waiting = asyncio.ensure_future(self._watching.wait())
        try:
            await asyncio.wait(
                [waiting, watch], timeout=WATCH_READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            await self.aclose()
            raise
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
        if not self._watching.is_set():
            log.warning("watching %s for commits did not start", self._local_repo)
        return self

    def _git_dir(self) -> Path | None:
        if self._local_repo is None:
            return None
        try:
            return Path(pygit2.Repository(os.fspath(self._local_repo)).path).resolve()
        except pygit2.GitError as exc:
            # The fetch reports an unreadable repository; the interval still runs.
            log.warning("not watching %s for commits: %s", self._local_repo, exc)
            return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop announcing; cancels and awaits every task the watcher started."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await self._clock.sleep(self._interval)
            self.announce("interval")

    async def _watch_refs(self, git_dir: Path) -> None:
        watched = ref_files(git_dir, self._branch)

        def is_ref(_: watchfiles.Change, path: str) -> bool:
            return path in watched

        # git replaces a ref by renaming a lock file over it, so the folder is
        # watched rather than the file, whose inode changes on every commit.
        changes = watchfiles.awatch(
            git_dir, watch_filter=is_ref, debounce=self._debounce_ms, step=20
        )
        try:
            self._watching.set()
            async for found in changes:
                log.debug("local refs changed: %s", sorted(p for _, p in found))
                self.announce("local-change")
        except Exception:
            # A vanished folder must not stop the interval and the webhook.
            log.exception("watching %s for commits stopped", git_dir)
        finally:
            await changes.aclose()
