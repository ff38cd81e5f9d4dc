"""Pacing: each ECS write operation waits only for calls of its own kind."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.aws.pacing import Pacer, Rate
from tests.conftest import run_async

SLOW = Rate(per_second=2.0, burst=1)


def waits(rates: dict[tuple[str, str], Rate], calls: list[tuple[str, str]]) -> list[float]:
    """How long each call waited for its token, on a clock that moves only when waited on."""
    now = [0.0]
    pacer = Pacer(rates, now=lambda: now[0])
    real_sleep = asyncio.sleep

    async def take_all() -> list[float]:
        async def fake_sleep(delay: float) -> None:
            now[0] += delay
            await real_sleep(0)

        asyncio.sleep = fake_sleep  # type: ignore[assignment]
        try:
            return [await pacer.take(service, operation) for service, operation in calls]
        finally:
            asyncio.sleep = real_sleep  # type: ignore[assignment]

    return run_async(take_all())


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param(
            [("ecs", "RegisterTaskDefinition"), ("ecs", "UpdateService"), ("ecs", "TagResource")],
            [0.0, 0.0, 0.0],
            id="different-writes-do-not-wait-for-each-other",
        ),
        pytest.param(
            [("ecs", "UpdateService"), ("ecs", "UpdateService")],
            [0.0, 0.5],
            id="the-same-write-waits-for-its-rate",
        ),
        pytest.param(
            [("ecs", "DescribeServices"), ("ecs", "DescribeTaskDefinition")],
            [0.0, 0.5],
            id="reads-share-one-bucket",
        ),
    ],
)
def test_writes_are_paced_per_operation_and_reads_per_service(
    calls: list[tuple[str, str]], expected: list[float]
) -> None:
    assert waits({("ecs", "read"): SLOW, ("ecs", "write"): SLOW}, calls) == pytest.approx(expected)
