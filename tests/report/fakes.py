"""Test doubles shared by the report and contract tests."""

from __future__ import annotations

import asyncio


class FakeClock:
    """A clock whose sleeps pass at once and are written down."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


# Epoch seconds the providers are told it is, for HTTP dates and reset headers.
WALL_NOW = 1_800_000_000.0


def fixed_wall_time() -> float:
    return WALL_NOW


def half() -> float:
    """A fixed "random" draw, so jittered waits are known exactly."""
    return 0.5
