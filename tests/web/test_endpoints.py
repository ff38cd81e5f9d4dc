"""The web server's endpoints, on a real loopback server, read as a client would."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest

from reconciler.model import SyncState
from reconciler.report.metrics import ReconcilerMetrics
from reconciler.web import create_app, serve
from reconciler.web.page import NONE_SHOWN, ROLLOUT_FIELDS
from tests.conftest import run_async
from tests.web.statuses import AT, HOSTILE, REVISION, FakeStatusSource, sample_snapshot


async def _get(port: int, path: str) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, dict(response.headers), await response.text()


def fetch(
    source: FakeStatusSource, *paths: str, **options: Any
) -> list[tuple[int, dict[str, str], str]]:
    """Serve ``source`` on a free loopback port, GET each path, stop the server."""

    async def scenario() -> list[tuple[int, dict[str, str], str]]:
        async with serve(create_app(source, **options)) as port:
            return [await _get(port, path) for path in paths]

    return run_async(scenario())


def test_serve_listens_on_loopback_by_default_and_frees_the_port_when_done() -> None:
    async def scenario() -> tuple[int, int]:
        async with serve(create_app(FakeStatusSource())) as port:
            status, _, body = await _get(port, "/healthz")
            assert (status, body) == (200, "ok\n")
        return port, status

    port, _ = run_async(scenario())

    # Stopped means nothing listens there any more: connecting is refused.
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_serve_binds_the_port_it_is_given() -> None:
    with socket.socket() as finder:
        finder.bind(("127.0.0.1", 0))
        wanted = finder.getsockname()[1]

    async def scenario() -> int:
        async with serve(create_app(FakeStatusSource()), "127.0.0.1", wanted) as port:
            return port

    assert run_async(scenario()) == wanted


@pytest.mark.parametrize(
    ("ready", "status"),
    [pytest.param(False, 503, id="before-first-cycle"), pytest.param(True, 200, id="after")],
)
def test_readyz_follows_the_source_while_healthz_is_always_ok(ready: bool, status: int) -> None:
    source = FakeStatusSource(ready=ready)

    (readyz, _, _), (healthz, _, _) = fetch(source, "/readyz", "/healthz")

    assert readyz == status
    assert healthz == 200


def test_api_status_returns_every_unit_with_every_field() -> None:
    ((status, headers, body),) = fetch(FakeStatusSource(), "/api/status")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    document = json.loads(body)
    assert document["revision"] == REVISION
    assert document["taken_at"] == "2026-12-03T19:20:00Z"
    assert document["ready"] is True
    assert [u["unit"] for u in document["units"]] == ["web", "api", "worker", "billing", HOSTILE]
    web = document["units"][0]
    assert web == {
        "unit": "web",
        "cluster": "prod",
        "service": "web",
        "sync": "in_sync",
        "live_revision": REVISION,
        "applied_revision": REVISION,
        "drift": [],
        "last_rollout": {
            "revision": REVISION,
            "result": "succeeded",
            "reason": None,
            "task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
            "deployment_id": "ecs-svc/1234567890123456789",
            "at": "2026-12-03T19:20:00Z",
        },
        "events": [
            {"at": "2026-12-03T19:20:00Z", "message": "rollout started"},
            {"at": "2026-12-03T19:20:00Z", "message": "rollout succeeded"},
        ],
    }
    assert document["units"][1]["drift"] == ["containerDefinitions[app].image", "desiredCount"]
    assert document["units"][2]["last_rollout"] is None


def test_metrics_serves_the_exposition_format_with_units_from_the_source() -> None:
    metrics = ReconcilerMetrics()
    metrics.record_rollout("failed")
    source = FakeStatusSource()

    ((status, headers, body),) = fetch(source, "/metrics", metrics=metrics)

    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'reconciler_units{state="in_sync"} 1\n' in body
    assert "reconciler_drifted_units 1\n" in body
    assert 'reconciler_rollouts_total{result="failed"} 1\n' in body


_VOID_ELEMENTS = frozenset({"meta", "link", "br", "img", "input", "hr"})


class _PageReader(HTMLParser):
    """The page's text per ``data-field``, per unit row, as a person would read it."""

    def __init__(self) -> None:
        super().__init__()
        self.units: list[dict[str, Any]] = []
        self.header: dict[str, str] = {}
        self.scripts: list[str] = []
        self._stack: list[tuple[str, dict[str, str | None]]] = []
        self._texts: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_ELEMENTS:
            return
        attributes = dict(attrs)
        if tag == "tr" and "data-unit" in attributes:
            self.units.append({"data-unit": attributes["data-unit"], "fields": {}, "events": []})
        self._stack.append((tag, attributes))
        self._texts.append([])

    def handle_endtag(self, tag: str) -> None:
        opened, attributes = self._stack.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"
        text = "".join(self._texts.pop())
        if self._texts:
            self._texts[-1].append(text)
        field = attributes.get("data-field")
        if tag == "script":
            self.scripts.append(text)
        elif attributes.get("id") in ("revision", "taken-at"):
            self.header[str(attributes["id"])] = text
        elif field and self.units and tag != "td":
            row = self.units[-1]
            if field in ("at", "message"):
                if field == "at":
                    row["events"].append({})
                row["events"][-1][field] = text
            else:
                row["fields"][field] = text
        elif tag == "td" and field in ("drift", "last_rollout", "events"):
            self.units[-1]["fields"].setdefault(field + ".cell", text)

    def handle_data(self, data: str) -> None:
        if self._texts:
            self._texts[-1].append(data)


def read_page(html_text: str) -> _PageReader:
    reader = _PageReader()
    reader.feed(html_text)
    reader.close()
    return reader


def shown(value: Any) -> str:
    return NONE_SHOWN if value is None else str(value)


def expected_fields(unit: dict[str, Any]) -> dict[str, str]:
    """What the page must show for one unit of ``/api/status``."""
    fields = {
        name: shown(unit[name])
        for name in ("unit", "cluster", "service", "sync", "live_revision", "applied_revision")
    }
    if unit["last_rollout"] is not None:
        for key, _ in ROLLOUT_FIELDS:
            fields[f"last_rollout.{key}"] = shown(unit["last_rollout"][key])
    return fields


def test_the_page_without_javascript_shows_what_api_status_says() -> None:
    source = FakeStatusSource()

    (page_status, headers, page), (_, _, api) = fetch(source, "/", "/api/status")

    assert page_status == 200
    assert headers["Content-Type"].startswith("text/html")
    status = json.loads(api)
    reader = read_page(page)
    assert reader.header == {"revision": status["revision"], "taken-at": status["taken_at"]}
    assert [row["data-unit"] for row in reader.units] == [u["unit"] for u in status["units"]]
    for row, unit in zip(reader.units, status["units"], strict=True):
        fields = row["fields"]
        assert {k: v for k, v in fields.items() if not k.endswith(".cell")} == expected_fields(unit)
        assert row["events"] == unit["events"]
        assert fields["drift.cell"] == ("".join(unit["drift"]) or NONE_SHOWN)
        if unit["last_rollout"] is None:
            assert fields["last_rollout.cell"] == NONE_SHOWN


def test_the_page_escapes_hostile_text_instead_of_running_it() -> None:
    ((_, headers, page),) = fetch(FakeStatusSource(), "/")

    assert "window.pwned" not in "".join(read_page(page).scripts)
    assert "<script>window.pwned" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


def test_the_page_links_to_no_other_origin() -> None:
    ((_, _, page),) = fetch(FakeStatusSource(), "/")

    assert re.findall(r'(?:src|href|action)="([^"]*)"', page) == ["data:,"]
    assert "http://" not in page
    assert "https://" not in page


def test_an_empty_snapshot_reads_as_no_units_yet() -> None:
    source = FakeStatusSource(replace(sample_snapshot(), units=(), revision=None), ready=False)

    (_, _, page), (_, _, api) = fetch(source, "/", "/api/status")

    assert "No units yet." in page
    assert json.loads(api) == {
        "taken_at": "2026-12-03T19:20:00Z",
        "revision": None,
        "ready": False,
        "units": [],
    }
    assert read_page(page).header["revision"] == NONE_SHOWN


def test_a_naive_time_is_shown_as_utc() -> None:
    naive = AT.replace(tzinfo=None)
    source = FakeStatusSource(replace(sample_snapshot(), taken_at=naive))

    ((_, _, api),) = fetch(source, "/api/status")

    assert json.loads(api)["taken_at"] == "2026-12-03T19:20:00Z"


def test_the_page_counts_units_by_sync_state() -> None:
    ((_, _, page),) = fetch(FakeStatusSource(), "/")

    for state in SyncState:
        assert f'<span id="count-{state.value}">1</span>' in page


def test_only_reads_are_served() -> None:
    async def scenario() -> int:
        async with (
            serve(create_app(FakeStatusSource())) as port,
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/api/status", data=b"{}") as response,
        ):
            return response.status

    assert run_async(scenario()) == 405


def test_a_refresh_interval_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="refresh_seconds"):
        create_app(FakeStatusSource(), refresh_seconds=0)
