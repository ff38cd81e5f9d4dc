"""Where the reconciler takes its time from.

Every timeout and interval goes through a :class:`Clock`, so that tests run the
reconciler on the emulator's simulated time: waiting ten minutes for a bake time
becomes one call that advances the emulator's clock, and costs no wall time.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Protocol


class Clock(Protocol):
    """Seconds since some fixed point, and a way to let them pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time: what the reconciler uses against real AWS."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class EmulatorClock:
    """The embedded emulator's simulated time.

    ``sleep`` advances the emulator's clock instead of waiting, so rollouts
    progress exactly as far as the reconciler waits for them.
    """

    def __init__(self, endpoint: str) -> None:
        self._control = endpoint.rstrip("/") + "/_emulator"

    def now(self) -> float:
        with urllib.request.urlopen(self._control + "/clock", timeout=10) as response:
            return float(json.load(response)["now"])

    async def sleep(self, seconds: float) -> None:
        await asyncio.to_thread(self._tick, max(0.0, seconds))

    def _tick(self, seconds: float) -> None:
        body = json.dumps({"seconds": seconds}).encode()
        request = urllib.request.Request(
            self._control + "/tick",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass
