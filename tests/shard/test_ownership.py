"""Shard ownership through Leases: never two owners of a unit, and one once settled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import UsageError
from reconciler.loop.leases import KubeConfig, LeaseClient, LeaseRejected
from reconciler.loop.sharding import (
    LeaseTiming,
    ShardOwnership,
    SoleOwnership,
    choose_ownership,
    holder_identity,
    lease_prefix_from_pod_name,
    owner_of,
)
from tests.conftest import run_async
from tests.shard.fake_kube import FakeKube
from tests.shard.fleet import PREFIX, TIMING, UNITS, FakeClock, Fleet

# Long enough for any Lease left behind to expire and its successor to settle.
SETTLE = TIMING.duration + TIMING.settle + 2 * TIMING.renew_every


@pytest.mark.parametrize("crash", [False, True], ids=["clean give-up", "crash"])
def test_two_replicas_of_one_shard_never_both_own_and_the_other_takes_over(
    crash: bool,
) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            first = await fleet.start(0, 1)
            second = await fleet.start(0, 1)
            seen["most owners while both run"] = await fleet.run_for(SETTLE)
            seen["holders"] = [first.holding, second.holding]
            seen["first owns every unit"] = all(first.owns(u) for u in UNITS)

            stopped_at = fleet.clock.now()
            await fleet.stop(first, crash=crash)
            took_over_after = None
            for _ in range(int(SETTLE * 2)):
                if await fleet.run_for(0.5) > 1:
                    seen["two owners"] = True
                if second.holding and took_over_after is None:
                    took_over_after = fleet.clock.now() - stopped_at
            seen["took over after"] = took_over_after
            seen["second owns every unit"] = all(second.owns(u) for u in UNITS)
            await fleet.stop_all()
        return seen

    seen = run_async(scenario())
    assert seen["most owners while both run"] == 1
    assert seen["holders"] == [True, False]
    assert seen["first owns every unit"]
    assert "two owners" not in seen
    assert seen["second owns every unit"]
    if crash:
        # A live Lease is never stolen: the crashed holder's Lease had to expire.
        assert seen["took over after"] >= TIMING.duration - TIMING.renew_every
    else:
        assert seen["took over after"] <= TIMING.renew_every


ALL_CALLS = ("list", "get", "create", "update", "delete")


def test_a_holder_cut_off_from_the_api_server_stops_owning_before_anyone_takes_over() -> None:
    async def scenario() -> tuple[int, bool, bool]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            cut = await fleet.start(0, 1)
            other = await fleet.start(0, 1)
            await fleet.run_for(SETTLE)
            fleet.fail_calls(cut, *ALL_CALLS)
            most = await fleet.run_for(2 * SETTLE)
            outcome = (most, any(cut.owns(u) for u in UNITS), all(other.owns(u) for u in UNITS))
            await fleet.stop_all()
        return outcome

    assert run_async(scenario()) == (1, False, True)


def test_a_holder_whose_renewals_fail_keeps_its_units_only_until_the_renew_deadline() -> None:
    async def scenario() -> list[bool]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            replica = await fleet.start(0, 1)
            await fleet.run_for(SETTLE)
            fleet.fail_calls(replica, "create", "update")
            # One failed renewal is tolerated...
            await fleet.run_for(TIMING.renew_every * 2)
            owned = [replica.owns(UNITS[0])]
            # ...but past the deadline the Lease may be judged expired elsewhere.
            await fleet.run_for(TIMING.renew_deadline)
            owned.append(replica.owns(UNITS[0]))
            await fleet.stop_all()
        return owned

    assert run_async(scenario()) == [True, False]


def test_a_holder_that_cannot_see_the_other_leases_claims_nothing() -> None:
    async def scenario() -> tuple[int, int]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            blind = await fleet.start(0, 1)
            await fleet.run_for(SETTLE)
            # It still renews its own Lease, but would not see shard 1 appear.
            fleet.fail_calls(blind, "list")
            await fleet.start(1, 2)
            most = await fleet.run_for(SETTLE)
            owned_by_blind = sum(blind.owns(u) for u in UNITS)
            await fleet.stop_all()
        return most, owned_by_blind

    assert run_async(scenario()) == (1, 0)


def test_a_new_holder_waits_before_claiming_units() -> None:
    async def scenario() -> list[bool]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            replica = await fleet.start(0, 1)
            claims = [replica.holding, replica.owns(UNITS[0])]
            await fleet.run_for(TIMING.settle + TIMING.renew_every)
            claims.append(replica.owns(UNITS[0]))
            await fleet.stop_all()
        return claims

    assert run_async(scenario()) == [True, False, True]


def take_lease_for(intruder: str) -> Any:
    def change(lease: dict[str, Any]) -> None:
        lease["spec"]["holderIdentity"] = intruder

    return change


def annotate(lease: dict[str, Any]) -> None:
    lease["metadata"].setdefault("annotations", {})["team"] = "platform"


@pytest.mark.parametrize(
    ("held_first", "interference", "holder_after"),
    [
        (False, take_lease_for("intruder"), "intruder"),
        (True, take_lease_for("intruder"), "intruder"),
        (True, annotate, "ours"),
    ],
    ids=[
        "a lease taken between our read and our acquire stays with the taker",
        "a lease taken between our read and our renewal is lost",
        "an unrelated edit between our read and our renewal keeps the lease ours",
    ],
)
def test_a_stale_write_is_refused_read_again_and_decided_again(
    held_first: bool, interference: Any, holder_after: str
) -> None:
    async def scenario() -> tuple[str | None, bool, int, str]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            if not held_first:
                # A free Lease left behind by an earlier replica.
                kube.tokens.add("setup")
                setup = LeaseClient(
                    KubeConfig(base_url=kube.endpoint, namespace=kube.namespace, token="setup")
                )
                await setup.create(f"{PREFIX}-shard-0", {"leaseDurationSeconds": 15}, {})
                await setup.close()
                kube.leases[f"{PREFIX}-shard-0"]["metadata"]["labels"] = {
                    "app.kubernetes.io/managed-by": "ecs-gitops-reconciler",
                    "ecs-gitops-reconciler/shard-set": PREFIX,
                }
            kube.interfere_before_next_write(f"{PREFIX}-shard-0", interference)
            replica = await fleet.start(0, 1)
            await fleet.run_for(SETTLE / 2)
            result = (
                kube.holder_of(f"{PREFIX}-shard-0"),
                replica.holding,
                len(kube.conflicts()),
                replica.identity,
            )
            await fleet.stop_all()
        return result

    holder, holding, conflicts, identity = run_async(scenario())
    assert conflicts >= 1
    if holder_after == "ours":
        assert (holder, holding) == (identity, True)
    else:
        assert (holder, holding) == (holder_after, False)


@pytest.mark.parametrize("crash", [False, True], ids=["clean shutdowns", "crashed pods"])
def test_scaling_from_two_to_three_shards_and_back_never_gives_a_unit_two_owners(
    crash: bool,
) -> None:
    async def scenario() -> tuple[dict[str, int], dict[str, int], bool]:
        most: dict[str, int] = {}
        fewest: dict[str, int] = {}
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())

            async def settled(step: str) -> None:
                most[step] = await fleet.run_for(SETTLE)
                fewest[step] = fleet.fewest_owners()

            pods = [await fleet.start(0, 2), await fleet.start(1, 2)]
            await settled("two shards")

            # helm upgrade --set replicas=3: pod 2 appears, then the StatefulSet
            # rolls the others onto the new count, highest ordinal first.
            pods.append(await fleet.start(2, 3))
            await settled("pod 2 up beside two old pods")
            for index in (1, 0):
                await fleet.stop(pods[index], crash=crash)
                pods[index] = await fleet.start(index, 3)
                await settled(f"pod {index} rolled onto three shards")

            # And back to two: pod 2 goes away, the others roll onto two.
            await fleet.stop(pods.pop(), crash=crash)
            await settled("pod 2 gone")
            for index in (1, 0):
                await fleet.stop(pods[index], crash=crash)
                pods[index] = await fleet.start(index, 2)
                await settled(f"pod {index} rolled back onto two shards")

            as_rendezvous_says = all(
                fleet.owners(u) == [pods[owner_of(u, 2)].identity] for u in UNITS
            )
            await fleet.stop_all()
        return most, fewest, as_rendezvous_says

    most, fewest, as_rendezvous_says = run_async(scenario())
    assert most == dict.fromkeys(most, 1)
    # Once every pod runs with the same count, every unit has its owner again.
    # In between, units a pod with a stale count would take wait for the roll.
    uniform = ["two shards", "pod 0 rolled onto three shards", "pod 0 rolled back onto two shards"]
    assert {step: fewest[step] for step in uniform} == dict.fromkeys(uniform, 1)
    assert as_rendezvous_says


def test_an_old_replica_yields_units_to_a_new_shard_once_its_lease_is_held() -> None:
    async def scenario() -> tuple[int, int]:
        async with FakeKube() as kube:
            fleet = Fleet(kube, FakeClock())
            old = await fleet.start(0, 1)
            await fleet.run_for(SETTLE)
            moving = [u for u in UNITS if owner_of(u, 2) == 1]
            before = sum(old.owns(u) for u in moving)
            new = await fleet.start(1, 2)
            await fleet.run_for(SETTLE)
            after = sum(old.owns(u) for u in moving) + 1000 * sum(not new.owns(u) for u in moving)
            await fleet.stop_all()
        return before, after

    before, after = run_async(scenario())
    assert before > 0
    assert after == 0


def test_a_replica_the_api_server_refuses_fails_at_start_with_what_to_check() -> None:
    async def scenario() -> LeaseRejected:
        async with FakeKube(namespace="gitops") as kube:
            config = KubeConfig(base_url=kube.endpoint, namespace="gitops", token="unknown")
            replica = ShardOwnership(
                LeaseClient(config),
                shard_index=0,
                shard_count=1,
                prefix=PREFIX,
                identity="recon-0_x",
                clock=FakeClock(),
                timing=TIMING,
            )
            with pytest.raises(LeaseRejected) as refused:
                await replica.start()
        return refused.value

    assert "service account token" in str(run_async(scenario()))


@pytest.mark.parametrize(
    ("index", "count"), [(3, 3), (-1, 2)], ids=["index past the count", "negative index"]
)
def test_a_shard_index_outside_the_count_is_refused(index: int, count: int) -> None:
    config = KubeConfig(base_url="http://127.0.0.1:9", namespace="x", token="t")
    with pytest.raises(UsageError, match="--shard-index"):
        ShardOwnership(
            LeaseClient(config),
            shard_index=index,
            shard_count=count,
            prefix=PREFIX,
            identity="recon",
            clock=FakeClock(),
        )


def test_a_lease_too_short_for_its_renewals_is_refused() -> None:
    with pytest.raises(UsageError, match="too short"):
        LeaseTiming(duration=5.0, renew_every=2.0)


def test_without_kubernetes_the_only_process_owns_every_unit() -> None:
    async def scenario() -> bool:
        ownership = SoleOwnership()
        await ownership.start()
        owns = all(ownership.owns(u) for u in UNITS)
        await ownership.stop()
        return owns

    assert run_async(scenario())


@pytest.mark.parametrize(
    ("pod_name", "prefix"),
    [("recon-ecs-gitops-reconciler-0", "recon-ecs-gitops-reconciler"), ("shard-12", "shard")],
    ids=["first pod", "two-digit ordinal"],
)
def test_the_lease_prefix_is_the_statefulset_name(pod_name: str, prefix: str) -> None:
    assert lease_prefix_from_pod_name(pod_name) == prefix


def test_each_process_holds_leases_under_its_own_identity() -> None:
    first, second = holder_identity("recon-0"), holder_identity("recon-0")

    assert first.startswith("recon-0_")
    assert first != second


def test_without_an_api_server_more_than_one_shard_is_refused() -> None:
    with pytest.raises(UsageError, match="RECONCILER_KUBE_API"):
        choose_ownership(0, 2, clock=FakeClock(), environ={})


def test_without_an_api_server_one_shard_owns_everything() -> None:
    assert isinstance(choose_ownership(0, 1, clock=FakeClock(), environ={}), SoleOwnership)


def test_a_pod_holds_the_lease_named_after_its_statefulset(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("pod-token\n")

    async def scenario() -> tuple[str | None, frozenset[str]]:
        async with FakeKube(namespace="gitops", tokens=("pod-token",)) as kube:
            clock = FakeClock()
            environ = {
                "RECONCILER_KUBE_API": kube.endpoint,
                "RECONCILER_KUBE_TOKEN_FILE": str(tmp_path / "token"),
                "POD_NAMESPACE": "gitops",
                "POD_NAME": "prod-ecs-gitops-reconciler-1",
            }
            ownership = choose_ownership(1, 2, clock=clock, environ=environ, timing=TIMING)
            await ownership.start()
            for _ in range(int(SETTLE)):
                await clock.until_asleep(1)
                clock.advance(1)
            holder = kube.holder_of("prod-ecs-gitops-reconciler-shard-1")
            owned = ownership.owned(UNITS)
            await ownership.stop()
        return holder, owned

    holder, owned = run_async(scenario())
    assert (holder or "").startswith("prod-ecs-gitops-reconciler-1_")
    assert owned == {u for u in UNITS if owner_of(u, 2) == 1}
