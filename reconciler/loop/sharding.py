"""Which replica reconciles which unit, when several run side by side.

With N replicas, replica i owns the units that rendezvous hashing gives shard
i: each unit goes to the shard with the highest weight ``hash(shard, unit)``.
When N changes, only the units whose winning shard appears or disappears move,
about 1/N of them.

While the replica count changes, an old replica (that still believes N = 2)
and a new one (that believes N = 3) run at the same time and would both claim
the units moving to shard 2. A Kubernetes Lease per shard settles it, with
three rules that make any two replicas agree on every unit:

* A replica claims units only while it holds the Lease of its own shard, and
  only once it has held it for longer than a view of the Leases stays fresh
  (``settle``), so that every other replica has seen its Lease by then.
* A replica decides from a view of all Leases no older than ``fresh_for``;
  with an older view it claims nothing.
* A unit goes to the highest-weight shard among the replica's own 0..N-1 and
  every shard whose Lease someone holds. An old replica thus yields units to a
  new shard as soon as it sees that shard's Lease held, and a new replica
  leaves units to an old shard beyond its N until that Lease is given up or
  expires.

Two replicas that both claimed a unit would each have seen the other's Lease
held and so each would have a higher weight than the other: impossible.

The price is a gap, never an overlap: while pods roll onto a new count, the
units a pod with a stale count would take wait (no status, no drift check)
until the roll reaches it, and a new holder waits ``settle`` before claiming.
The loop asks :meth:`Ownership.owned` (or ``owns``) before each unit's
reconcile, status and drift check, and again before writing to AWS;
:func:`choose_ownership` builds the right kind from the environment.

Expiry is judged the way Kubernetes' own leader election judges it: a Lease
is expired when its resourceVersion has not changed for leaseDurationSeconds
by the observer's own clock, so clocks on different machines need not agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.clock import Clock
from reconciler.errors import ReconcilerError, UsageError
from reconciler.loop.leases import (
    KUBE_API_ENV,
    Lease,
    LeaseClient,
    LeaseConflict,
    kube_config_from_environment,
)

log = logging.getLogger(__name__)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ecs-gitops-reconciler"
SHARD_SET_LABEL = "ecs-gitops-reconciler/shard-set"

# A write refused for a stale read is read again and decided again this many
# times in one round; the next round starts over.
CONFLICT_ATTEMPTS = 3


def shard_weight(unit_id: str, shard: int) -> int:
    """The unit's weight on a shard: the same in every process and Python version."""
    digest = hashlib.sha256(f"{shard}\x00{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner_among(unit_id: str, shards: Iterable[int]) -> int:
    """The shard among ``shards`` with the highest weight for the unit."""
    return max(shards, key=lambda shard: (shard_weight(unit_id, shard), -shard))


def owner_of(unit_id: str, shard_count: int) -> int:
    """The shard (0..shard_count-1) that owns the unit."""
    if shard_count < 1:
        raise UsageError(f"the shard count must be at least 1, not {shard_count}")
    return owner_among(unit_id, range(shard_count))


def lease_name(prefix: str, shard: int) -> str:
    return f"{prefix}-shard-{shard}"


def lease_prefix_from_pod_name(pod_name: str) -> str:
    """The StatefulSet's name from one of its pods' names (``<name>-<ordinal>``)."""
    return re.sub(r"-\d+$", "", pod_name)


def holder_identity(pod_name: str | None = None) -> str:
    """Who holds a Lease: the pod, and which process in it.

    A restarted pod gets a new identity, so it waits for the Lease its
    predecessor did not give up instead of assuming it still holds it.
    """
    return f"{pod_name or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class Ownership(Protocol):
    """What the loop asks before it reconciles, reports or checks a unit."""

    def owns(self, unit_id: str) -> bool: ...

    def owned(self, unit_ids: Iterable[str]) -> frozenset[str]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SoleOwnership:
    """One process and no Kubernetes: it owns every unit."""

    def owns(self, unit_id: str) -> bool:
        return True

    def owned(self, unit_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(unit_ids)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """How long a Lease lasts and how often it is renewed and the view refreshed.

    ``renew_deadline`` (how long a holder keeps claiming units without a
    successful renewal) plus ``fresh_for`` stays within ``duration``, so that no
    other replica can judge a Lease expired while its holder still claims units.
    """

    duration: float = 15.0
    renew_every: float = 2.0

    def __post_init__(self) -> None:
        if self.duration <= self.fresh_for + self.renew_every:
            raise UsageError(
                f"a Lease of {self.duration:g}s is too short to be renewed every "
                f"{self.renew_every:g}s: make it longer than {3.5 * self.renew_every:g}s"
            )

    @property
    def fresh_for(self) -> float:
        # Two refreshes may fail before the view is too old to decide on.
        return 2.5 * self.renew_every

    @property
    def settle(self) -> float:
        return self.fresh_for

    @property
    def renew_deadline(self) -> float:
        return self.duration - self.fresh_for


@dataclass(slots=True)
class _Sighting:
    """A Lease as this replica last saw it, and since when (its own clock)."""

    lease: Lease
    since: float


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ShardOwnership:
    """Holds this replica's shard Lease and answers which units it owns.

    ``start`` runs a first round (and raises if the API server refuses us, say
    for missing permissions), then keeps renewing in the background; ``stop``
    stops claiming units and gives the Lease up so another replica can take it
    at once.
    """

    def __init__(
        self,
        leases: LeaseClient,
        *,
        shard_index: int,
        shard_count: int,
        prefix: str,
        identity: str,
        clock: Clock,
        timing: LeaseTiming | None = None,
        wall_time: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not 0 <= shard_index < shard_count:
            raise UsageError(
                f"shard index {shard_index} is outside 0..{shard_count - 1}: "
                "check --shard-index and --shard-count"
            )
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.identity = identity
        self.lease_name = lease_name(prefix, shard_index)
        self._leases = leases
        self._prefix = prefix
        self._clock = clock
        self._timing = timing or LeaseTiming()
        self._wall_time = wall_time
        self._labels = {MANAGED_BY_LABEL: MANAGED_BY, SHARD_SET_LABEL: prefix}
        self._sightings: dict[int, _Sighting] = {}
        self._view_taken_at: float | None = None
        self._held_since: float | None = None
        self._renewed_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def holding(self) -> bool:
        """Whether this replica holds its shard's Lease right now."""
        return self._holding(self._clock.now())

    def owns(self, unit_id: str) -> bool:
        return bool(self.owned([unit_id]))

    def owned(self, unit_ids: Iterable[str]) -> frozenset[str]:
        """The units among ``unit_ids`` this replica owns now (one clock reading)."""
        now = self._clock.now()
        if not self._holding(now) or self._held_since is None:
            return frozenset()
        if now - self._held_since <= self._timing.settle:
            return frozenset()
        if self._view_taken_at is None or now - self._view_taken_at > self._timing.fresh_for:
            return frozenset()
        shards = set(range(self.shard_count)) | self._held_shards(now)
        return frozenset(u for u in unit_ids if owner_among(u, shards) == self.shard_index)

    async def start(self) -> None:
        try:
            await self.keep_lease()
        except ReconcilerError as e:
            if not e.transient:
                await self._leases.close()
                raise
            log.warning("shard lease round failed, retrying: %s", e)
        self._task = asyncio.create_task(self._keep_renewing(), name=f"lease {self.lease_name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._give_up()
        finally:
            await self._leases.close()

    async def keep_lease(self) -> None:
        """One round: refresh the view of all shard Leases, then take or renew ours."""
        taken_at = self._clock.now()
        listed = await self._leases.list(self._labels)
        shards = {self._shard_of(lease.name) for lease in listed}
        # A Lease deleted since the last round holds nothing any more.
        self._sightings = {s: seen for s, seen in self._sightings.items() if s in shards}
        for lease in listed:
            self._sight(lease, taken_at)
        self._view_taken_at = taken_at

        # A failed renewal leaves the view fresh: the renew deadline covers it.
        await self._take_or_renew()

    async def _keep_renewing(self) -> None:
        while True:
            await self._clock.sleep(self._timing.renew_every)
            try:
                await self.keep_lease()
            except ReconcilerError as e:
                # Holding lapses by itself at the renew deadline: keep trying.
                level = logging.WARNING if e.transient else logging.ERROR
                log.log(level, "shard lease %s: %s", self.lease_name, e)

    async def _take_or_renew(self) -> None:
        sighting = self._sightings.get(self.shard_index)
        lease = sighting.lease if sighting else None
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                await self._write_own(lease)
                return
            except LeaseConflict as e:
                # Someone wrote it since we read it: read again and decide again.
                log.debug("shard lease %s changed under us: %s", self.lease_name, e)
                lease = await self._leases.read(self.lease_name)
                if lease is not None:
                    self._sight(lease, self._clock.now())
        log.warning(
            "shard lease %s kept changing under us %d times; trying again next round",
            self.lease_name,
            CONFLICT_ATTEMPTS,
        )

    async def _write_own(self, lease: Lease | None) -> None:
        sent_at = self._clock.now()
        stamp = self._wall_time().isoformat(timespec="microseconds").replace("+00:00", "Z")
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self._timing.duration),
            "renewTime": stamp,
        }
        if lease is None:
            spec.update(acquireTime=stamp, leaseTransitions=0)
            written = await self._leases.create(self.lease_name, spec, self._labels)
            self._took(written, sent_at)
        elif lease.holder == self.identity:
            written = await self._leases.replace(lease, spec)
            self._renewed(written, sent_at)
        elif lease.holder is None or self._expired(self.shard_index, sent_at):
            spec.update(acquireTime=stamp, leaseTransitions=lease.transitions + 1)
            written = await self._leases.replace(lease, spec)
            self._took(written, sent_at)
        else:
            if self._held_since is not None:
                log.warning("shard lease %s now held by %s", self.lease_name, lease.holder)
            self._held_since = None

    def _took(self, lease: Lease, sent_at: float) -> None:
        # Counted from the answer, not the request: the settle time must start
        # after the write is visible to every other replica.
        self._held_since = self._clock.now()
        self._renewed_at = sent_at
        self._sight(lease, self._held_since)
        log.info("took shard lease %s as %s", self.lease_name, self.identity)

    def _renewed(self, lease: Lease, sent_at: float) -> None:
        if self._held_since is None or not self._holding(sent_at):
            # Ours by name, but after a lapse others may have judged it expired
            # and not yet seen this renewal: settle again before claiming units.
            self._took(lease, sent_at)
            return
        self._renewed_at = sent_at
        self._sight(lease, self._clock.now())

    async def _give_up(self) -> None:
        if self._held_since is None:
            return
        # Stop claiming units before the Lease is seen free by anyone else.
        self._held_since = None
        sighting = self._sightings.get(self.shard_index)
        lease = sighting.lease if sighting else None
        for _ in range(CONFLICT_ATTEMPTS):
            if lease is None or lease.holder != self.identity:
                return
            try:
                await self._leases.replace(lease, {"holderIdentity": None})
                log.info("gave up shard lease %s", self.lease_name)
                return
            except LeaseConflict:
                lease = await self._leases.read(self.lease_name)
            except ReconcilerError as e:
                log.warning(
                    "could not give up shard lease %s, it expires in %gs: %s",
                    self.lease_name,
                    self._timing.duration,
                    e,
                )
                return

    def _holding(self, now: float) -> bool:
        if self._held_since is None or self._renewed_at is None:
            return False
        return now < self._renewed_at + self._timing.renew_deadline

    def _sight(self, lease: Lease, now: float) -> None:
        shard = self._shard_of(lease.name)
        if shard is None:
            return
        known = self._sightings.get(shard)
        if known is None or known.lease.resource_version != lease.resource_version:
            self._sightings[shard] = _Sighting(lease, now)

    def _shard_of(self, name: str) -> int | None:
        match = re.fullmatch(re.escape(self._prefix) + r"-shard-(\d+)", name)
        return int(match.group(1)) if match else None

    def _expired(self, shard: int, now: float) -> bool:
        sighting = self._sightings[shard]
        return now >= sighting.since + sighting.lease.duration

    def _held_shards(self, now: float) -> set[int]:
        return {
            shard
            for shard, sighting in self._sightings.items()
            if sighting.lease.holder is not None and not self._expired(shard, now)
        }


def choose_ownership(
    shard_index: int,
    shard_count: int,
    *,
    clock: Clock,
    environ: Mapping[str, str] = os.environ,
    timing: LeaseTiming | None = None,
) -> Ownership:
    """Shard ownership as the environment allows: Leases if there is an API server.

    In a pod (or with ``RECONCILER_KUBE_API`` set) the replica holds the Lease
    of its shard, even as the only shard, so that scaling up later is safe.
    Leases are named after the StatefulSet, taken from ``POD_NAME``; the holder
    identity is the pod name and a per-process suffix. Without an API server
    the process owns every unit, and asking for more shards is refused.
    """
    config = kube_config_from_environment(environ)
    if config is None:
        if shard_count > 1:
            raise UsageError(
                f"--shard-count={shard_count} needs Kubernetes Leases to share the units: "
                f"run the reconciler in a pod, set {KUBE_API_ENV}, or use --shard-count=1"
            )
        return SoleOwnership()
    pod_name = environ.get("POD_NAME") or socket.gethostname()
    return ShardOwnership(
        LeaseClient(config),
        shard_index=shard_index,
        shard_count=shard_count,
        prefix=lease_prefix_from_pod_name(pod_name),
        identity=holder_identity(pod_name),
        clock=clock,
        timing=timing,
    )
