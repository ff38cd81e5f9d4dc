"""The status page in Debian's headless Chromium: it shows what ``/api/status`` says.

It also asks no other origin for anything and logs no console error, while
refreshing itself from ``/api/status``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from reconciler.model import RolloutRecord, SyncState, UnitEvent
from reconciler.web import create_app
from reconciler.web.page import NONE_SHOWN, ROLLOUT_FIELDS
from tests.web.browser import ServerThread, requested_urls, require_chromium, start_chromium
from tests.web.statuses import AT, HOSTILE, FakeStatusSource, sample_snapshot

REFRESH_SECONDS = 0.2

# What the page shows, read in one go, the way a person sees it (innerText).
READ_PAGE = """
const text = (el) => el === null ? null : el.innerText;
const rows = Array.from(document.querySelectorAll("#units tr[data-unit]"));
return {
  revision: text(document.getElementById("revision")),
  taken_at: text(document.getElementById("taken-at")),
  counts: Object.fromEntries(Array.from(document.querySelectorAll("[id^=count-]"))
    .map((el) => [el.id.slice(6), el.innerText])),
  units: rows.map((row) => {
    const fields = {};
    row.querySelectorAll("[data-field]").forEach((el) => {
      if (el.tagName !== "TD" && el.closest("li") === null) {
        fields[el.getAttribute("data-field")] = el.innerText;
      }
    });
    const cell = (name) => text(row.querySelector(`td[data-field="${name}"]`));
    return {
      fields: fields,
      drift: Array.from(row.querySelectorAll('td[data-field="drift"] li'))
        .map((li) => li.innerText),
      events: Array.from(row.querySelectorAll('td[data-field="events"] li')).map((li) => ({
        at: text(li.querySelector('[data-field="at"]')),
        message: text(li.querySelector('[data-field="message"]')),
      })),
      cells: {drift: cell("drift"), last_rollout: cell("last_rollout"), events: cell("events")},
    };
  }),
};
"""


def _shown(value: Any) -> str:
    return NONE_SHOWN if value is None else str(value)


def expected_page(status: dict[str, Any]) -> dict[str, Any]:
    """What the page must show for a ``/api/status`` document: every unit, every field."""
    units = []
    for unit in status["units"]:
        fields = {
            name: _shown(unit[name])
            for name in ("unit", "cluster", "service", "sync", "live_revision", "applied_revision")
        }
        rollout = unit["last_rollout"]
        for key, _ in ROLLOUT_FIELDS:
            if rollout is not None:
                fields[f"last_rollout.{key}"] = _shown(rollout[key])
        units.append(
            {
                "fields": fields,
                "drift": unit["drift"],
                "events": unit["events"],
                "cells": {
                    name: NONE_SHOWN
                    for name in ("drift", "last_rollout", "events")
                    if not unit[name]
                },
            }
        )
    counts = {state.value: 0 for state in SyncState}
    for unit in status["units"]:
        counts[unit["sync"]] += 1
    return {
        "revision": _shown(status["revision"]),
        "taken_at": status["taken_at"],
        "counts": {state: str(n) for state, n in counts.items()},
        "units": units,
    }


def shown_page(driver: webdriver.Chrome) -> dict[str, Any]:
    page: dict[str, Any] = driver.execute_script(READ_PAGE)
    # Only empty cells are compared whole (they read as a dash); full ones field by field.
    for unit in page["units"]:
        unit["cells"] = {k: v for k, v in unit["cells"].items() if v == NONE_SHOWN}
    return page


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    require_chromium()
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def source() -> FakeStatusSource:
    return FakeStatusSource()


@pytest.fixture
def server(source: FakeStatusSource, browser: webdriver.Chrome) -> Iterator[ServerThread]:
    thread = ServerThread(create_app(source, refresh_seconds=REFRESH_SECONDS))
    thread.start()
    # Forget what earlier tests logged, so each test reads only its own page's logs.
    browser.get_log("browser")
    browser.get_log("performance")
    try:
        yield thread
    finally:
        # Off the page first, so its refreshes do not meet a closed server.
        browser.get("about:blank")
        thread.stop()


def open_page(browser: webdriver.Chrome, server: ServerThread) -> None:
    browser.get(server.origin + "/")
    # The script has redrawn the table from /api/status at least once.
    WebDriverWait(browser, 15, poll_frequency=0.05).until(
        lambda d: d.find_element(By.ID, "freshness").text == "live"
    )


def test_the_page_shows_every_unit_and_field_that_api_status_returns(
    browser: webdriver.Chrome, server: ServerThread
) -> None:
    open_page(browser, server)

    status = server.get_json("/api/status")
    assert len(status["units"]) == 5
    assert shown_page(browser) == expected_page(status)


def test_the_page_follows_api_status_when_the_loop_moves_on(
    browser: webdriver.Chrome, server: ServerThread, source: FakeStatusSource
) -> None:
    open_page(browser, server)
    web, api, _worker, billing, _hostile = sample_snapshot().units
    moved_on = replace(
        sample_snapshot(),
        revision="b" * 40,
        units=(
            replace(web, drift=("tags",), sync=SyncState.CHANGED),
            replace(
                api,
                sync=SyncState.IN_SYNC,
                drift=(),
                applied_revision="b" * 40,
                last_rollout=RolloutRecord(
                    revision="b" * 40,
                    result="in_progress",
                    at=AT,
                    task_definition="api:9",
                    deployment_id="ecs-svc/42",
                ),
                events=(*api.events, UnitEvent(at=AT, message="drift healed")),
            ),
            billing,
        ),
    )

    source.show(moved_on)
    WebDriverWait(browser, 15, poll_frequency=0.05).until(
        lambda d: d.find_element(By.ID, "revision").text == "b" * 40
    )

    status = server.get_json("/api/status")
    assert [u["unit"] for u in status["units"]] == ["web", "api", "billing"]
    assert shown_page(browser) == expected_page(status)


def test_the_page_asks_no_other_origin_for_anything(
    browser: webdriver.Chrome, server: ServerThread
) -> None:
    open_page(browser, server)
    # Let a few refreshes happen: each must go back to where the page came from.
    WebDriverWait(browser, 15, poll_frequency=0.05).until(
        lambda d: (
            d.execute_script(
                "return performance.getEntriesByType('resource')"
                ".filter((e) => e.name.endsWith('/api/status')).length"
            )
            >= 3
        )
    )

    entries = browser.execute_script(
        "return performance.getEntries().map((e) => e.name).filter((n) => n.includes(':'))"
    )
    urls = requested_urls(browser)

    assert server.origin + "/" in urls
    assert server.origin + "/api/status" in urls
    foreign = [u for u in (*urls, *entries) if not u.startswith(server.origin + "/")]
    assert foreign == []


def test_the_page_logs_no_console_error_and_runs_no_text_it_shows(
    browser: webdriver.Chrome, server: ServerThread
) -> None:
    open_page(browser, server)
    WebDriverWait(browser, 15, poll_frequency=0.05).until(
        lambda d: (
            d.execute_script(
                "return performance.getEntriesByType('resource')"
                ".filter((e) => e.name.endsWith('/api/status')).length"
            )
            >= 2
        )
    )

    assert browser.execute_script("return window.pwned === undefined")
    shown = shown_page(browser)
    assert shown["units"][-1]["fields"]["unit"] == HOSTILE
    assert shown["units"][3]["events"][0]["message"] == HOSTILE
    logged = browser.get_log("browser")
    assert [entry for entry in logged if entry["level"] in ("SEVERE", "WARNING")] == []


def test_the_console_log_would_show_an_error_the_page_made(
    browser: webdriver.Chrome, server: ServerThread
) -> None:
    # The check above can fail: an error a page makes does reach the log we read.
    open_page(browser, server)

    browser.execute_script("console.error('made on purpose')")

    logged = browser.get_log("browser")
    assert any("made on purpose" in entry["message"] for entry in logged)
    assert all(
        entry["level"] != "SEVERE" or "made on purpose" in entry["message"] for entry in logged
    )
