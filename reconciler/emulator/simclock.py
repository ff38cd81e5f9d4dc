"""Simulated time for the emulator.

Everything that progresses (tasks starting, deployments completing, bake times)
reads this clock, never the wall clock. Tests advance it with ``tick``; the demo
and the benchmarks let a background thread advance it at a fixed speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# One step of the state machines: a tick of ten minutes is 600 steps, so every
# intermediate state (tasks pending, half drained) is visited as on AWS.
STEP_SECONDS = 1.0


class SimClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time() if start is None else start))
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class Ticker:
    """Moves a clock in steps, letting the emulator's state machines act at each."""

    def __init__(self, clock: SimClock, on_step: Callable[[], None]) -> None:
        self.clock = clock
        self._on_step = on_step
        self._lock = threading.Lock()
        self._auto: threading.Thread | None = None
        self._stop = threading.Event()

    def tick(self, seconds: float) -> None:
        """Advance by ``seconds`` of simulated time, one step at a time."""
        with self._lock:
            remaining = max(0.0, seconds)
            while remaining > 1e-9:
                step = min(STEP_SECONDS, remaining)
                self.clock.advance(step)
                self._on_step()
                remaining -= step

    def steps(self, count: int) -> None:
        self.tick(count * STEP_SECONDS)

    def run_automatically(self, speed: float, interval: float = 0.1) -> None:
        """Advance ``speed`` simulated seconds per wall second, until stopped."""
        self.stop_automatic()
        self._stop.clear()

        def loop() -> None:
            last = time.monotonic()
            while not self._stop.wait(interval):
                current = time.monotonic()
                self.tick((current - last) * speed)
                last = current

        self._auto = threading.Thread(target=loop, name="emulator-clock", daemon=True)
        self._auto.start()

    def stop_automatic(self) -> None:
        if self._auto is not None:
            self._stop.set()
            self._auto.join()
            self._auto = None
