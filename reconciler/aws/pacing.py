"""Pace calls per API family below AWS's published sustained rates.

AWS throttles each account and region with token buckets per API family. A
fleet-sized cycle that fires every call at once would be throttled and then
spend its time in backoff; pacing spends the same time up front, evenly, and
leaves headroom for the other tools in the account.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_second`` sustained, up to ``burst`` at once."""

    per_second: float
    burst: int


# Below the sustained rates AWS publishes for ECS and Application Auto Scaling;
# other services get a generous default. Reads and writes are separate buckets,
# and each write operation has a bucket of its own at the write rate: AWS keeps
# separate buckets for registering task definitions, changing services and
# tagging, so a fleet-wide image bump is not held to one write rate for all three.
DEFAULT_RATES: dict[tuple[str, str], Rate] = {
    ("ecs", "read"): Rate(per_second=40.0, burst=100),
    ("ecs", "write"): Rate(per_second=8.0, burst=40),
    ("application-autoscaling", "read"): Rate(per_second=8.0, burst=40),
    ("application-autoscaling", "write"): Rate(per_second=4.0, burst=20),
}
FALLBACK_RATE = Rate(per_second=20.0, burst=50)

READ_PREFIXES = ("Describe", "List", "Get", "Batch_Get")


def api_family(service: str, operation: str) -> tuple[str, str]:
    """The rate an operation is paced at: its service, and read or write."""
    kind = "read" if operation.startswith(READ_PREFIXES) else "write"
    return service, kind


def bucket_key(service: str, operation: str) -> tuple[str, ...]:
    """The bucket an operation draws from: the service's reads share one; each
    write operation has its own."""
    family = api_family(service, operation)
    return family if family[1] == "read" else (*family, operation)


class _Bucket:
    def __init__(self, rate: Rate, now: Callable[[], float]) -> None:
        self._rate = rate
        self._now = now
        self._tokens = float(rate.burst)
        self._updated = now()
        self._lock = asyncio.Lock()

    async def take(self) -> float:
        """Wait for a token; return how long it waited."""
        async with self._lock:
            waited = 0.0
            while True:
                current = self._now()
                elapsed = current - self._updated
                self._updated = current
                self._tokens = min(
                    float(self._rate.burst), self._tokens + elapsed * self._rate.per_second
                )
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = (1.0 - self._tokens) / self._rate.per_second
                waited += delay
                await asyncio.sleep(delay)


class Pacer:
    """Token buckets per (service, read|write), shared by every call in a process."""

    def __init__(
        self,
        rates: dict[tuple[str, str], Rate] | None = None,
        *,
        fallback: Rate = FALLBACK_RATE,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rates = dict(DEFAULT_RATES if rates is None else rates)
        self._fallback = fallback
        self._now = now
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    @classmethod
    def unlimited(cls) -> Pacer:
        """A pacer that never waits (for the emulator's own tools and some tests)."""
        return cls({}, fallback=Rate(per_second=1e9, burst=1_000_000_000))

    async def take(self, service: str, operation: str) -> float:
        key = bucket_key(service, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self._rates.get(api_family(service, operation), self._fallback)
            bucket = self._buckets[key] = _Bucket(rate, self._now)
        return await bucket.take()
