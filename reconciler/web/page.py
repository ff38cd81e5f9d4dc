"""The status page: one HTML document, its CSS and JS inline, nothing fetched elsewhere.

The server renders the table, so the page reads without JavaScript; the script
then redraws it from ``api/status`` every few seconds. Both draw from the same
JSON (:mod:`reconciler.web.status`), with the same markup, so what the page
shows is what the API says. Every value is escaped on the server
(:func:`html.escape`) and set as text in the browser (``textContent``).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

from reconciler.model import SyncState

# Shown for a value the reconciler does not know (yet).
NONE_SHOWN = "\u2014"

ROLLOUT_FIELDS = (
    ("revision", "revision"),
    ("result", "result"),
    ("reason", "reason"),
    ("task_definition", "task definition"),
    ("deployment_id", "deployment"),
    ("at", "at"),
)

COLUMNS = (
    "Unit",
    "Cluster",
    "Service",
    "Sync",
    "Live revision",
    "Applied revision",
    "Drift",
    "Last rollout",
    "Recent events",
)

_CSS = """
:root { color-scheme: light dark; --line: #8884; --muted: #888; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
header p { margin: .2rem 0; color: var(--muted); }
code, time { font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
         border-bottom: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
ul, ol { margin: 0; padding-left: 1.1rem; }
dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 0 .5rem; }
dt { color: var(--muted); }
dd { margin: 0; }
.sync { font-weight: 600; padding: 0 .4rem; border-radius: .6rem; white-space: nowrap; }
.sync-in_sync { background: #2a72; }
.sync-changed, .sync-missing { background: #c902; }
.sync-error { background: #d332; }
.sync-suspended { background: #8883; }
#summary { list-style: none; padding: 0; display: flex; gap: 1rem; }
#freshness.stale { color: #d33; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var NONE = "\\u2014";
  var ROLLOUT_FIELDS = %(rollout_fields)s;
  var STATES = %(states)s;
  var refreshMs = Number(document.body.getAttribute("data-refresh-seconds")) * 1000;
  var freshness = document.getElementById("freshness");

  function node(tag, attributes, children) {
    var element = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      element.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) {
      element.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return element;
  }

  function shown(value) {
    return value === null || value === undefined ? NONE : String(value);
  }

  function textCell(field, value, tag) {
    var inner = node(tag || "span", {"data-field": field}, [shown(value)]);
    return node("td", {"data-field": field}, [inner]);
  }

  function driftCell(paths) {
    if (!paths.length) {
      return node("td", {"data-field": "drift"}, [NONE]);
    }
    var items = paths.map(function (path) { return node("li", {}, [node("code", {}, [path])]); });
    return node("td", {"data-field": "drift"}, [node("ul", {}, items)]);
  }

  function rolloutCell(rollout) {
    if (!rollout) {
      return node("td", {"data-field": "last_rollout"}, [NONE]);
    }
    var parts = [];
    ROLLOUT_FIELDS.forEach(function (pair) {
      parts.push(node("dt", {}, [pair[1]]));
      parts.push(node("dd", {"data-field": "last_rollout." + pair[0]}, [shown(rollout[pair[0]])]));
    });
    return node("td", {"data-field": "last_rollout"}, [node("dl", {}, parts)]);
  }

  function eventsCell(events) {
    if (!events.length) {
      return node("td", {"data-field": "events"}, [NONE]);
    }
    var items = events.map(function (event) {
      return node("li", {}, [
        node("time", {"data-field": "at", "datetime": event.at}, [event.at]),
        " ",
        node("span", {"data-field": "message"}, [event.message])
      ]);
    });
    return node("td", {"data-field": "events"}, [node("ol", {}, items)]);
  }

  function unitRow(unit) {
    var sync = node("span", {"class": "sync sync-" + unit.sync, "data-field": "sync"}, [unit.sync]);
    return node("tr", {"data-unit": unit.unit}, [
      node("th", {"scope": "row", "data-field": "unit"}, [unit.unit]),
      textCell("cluster", unit.cluster),
      textCell("service", unit.service),
      node("td", {"data-field": "sync"}, [sync]),
      textCell("live_revision", unit.live_revision, "code"),
      textCell("applied_revision", unit.applied_revision, "code"),
      driftCell(unit.drift),
      rolloutCell(unit.last_rollout),
      eventsCell(unit.events)
    ]);
  }

  function draw(status) {
    var rows = status.units.map(unitRow);
    if (!rows.length) {
      rows = [node("tr", {"class": "empty"}, [node("td", {"colspan": "9"}, ["No units yet."])])];
    }
    var body = document.getElementById("units");
    body.replaceChildren.apply(body, rows);
    document.getElementById("revision").textContent = shown(status.revision);
    document.getElementById("taken-at").textContent = status.taken_at;
    var counts = {};
    status.units.forEach(function (unit) { counts[unit.sync] = (counts[unit.sync] || 0) + 1; });
    STATES.forEach(function (state) {
      document.getElementById("count-" + state).textContent = String(counts[state] || 0);
    });
    freshness.textContent = "live";
    freshness.className = "";
  }

  function markStale(reason) {
    freshness.textContent = "not updated: " + reason;
    freshness.className = "stale";
  }

  function refresh() {
    fetch("api/status", {cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(draw, function (error) { markStale(error.message); })
      .then(function () { window.setTimeout(refresh, refreshMs); });
  }

  window.setTimeout(refresh, refreshMs);
})();
"""


def _text(value: Any) -> str:
    return html.escape(NONE_SHOWN if value is None else str(value), quote=True)


def _text_cell(field: str, value: Any, tag: str = "span") -> str:
    return f'<td data-field="{field}"><{tag} data-field="{field}">{_text(value)}</{tag}></td>'


def _drift_cell(paths: list[str]) -> str:
    if not paths:
        return f'<td data-field="drift">{NONE_SHOWN}</td>'
    items = "".join(f"<li><code>{_text(p)}</code></li>" for p in paths)
    return f'<td data-field="drift"><ul>{items}</ul></td>'


def _rollout_cell(rollout: dict[str, Any] | None) -> str:
    if rollout is None:
        return f'<td data-field="last_rollout">{NONE_SHOWN}</td>'
    parts = "".join(
        f'<dt>{label}</dt><dd data-field="last_rollout.{key}">{_text(rollout[key])}</dd>'
        for key, label in ROLLOUT_FIELDS
    )
    return f'<td data-field="last_rollout"><dl>{parts}</dl></td>'


def _events_cell(events: list[dict[str, Any]]) -> str:
    if not events:
        return f'<td data-field="events">{NONE_SHOWN}</td>'
    items = "".join(
        f'<li><time data-field="at" datetime="{_text(e["at"])}">{_text(e["at"])}</time> '
        f'<span data-field="message">{_text(e["message"])}</span></li>'
        for e in events
    )
    return f'<td data-field="events"><ol>{items}</ol></td>'


def _unit_row(unit: dict[str, Any]) -> str:
    sync = _text(unit["sync"])
    return (
        f'<tr data-unit="{_text(unit["unit"])}">'
        f'<th scope="row" data-field="unit">{_text(unit["unit"])}</th>'
        f"{_text_cell('cluster', unit['cluster'])}"
        f"{_text_cell('service', unit['service'])}"
        f'<td data-field="sync"><span class="sync sync-{sync}" data-field="sync">{sync}</span></td>'
        f"{_text_cell('live_revision', unit['live_revision'], 'code')}"
        f"{_text_cell('applied_revision', unit['applied_revision'], 'code')}"
        f"{_drift_cell(unit['drift'])}"
        f"{_rollout_cell(unit['last_rollout'])}"
        f"{_events_cell(unit['events'])}"
        "</tr>"
    )


def _script(nonce: str) -> str:
    source = _SCRIPT % {
        "rollout_fields": json.dumps([list(pair) for pair in ROLLOUT_FIELDS]),
        "states": json.dumps([state.value for state in SyncState]),
    }
    return f'<script nonce="{nonce}">{source}</script>'


def render_page(status: dict[str, Any], *, nonce: str, refresh_seconds: float) -> str:
    """The whole page for ``status`` (as :func:`~reconciler.web.status.snapshot_json`)."""
    counts = Counter(unit["sync"] for unit in status["units"])
    summary = "".join(
        f'<li>{state.value}: <span id="count-{state.value}">{counts[state.value]}</span></li>'
        for state in SyncState
    )
    rows = "".join(_unit_row(unit) for unit in status["units"])
    if not rows:
        rows = '<tr class="empty"><td colspan="9">No units yet.</td></tr>'
    headings = "".join(f'<th scope="col">{name}</th>' for name in COLUMNS)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ECS reconciler: status</title>
<link rel="icon" href="data:,">
<style nonce="{nonce}">{_CSS}</style>
</head>
<body data-refresh-seconds="{refresh_seconds:g}">
<header>
<h1>ECS reconciler</h1>
<p>Revision <code id="revision">{_text(status["revision"])}</code>,
seen at <time id="taken-at">{_text(status["taken_at"])}</time>
(<span id="freshness">as served</span>)</p>
<ul id="summary">{summary}</ul>
</header>
<main>
<table>
<thead><tr>{headings}</tr></thead>
<tbody id="units">{rows}</tbody>
</table>
</main>
{_script(nonce)}
</body>
</html>
"""
