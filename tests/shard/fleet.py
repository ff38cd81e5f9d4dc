"""Replicas of shard ownership in one test: a fake clock and a fake API server.

Each replica has its own Lease client and token, so a test can make one
"crash" by revoking its token: it can neither renew nor give its Lease up,
exactly like a process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

from reconciler.loop.leases import KubeConfig, LeaseClient
from reconciler.loop.sharding import LeaseTiming, ShardOwnership
from tests.shard.fake_kube import FakeKube

# Wall-clock bound on waiting for something that is already due: a failsafe,
# not a way of waiting for time to pass.
BOUND = 10.0

PREFIX = "recon"
TIMING = LeaseTiming(duration=15.0, renew_every=2.0)
UNITS = tuple(f"team-{n % 7}/service-{n}" for n in range(240))


class FakeClock:
    """Time that moves only when the test says so; knows who is asleep on it."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._slept = asyncio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        self._slept.set()
        try:
            await future
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not future]

    def advance(self, seconds: float) -> None:
        self._now += seconds
        for due, future in self._sleepers:
            if due <= self._now and not future.done():
                future.set_result(None)

    async def until_asleep(self, count: int) -> None:
        """Wait until ``count`` tasks sleep on this clock and none is due."""
        while sum(not f.done() for _, f in self._sleepers) < count:
            self._slept.clear()
            await asyncio.wait_for(self._slept.wait(), BOUND)


class Fleet:
    """Replicas started and stopped like a StatefulSet's pods."""

    def __init__(self, kube: FakeKube, clock: FakeClock) -> None:
        self.kube = kube
        self.clock = clock
        self.running: dict[str, ShardOwnership] = {}
        self._tokens: dict[str, str] = {}
        self._generations = itertools.count()

    async def start(self, shard_index: int, shard_count: int) -> ShardOwnership:
        identity = f"recon-{shard_index}_gen{next(self._generations)}"
        token = f"token-{identity}"
        self.kube.tokens.add(token)
        config = KubeConfig(base_url=self.kube.endpoint, namespace=self.kube.namespace, token=token)
        replica = ShardOwnership(
            LeaseClient(config),
            shard_index=shard_index,
            shard_count=shard_count,
            prefix=PREFIX,
            identity=identity,
            clock=self.clock,
            timing=TIMING,
        )
        await replica.start()
        self.running[identity] = replica
        self._tokens[identity] = token
        return replica

    async def stop(self, replica: ShardOwnership, *, crash: bool = False) -> None:
        if crash:
            self.kube.revoke(self._tokens[replica.identity])
        del self.running[replica.identity]
        await replica.stop()

    def fail_calls(self, replica: ShardOwnership, *verbs: str) -> None:
        """Keep the replica running but fail these calls of its from now on."""
        self.kube.fail(self._tokens[replica.identity], *verbs)

    async def stop_all(self) -> None:
        for replica in list(self.running.values()):
            await self.stop(replica)

    async def run_for(self, seconds: float, step: float = 0.5) -> int:
        """Let time pass step by step; the most owners any unit had at any step."""
        await self.clock.until_asleep(len(self.running))
        most = self.most_owners()
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            await self.clock.until_asleep(len(self.running))
            most = max(most, self.most_owners())
        return most

    def owners(self, unit_id: str) -> list[str]:
        return [r.identity for r in self.running.values() if r.owns(unit_id)]

    def most_owners(self, units: Iterable[str] = UNITS) -> int:
        return max(len(self.owners(unit)) for unit in units)

    def fewest_owners(self, units: Iterable[str] = UNITS) -> int:
        return min(len(self.owners(unit)) for unit in units)
