"""Status snapshots for the web tests, and a source the tests can change under a server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from reconciler.model import RolloutRecord, StatusSnapshot, SyncState, UnitEvent, UnitStatus

AT = datetime(2026, 12, 3, 19, 20, 0, tzinfo=UTC)
REVISION = "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e7f8a9b0c"
PREVIOUS = "0aa1bb2cc3dd4ee5ff60718293a4b5c6d7e8f901"

# Text a careless page would execute or break on: it must show as text.
HOSTILE = "<script>window.pwned = 1</script> & \"quoted\" 'single' </td>"


def sample_snapshot() -> StatusSnapshot:
    """One unit in each sync state, with every field set somewhere and unset elsewhere."""
    return StatusSnapshot(
        taken_at=AT,
        revision=REVISION,
        units=(
            UnitStatus(
                unit="web",
                cluster="prod",
                service="web",
                sync=SyncState.IN_SYNC,
                live_revision=REVISION,
                applied_revision=REVISION,
                last_rollout=RolloutRecord(
                    revision=REVISION,
                    result="succeeded",
                    at=AT,
                    reason=None,
                    task_definition="arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
                    deployment_id="ecs-svc/1234567890123456789",
                ),
                events=(
                    UnitEvent(at=AT, message="rollout started"),
                    UnitEvent(at=AT, message="rollout succeeded"),
                ),
            ),
            UnitStatus(
                unit="api",
                cluster="prod",
                service="api",
                sync=SyncState.CHANGED,
                live_revision=PREVIOUS,
                applied_revision=PREVIOUS,
                drift=("containerDefinitions[app].image", "desiredCount"),
                events=(UnitEvent(at=AT, message="drift: 2 fields changed in AWS"),),
            ),
            UnitStatus(unit="worker", cluster="prod", service="worker", sync=SyncState.MISSING),
            UnitStatus(
                unit="billing",
                cluster=None,
                service=None,
                sync=SyncState.ERROR,
                last_rollout=RolloutRecord(
                    revision=PREVIOUS,
                    result="rolled_back",
                    at=AT,
                    reason="ROLLOUT_FAILED",
                ),
                events=(UnitEvent(at=AT, message=HOSTILE),),
            ),
            UnitStatus(unit=HOSTILE, cluster="staging", service="x", sync=SyncState.SUSPENDED),
        ),
    )


class FakeStatusSource:
    """A status source whose snapshot and readiness a test sets, from any thread."""

    def __init__(self, snapshot: StatusSnapshot | None = None, *, ready: bool = True) -> None:
        self._lock = threading.Lock()
        self._snapshot = snapshot or sample_snapshot()
        self._ready = ready

    def snapshot(self) -> StatusSnapshot:
        with self._lock:
            return self._snapshot

    def ready(self) -> bool:
        with self._lock:
            return self._ready

    def show(self, snapshot: StatusSnapshot, *, ready: bool = True) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._ready = ready
