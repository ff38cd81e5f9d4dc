"""Injected faults and call counts, per AWS operation.

Operations are named as IAM names them, ``service:Operation`` (for example
``ecs:DescribeServices``). A rule applies to the operations it lists, or to all.
Each call that reaches the emulator is counted, then delayed, held, throttled or
failed as the matching rule says. A held call waits until released, so a test can
kill the caller in the middle of a call and watch what the call did anyway.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["pass", "throttle", "error"]


@dataclass(frozen=True, slots=True)
class FaultRule:
    operations: frozenset[str] | None  # None: every operation
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: float = 0.0
    hold: bool = False

    def matches(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations

    @classmethod
    def from_request(cls, body: dict[str, Any]) -> FaultRule:
        operations = body.get("operations", "all")
        if operations == "all":
            selected = None
        elif isinstance(operations, list) and all(isinstance(o, str) for o in operations):
            selected = frozenset(operations)
        else:
            raise ValueError('"operations" must be "all" or a list of "service:Operation" names')
        rule = cls(
            operations=selected,
            throttle_rate=float(body.get("throttle_rate", 0.0)),
            error_rate=float(body.get("error_rate", 0.0)),
            latency_ms=float(body.get("latency_ms", 0.0)),
            hold=bool(body.get("hold", False)),
        )
        for name in ("throttle_rate", "error_rate"):
            if not 0.0 <= getattr(rule, name) <= 1.0:
                raise ValueError(f'"{name}" must be between 0 and 1')
        if rule.latency_ms < 0:
            raise ValueError('"latency_ms" must not be negative')
        return rule

    def describe(self) -> dict[str, Any]:
        return {
            "operations": "all" if self.operations is None else sorted(self.operations),
            "throttle_rate": self.throttle_rate,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "hold": self.hold,
        }


class Faults:
    """The rules in force, the calls held, and the count of every call."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Condition()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._held = 0
        self._release_generation = 0
        self.calls: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()

    def add(self, rule: FaultRule) -> None:
        """Add a rule; it replaces earlier rules for the same operations."""
        with self._lock:
            self._rules = [r for r in self._rules if r.operations != rule.operations]
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self._release_generation += 1
            self._lock.notify_all()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def release(self) -> int:
        """Let every held call go on, and stop holding new ones. Returns how many."""
        with self._lock:
            released = self._held
            self._rules = [
                FaultRule(r.operations, r.throttle_rate, r.error_rate, r.latency_ms, hold=False)
                for r in self._rules
            ]
            self._release_generation += 1
            self._lock.notify_all()
            return released

    def reset_stats(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faulted.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "faulted": dict(sorted(self.faulted.items())),
                "held": self._held,
            }

    def on_call(self, operation: str) -> Verdict:
        """Count a call, apply latency and holds, and say whether it fails."""
        with self._lock:
            self.calls[operation] += 1
            rules = [r for r in self._rules if r.matches(operation)]
            latency = max((r.latency_ms for r in rules), default=0.0)
            hold = any(r.hold for r in rules)
            roll = self._rng.random()
            throttle = max((r.throttle_rate for r in rules), default=0.0)
            error = max((r.error_rate for r in rules), default=0.0)
        if latency:
            time.sleep(latency / 1000.0)
        if hold:
            self._wait_for_release()
        if roll < throttle:
            verdict: Verdict = "throttle"
        elif roll < throttle + error:
            verdict = "error"
        else:
            return "pass"
        with self._lock:
            self.faulted[operation] += 1
        return verdict

    def _wait_for_release(self) -> None:
        with self._lock:
            generation = self._release_generation
            self._held += 1
            try:
                while self._release_generation == generation:
                    self._lock.wait()
            finally:
                self._held -= 1
