"""``/metrics`` text as Prometheus reads it: HELP/TYPE, escaping, cumulative buckets."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from reconciler.model import SyncState
from reconciler.report.metrics import ReconcilerMetrics, Registry, format_value
from tests.web.statuses import sample_snapshot

# name{labels} value, where label values may hold escaped quotes, backslashes, newlines.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_exposition(
    text: str,
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """Metadata per metric (help, type) and every sample, read back from the text."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    meta: dict[str, list[str]] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            meta.setdefault(name, ["", ""])[0] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            meta.setdefault(name, ["", ""])[1] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            labels_text = match.group(2) or ""
            labels = {m.group(1): _unescape(m.group(2)) for m in _LABEL.finditer(labels_text)}
            assert "".join(m.group(0) for m in _LABEL.finditer(labels_text)) == labels_text
            samples.append((match.group(1), labels, float(match.group(3))))
    return {name: (h, t) for name, (h, t) in meta.items()}, samples


def value_of(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    found = [v for n, ls, v in samples if n == name and ls == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('say "hi"', id="double-quote"),
        pytest.param("back\\slash", id="backslash"),
        pytest.param("two\nlines", id="newline"),
        pytest.param('all \\ " \n at once', id="everything"),
        pytest.param("ünïcode ✓", id="unicode"),
    ],
)
def test_label_values_are_escaped_and_read_back_unchanged(value: str) -> None:
    registry = Registry()
    counter = registry.counter("posts_total", "Posts.", ["provider"])
    counter.inc(provider=value)

    text = registry.expose()

    assert len(text.splitlines()) == 3, "an escaped newline must not split the sample line"
    _, samples = parse_exposition(text)
    assert value_of(samples, "posts_total", provider=value) == 1


def test_every_metric_has_help_and_type_lines_before_its_samples() -> None:
    metrics = ReconcilerMetrics()
    metrics.record_snapshot(sample_snapshot())
    metrics.record_rollout("succeeded")

    text = metrics.expose()

    meta, samples = parse_exposition(text)
    kinds = {name: kind for name, (_, kind) in meta.items()}
    assert kinds["reconciler_units"] == "gauge"
    assert kinds["reconciler_rollouts_total"] == "counter"
    assert kinds["reconciler_reconcile_duration_seconds"] == "histogram"
    assert all(help_text for help_text, _ in meta.values())
    for name, _, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in meta else name
        assert family in meta, f"sample {name} has no HELP/TYPE"
        assert text.index(f"# TYPE {family} ") < text.index(f"\n{name}")


def test_help_text_escapes_backslash_and_newline() -> None:
    registry = Registry()
    registry.gauge("g", "first line\nsecond \\ line")

    text = registry.expose()

    assert "# HELP g first line\\nsecond \\\\ line\n" in text
    meta, _ = parse_exposition(text)
    assert meta["g"] == ("first line\nsecond \\ line", "gauge")


def test_histogram_buckets_are_cumulative_and_end_at_inf_with_the_count() -> None:
    registry = Registry()
    histogram = registry.histogram("d_seconds", "Durations.", ["stage"], buckets=[1, 5, 0.5])
    for seconds in (0.1, 0.5, 0.7, 3, 3, 60):
        histogram.observe(seconds, stage="fetch")

    _, samples = parse_exposition(registry.expose())

    buckets = {ls["le"]: v for n, ls, v in samples if n == "d_seconds_bucket"}
    assert buckets == {"0.5": 2, "1": 3, "5": 5, "+Inf": 6}
    assert value_of(samples, "d_seconds_count", stage="fetch") == 6
    assert value_of(samples, "d_seconds_sum", stage="fetch") == pytest.approx(67.3)
    bounds = [n for n, _, _ in samples if n == "d_seconds_bucket"]
    assert len(bounds) == 4


def test_histogram_times_a_block_even_when_it_raises() -> None:
    registry = Registry()
    histogram = registry.histogram("t_seconds", "Time.")

    with pytest.raises(RuntimeError), histogram.time():
        raise RuntimeError("fetch failed")

    assert histogram.count() == 1


def test_units_by_state_counts_every_state_and_reads_zero_when_a_state_empties() -> None:
    metrics = ReconcilerMetrics()
    snapshot = sample_snapshot()
    metrics.record_snapshot(snapshot)
    _, samples = parse_exposition(metrics.expose())
    assert {s.value: value_of(samples, "reconciler_units", state=s.value) for s in SyncState} == {
        "in_sync": 1,
        "changed": 1,
        "missing": 1,
        "error": 1,
        "suspended": 1,
    }
    assert value_of(samples, "reconciler_drifted_units") == 1

    all_in_sync = tuple(replace(u, sync=SyncState.IN_SYNC, drift=()) for u in snapshot.units)
    metrics.record_snapshot(replace(snapshot, units=all_in_sync))

    _, samples = parse_exposition(metrics.expose())
    assert value_of(samples, "reconciler_units", state="in_sync") == 5
    assert value_of(samples, "reconciler_units", state="changed") == 0
    assert value_of(samples, "reconciler_drifted_units") == 0


class _CountingAws:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.throttles: dict[str, int] = {}


def test_aws_calls_and_throttles_follow_the_aws_layer_counters_at_each_scrape() -> None:
    aws = _CountingAws()
    metrics = ReconcilerMetrics()
    metrics.follow_aws(aws)
    aws.calls["ecs:DescribeServices"] = 3
    aws.throttles["ecs:DescribeServices"] = 1

    _, samples = parse_exposition(metrics.expose())
    assert (
        value_of(samples, "reconciler_aws_calls_total", service="ecs", operation="DescribeServices")
        == 3
    )
    assert (
        value_of(
            samples, "reconciler_aws_throttles_total", service="ecs", operation="DescribeServices"
        )
        == 1
    )

    aws.calls["ecs:DescribeServices"] = 7
    aws.calls["ssm:GetParameters"] = 2
    _, samples = parse_exposition(metrics.expose())
    assert (
        value_of(samples, "reconciler_aws_calls_total", service="ecs", operation="DescribeServices")
        == 7
    )
    assert (
        value_of(samples, "reconciler_aws_calls_total", service="ssm", operation="GetParameters")
        == 2
    )


def test_rollouts_fetches_and_status_posts_are_counted_by_their_labels() -> None:
    metrics = ReconcilerMetrics()
    metrics.record_rollout("succeeded")
    metrics.record_rollout("succeeded")
    metrics.record_rollout("rolled_back")
    metrics.record_git_fetch(0.2)
    metrics.record_git_fetch(12.0, failed=True)
    metrics.record_status_post("github", "success")
    metrics.record_status_post("github", "failure", failed=True)
    with metrics.reconcile_duration.time():
        pass

    _, samples = parse_exposition(metrics.expose())

    assert value_of(samples, "reconciler_rollouts_total", result="succeeded") == 2
    assert value_of(samples, "reconciler_rollouts_total", result="rolled_back") == 1
    assert value_of(samples, "reconciler_git_fetch_errors_total") == 1
    assert value_of(samples, "reconciler_git_fetch_duration_seconds_count") == 2
    assert value_of(samples, "reconciler_git_fetch_duration_seconds_bucket", le="0.25") == 1
    assert (
        value_of(samples, "reconciler_status_posts_total", provider="github", state="success") == 1
    )
    assert value_of(samples, "reconciler_status_post_failures_total", provider="github") == 1
    assert value_of(samples, "reconciler_reconcile_duration_seconds_count") == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda r: r.counter("bad name", "x"), "not a valid", id="metric-name"),
        pytest.param(lambda r: r.counter("c", "x", ["le"]), "not allowed", id="label-le"),
        pytest.param(lambda r: r.counter("c", "x", ["__x"]), "not allowed", id="label-reserved"),
        pytest.param(lambda r: r.histogram("h", "x", buckets=[]), "buckets", id="no-buckets"),
    ],
)
def test_invalid_metric_definitions_are_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(Registry())  # type: ignore[operator]


def test_a_counter_refuses_wrong_labels_and_going_down() -> None:
    counter = Registry().counter("c_total", "C.", ["result"])
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(outcome="x")
    with pytest.raises(ValueError, match="cannot go down"):
        counter.inc(-1, result="x")


def test_a_metric_registered_twice_is_refused() -> None:
    registry = Registry()
    registry.gauge("g", "G.")
    with pytest.raises(ValueError, match="registered twice"):
        registry.counter("g", "G again.")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(3.0, "3", id="integer"),
        pytest.param(0.25, "0.25", id="fraction"),
        pytest.param(math.inf, "+Inf", id="inf"),
        pytest.param(-math.inf, "-Inf", id="minus-inf"),
        pytest.param(math.nan, "NaN", id="nan"),
    ],
)
def test_values_are_written_as_prometheus_reads_them(value: float, text: str) -> None:
    assert format_value(value) == text
