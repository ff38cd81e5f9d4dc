"""Rendezvous hashing: every replica computes the same owner, and few units move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from reconciler.errors import UsageError
from reconciler.loop.sharding import owner_among, owner_of

UNITS = [f"team-{n % 13}/service-{n}" for n in range(6000)]

# Pinned: a change here moves units between running replicas on upgrade.
PINNED = {
    "web/api": [0, 0, 0, 3, 3],
    "web/frontend": [0, 0, 0, 0, 0],
    "billing/worker": [0, 1, 2, 2, 2],
    "search/indexer": [0, 1, 1, 3, 3],
    "ops/cron": [0, 1, 1, 1, 4],
}


@pytest.mark.parametrize("unit_id", sorted(PINNED), ids=sorted(PINNED))
def test_a_unit_goes_to_the_same_shard_in_every_release(unit_id: str) -> None:
    assert [owner_of(unit_id, n) for n in (1, 2, 3, 4, 5)] == PINNED[unit_id]


def test_processes_with_different_hash_seeds_agree_on_every_owner() -> None:
    script = (
        "import json, sys\n"
        "from reconciler.loop.sharding import owner_of\n"
        "units = json.load(sys.stdin)\n"
        "print(json.dumps([owner_of(u, 5) for u in units]))\n"
    )
    units = UNITS[:500]
    answers = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(units),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.getcwd()},
        )
        answers.append(json.loads(done.stdout))

    assert answers[0] == answers[1] == [owner_of(u, 5) for u in units]


@pytest.mark.parametrize("shard_count", [2, 3, 5, 8], ids=lambda n: f"{n} shards")
def test_units_spread_evenly_over_the_shards(shard_count: int) -> None:
    counts = Counter(owner_of(unit, shard_count) for unit in UNITS)

    fair = len(UNITS) / shard_count
    assert set(counts) == set(range(shard_count))
    assert all(abs(count - fair) < 0.1 * fair for count in counts.values()), counts


@pytest.mark.parametrize(
    ("before", "after"),
    [(2, 3), (3, 2), (3, 4), (5, 4), (1, 2), (7, 8)],
    ids=lambda n: str(n),
)
def test_changing_the_shard_count_moves_about_one_unit_in_n(before: int, after: int) -> None:
    moved = [u for u in UNITS if owner_of(u, before) != owner_of(u, after)]

    expected = len(UNITS) / max(before, after)
    assert abs(len(moved) - expected) < 0.15 * expected
    # Only units of the shard that appeared or went away move.
    changed_shard = max(before, after) - 1
    assert all(changed_shard in (owner_of(u, before), owner_of(u, after)) for u in moved)


def test_a_unit_goes_to_the_highest_weight_shard_among_those_given() -> None:
    # Among every shard, with a gap: what an old replica sees while shard 2 is up.
    for unit in UNITS[:200]:
        assert owner_among(unit, {0, 1, 2}) == owner_of(unit, 3)
        assert owner_among(unit, [owner_of(unit, 4)]) == owner_of(unit, 4)


@pytest.mark.parametrize("shard_count", [0, -1], ids=["zero", "negative"])
def test_a_shard_count_below_one_is_refused(shard_count: int) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        owner_of("web/api", shard_count)
