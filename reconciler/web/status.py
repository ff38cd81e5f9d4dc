"""A status snapshot as JSON: what ``/api/status`` returns and the page refreshes from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.model import RolloutRecord, StatusSnapshot, UnitEvent, UnitStatus


def format_time(at: datetime) -> str:
    """``2026-12-03T19:20:00Z``: UTC to the second; a naive time is taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rollout_json(rollout: RolloutRecord) -> dict[str, Any]:
    return {
        "revision": rollout.revision,
        "result": rollout.result,
        "reason": rollout.reason,
        "task_definition": rollout.task_definition,
        "deployment_id": rollout.deployment_id,
        "at": format_time(rollout.at),
    }


def event_json(event: UnitEvent) -> dict[str, Any]:
    return {"at": format_time(event.at), "message": event.message}


def unit_json(unit: UnitStatus) -> dict[str, Any]:
    return {
        "unit": unit.unit,
        "cluster": unit.cluster,
        "service": unit.service,
        "sync": unit.sync.value,
        "live_revision": unit.live_revision,
        "applied_revision": unit.applied_revision,
        "drift": list(unit.drift),
        "last_rollout": None if unit.last_rollout is None else rollout_json(unit.last_rollout),
        "events": [event_json(e) for e in unit.events],
    }


def snapshot_json(snapshot: StatusSnapshot, *, ready: bool) -> dict[str, Any]:
    return {
        "taken_at": format_time(snapshot.taken_at),
        "revision": snapshot.revision,
        "ready": ready,
        "units": [unit_json(u) for u in snapshot.units],
    }
