"""Prometheus metrics: a small registry of our own, and the reconciler's metrics.

The registry speaks the text exposition format 0.0.4: a ``# HELP`` and a
``# TYPE`` line per metric, then one sample per line, label values escaped
(backslash, double quote, newline). Counters, gauges and histograms carry
labels; a histogram's buckets are cumulative and end with ``le="+Inf"``.

It is ours rather than prometheus_client's because we need a few dozen lines of
it, and the reconciler's dependencies are kept to what it cannot do without.
"""

from __future__ import annotations

import abc
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import ClassVar, Protocol, TypeVar

from reconciler.model import StatusSnapshot, SyncState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LabelKey = tuple[str, ...]


def format_value(value: float) -> str:
    """A sample value as Prometheus reads it: ``+Inf``, ``NaN``, ``3``, ``0.25``."""
    value = float(value)  # callers pass ints too (counts, gauges set from len())
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)
    return "{" + inner + "}"


class Metric(abc.ABC):
    """One named metric with a fixed set of label names."""

    kind: ClassVar[str]

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"metric name {name!r} is not a valid Prometheus name")
        for label in labels:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"label name {label!r} of metric {name} is not allowed")
        if len(set(labels)) != len(labels):
            raise ValueError(f"metric {name} names a label twice: {list(labels)}")
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        # The loop is single-threaded, but AWS calls are counted from worker threads.
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelKey:
        if set(labels) != set(self.label_names):
            raise ValueError(
                f"metric {self.name} takes labels {list(self.label_names)}, got {sorted(labels)}"
            )
        return tuple(str(labels[name]) for name in self.label_names)

    def _pairs(self, key: LabelKey) -> list[tuple[str, str]]:
        return list(zip(self.label_names, key, strict=True))

    @abc.abstractmethod
    def samples(self) -> Iterator[str]:
        """The metric's sample lines, without its HELP and TYPE lines."""

    def expose(self) -> Iterator[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        yield from self.samples()


class _ValueMetric(Metric):
    """A metric with one number per label combination (counter and gauge)."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelKey, float] = {}
        if not self.label_names:
            # An unlabelled metric is exposed as 0 before anything happens to it.
            self._values[()] = 0.0

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterator[str]:
        with self._lock:
            values = sorted(self._values.items())
        for key, value in values:
            yield f"{self.name}{_format_labels(self._pairs(key))} {format_value(value)}"


class Counter(_ValueMetric):
    """A count that only goes up."""

    kind = "counter"

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot go down (inc by {amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def advance_to(self, total: float, /, **labels: str) -> None:
        """Mirror a count kept elsewhere; a smaller total than ours is ignored."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = max(self._values.get(key, 0.0), total)


class Gauge(_ValueMetric):
    """A number that goes up and down."""

    kind = "gauge"

    def set(self, value: float, /, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Histogram(Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"histogram {name} needs distinct finite buckets, got {buckets}")
        self.buckets = (*bounds, math.inf)
        # Per label combination: the count in each bucket (not cumulative), and the sum.
        self._counts: dict[LabelKey, list[int]] = {}
        self._sums: dict[LabelKey, float] = {}
        if not self.label_names:
            self._counts[()] = [0] * len(self.buckets)
            self._sums[()] = 0.0

    def observe(self, value: float, /, **labels: str) -> None:
        key = self._key(labels)
        index = next(i for i, bound in enumerate(self.buckets) if value <= bound)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * len(self.buckets))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    @contextmanager
    def time(self, **labels: str) -> Iterator[None]:
        """Observe how long the ``with`` block took, even when it raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started, **labels)

    def count(self, **labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(self._key(labels), ()))

    def samples(self) -> Iterator[str]:
        with self._lock:
            series = sorted(
                (key, list(counts), self._sums[key]) for key, counts in self._counts.items()
            )
        for key, counts, total in series:
            pairs = self._pairs(key)
            cumulative = 0
            for bound, count in zip(self.buckets, counts, strict=True):
                cumulative += count
                labels = _format_labels([*pairs, ("le", format_value(bound))])
                yield f"{self.name}_bucket{labels} {cumulative}"
            yield f"{self.name}_sum{_format_labels(pairs)} {format_value(total)}"
            yield f"{self.name}_count{_format_labels(pairs)} {cumulative}"


_M = TypeVar("_M", bound=Metric)


class Registry:
    """The metrics of one process, exposed together."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._hooks: list[Callable[[], None]] = []

    def _add(self, metric: _M) -> _M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help, labels))

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        return self._add(Histogram(name, help, labels, buckets))

    def before_expose(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` before each exposition, to copy counts kept elsewhere."""
        self._hooks.append(hook)

    def expose(self) -> str:
        for hook in self._hooks:
            hook()
        lines = [line for metric in self._metrics.values() for line in metric.expose()]
        return "\n".join(lines) + "\n"


class CountsAwsCalls(Protocol):
    """What :class:`reconciler.aws.Aws` counts, per ``service:Operation``."""

    @property
    def calls(self) -> Mapping[str, int]: ...

    @property
    def throttles(self) -> Mapping[str, int]: ...


RECONCILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
GIT_FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ReconcilerMetrics:
    """The reconciler's own metrics, in one registry served at ``/metrics``."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        r = self.registry
        self.units = r.gauge("reconciler_units", "Units by sync state.", ["state"])
        self.drifted_units = r.gauge(
            "reconciler_drifted_units", "Units whose live state someone changed outside git."
        )
        self.rollouts = r.counter(
            "reconciler_rollouts_total", "Rollouts started, by how they ended.", ["result"]
        )
        self.reconcile_duration = r.histogram(
            "reconciler_reconcile_duration_seconds",
            "Time to reconcile one revision or drift check, all units.",
            buckets=RECONCILE_BUCKETS,
        )
        self.git_fetch_duration = r.histogram(
            "reconciler_git_fetch_duration_seconds",
            "Time to fetch the watched branch.",
            buckets=GIT_FETCH_BUCKETS,
        )
        self.git_fetch_errors = r.counter(
            "reconciler_git_fetch_errors_total", "Fetches of the watched branch that failed."
        )
        self.aws_calls = r.counter(
            "reconciler_aws_calls_total",
            "AWS API calls made, retries included.",
            ["service", "operation"],
        )
        self.aws_throttles = r.counter(
            "reconciler_aws_throttles_total",
            "AWS API calls refused with a throttling error.",
            ["service", "operation"],
        )
        self.status_posts = r.counter(
            "reconciler_status_posts_total",
            "Commit statuses posted, by provider and state.",
            ["provider", "state"],
        )
        self.status_post_failures = r.counter(
            "reconciler_status_post_failures_total",
            "Commit statuses that could not be posted after retries.",
            ["provider"],
        )

    def expose(self) -> str:
        return self.registry.expose()

    def record_snapshot(self, snapshot: StatusSnapshot) -> None:
        """Set the unit gauges from what the loop last saw."""
        # Every state gets a sample, so a state that empties reads 0, not stale.
        for state in SyncState:
            count = sum(1 for unit in snapshot.units if unit.sync is state)
            self.units.set(count, state=state.value)
        self.drifted_units.set(sum(1 for unit in snapshot.units if unit.drift))

    def record_rollout(self, result: str) -> None:
        self.rollouts.inc(result=result)

    def record_git_fetch(self, seconds: float, *, failed: bool = False) -> None:
        self.git_fetch_duration.observe(seconds)
        if failed:
            self.git_fetch_errors.inc()

    def record_status_post(self, provider: str, state: str, *, failed: bool = False) -> None:
        if failed:
            self.status_post_failures.inc(provider=provider)
        else:
            self.status_posts.inc(provider=provider, state=state)

    def follow_aws(self, aws: CountsAwsCalls) -> None:
        """Expose ``aws``'s call and throttle counts with every scrape."""

        def copy_counts() -> None:
            for counts, counter in (
                (aws.calls, self.aws_calls),
                (aws.throttles, self.aws_throttles),
            ):
                # dict() first: worker threads may add a key while we read.
                for name, total in dict(counts).items():
                    service, _, operation = name.partition(":")
                    counter.advance_to(total, service=service, operation=operation)

        self.registry.before_expose(copy_counts)
