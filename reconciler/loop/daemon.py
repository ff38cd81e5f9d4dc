"""The GitOps loop: watch a branch, reconcile what changed, report on the commits.

Each new revision of the watched branch is planned, and every unit whose plan
says something must change is applied and tracked; the units the commit
changed get a commit status each (pending, then success or failure; error
when the unit is invalid at that revision). Every ``drift_interval`` the units
are planned again at the revision last reconciled: live moving away from it is
drift, reported once per new drift (a status on ``ecs-drift/<unit>`` and an
alert), or healed where the unit's policy says ``drift: heal``.

All state lives in git and AWS, so a restarted loop rebuilds what it needs:
rollouts still in progress are adopted by apply (it tracks them rather than
starting another deployment), and a revision whose rollout failed
(``gitops:bad-revision``) is not retried until a commit touches the unit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.apply import ApplyOptions, target_of
from reconciler.apply.codedeploy import is_code_deploy
from reconciler.aws import Aws
from reconciler.clock import Clock
from reconciler.desired import render_units
from reconciler.errors import ReconcilerError
from reconciler.live import TaskDefinitionCache
from reconciler.loop.applying import ApplyReport, Callbacks, apply_revision
from reconciler.loop.heap import HeapSettler
from reconciler.loop.orphans import Orphan, delete_orphan, find_orphans, prune_allowed
from reconciler.loop.planning import PlannedRevision, PlanningCache, plan_revision
from reconciler.loop.sharding import Ownership, SoleOwnership
from reconciler.model import (
    CODE_DEPLOY,
    TAG_BAD_REVISION,
    TAG_REVISION,
    TAG_SUSPENDED,
    Cause,
    CommitState,
    CommitStatus,
    DesiredUnit,
    DriftPolicy,
    OnFailure,
    Outcome,
    OutcomeResult,
    Plan,
    PlanStatus,
    RolloutRecord,
    StatusSnapshot,
    Sync,
    SyncState,
    UnitEvent,
    UnitPlan,
    UnitStatus,
)
from reconciler.report import (
    Alert,
    AlertKind,
    AlertNotifier,
    StageNews,
    StatusReporter,
    console_url,
    drift_status,
    invalid_status,
    rollout_context,
    rollout_status,
)
from reconciler.report.logs import log_unit_cycle
from reconciler.report.metrics import ReconcilerMetrics
from reconciler.source import GitFiles
from reconciler.source.remote import Mirror
from reconciler.source.revert import revert_failed_revision
from reconciler.track import Progress
from reconciler.track.stages import strategy_words

log = logging.getLogger(__name__)

RECENT_EVENTS = 20


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How ``reconciler run`` was asked to behave."""

    owner: str
    interval: float = 30.0
    drift_interval: float = 300.0
    read_only: bool = False
    concurrency: int = 8
    poll_interval: float = 5.0


@dataclass(slots=True)
class _UnitBook:
    """What the loop remembers about one unit between cycles (for the status page)."""

    cluster: str | None = None
    service: str | None = None
    sync: SyncState = SyncState.MISSING
    live_revision: str | None = None
    applied_revision: str | None = None
    drift: tuple[str, ...] = ()
    last_rollout: RolloutRecord | None = None
    events: deque[UnitEvent] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))

    def note(self, message: str) -> None:
        self.events.appendleft(UnitEvent(datetime.now(UTC), message))


SYNC_OF_PLAN = {
    PlanStatus.IN_SYNC: SyncState.IN_SYNC,
    PlanStatus.CHANGED: SyncState.CHANGED,
    PlanStatus.MISSING: SyncState.MISSING,
    PlanStatus.ERROR: SyncState.ERROR,
}


class Reconciler:
    """One watched branch, reconciled: the loop's state and its cycles.

    It is also the web server's status source (``snapshot`` and ``ready``).
    """

    def __init__(
        self,
        settings: LoopSettings,
        *,
        mirror: Mirror,
        aws: Aws,
        clock: Clock,
        reporter: StatusReporter | None = None,
        alerts: AlertNotifier | None = None,
        metrics: ReconcilerMetrics | None = None,
        ownership: Ownership | None = None,
        heap: HeapSettler | None = None,
    ) -> None:
        """``heap`` is given by the process that owns the interpreter (``reconciler
        run``): freezing the garbage collector's view is a choice for the whole process."""
        self.settings = settings
        self.ownership: Ownership = ownership or SoleOwnership()
        self.mirror = mirror
        self.aws = aws
        self.clock = clock
        self.reporter = reporter
        self.alerts = alerts
        self.metrics = metrics or ReconcilerMetrics()
        self.metrics.follow_aws(aws)
        self.head: str | None = None
        self.reconciled: str | None = None
        self._last_drift_check: float | None = None
        self._units: dict[str, _UnitBook] = {}
        self._ready = False
        self._cache = TaskDefinitionCache()
        self.planning_cache = PlanningCache()
        self._posting: set[asyncio.Task[None]] = set()
        self._desired: Mapping[str, DesiredUnit] = {}
        self._live_tags: Mapping[str, Mapping[str, str]] = {}
        self._owned: frozenset[str] = frozenset()
        self._heap = heap

    # -- the status source -------------------------------------------------

    def ready(self) -> bool:
        return self._ready

    def snapshot(self) -> StatusSnapshot:
        units = tuple(
            UnitStatus(
                unit=unit_id,
                cluster=book.cluster,
                service=book.service,
                sync=book.sync,
                live_revision=book.live_revision,
                applied_revision=book.applied_revision,
                drift=book.drift,
                last_rollout=book.last_rollout,
                events=tuple(book.events),
            )
            for unit_id, book in sorted(self._units.items())
        )
        return StatusSnapshot(datetime.now(UTC), self.head, units)

    # -- cycles -------------------------------------------------------------

    async def cycle(self) -> None:
        """Fetch; reconcile a new revision; check drift when it is due."""
        started = time.perf_counter()
        try:
            fetched = await self.mirror.fetch()
        except ReconcilerError as exc:
            self.metrics.record_git_fetch(time.perf_counter() - started, failed=True)
            # An unreachable remote is waited out; what AWS runs is left as it is.
            log.warning("cannot fetch the watched branch", extra={"error": str(exc)})
            return
        self.metrics.record_git_fetch(fetched.seconds)
        self.head = fetched.head

        with self.metrics.reconcile_duration.time():
            if fetched.head is not None and (
                fetched.head != self.reconciled or self._ownership_moved(fetched.head)
            ):
                await self.reconcile(fetched.head)
            elif self._drift_due():
                await self.check_drift()
        self.metrics.record_snapshot(self.snapshot())
        if self._heap is not None:
            self._heap.settle()

    def _ownership_moved(self, revision: str) -> bool:
        """Whether this replica owns other units than at its last reconcile (a shard
        was taken over or given up): the newly owned ones are reconciled at once."""
        if isinstance(self.ownership, SoleOwnership):
            return False  # one replica owns every unit, always
        owned = self.ownership.owned(self._discover(self.mirror.files(revision)))
        return owned != self._owned

    def _drift_due(self) -> bool:
        if self.reconciled is None:
            return False
        last = self._last_drift_check
        return last is None or self.clock.now() - last >= self.settings.drift_interval

    async def reconcile(self, revision: str) -> ApplyReport | None:
        """Plan ``revision``, apply what must change, report on the commit."""
        files = self.mirror.files(revision)
        previous = self.reconciled
        planned = await self._plan(files)
        touched = changed_units(self.mirror, previous, revision, planned)
        self._record_plan(planned)

        # Invalid units get an error status on the commit that broke them.
        for unit_plan in planned.plan.units:
            if unit_plan.status is PlanStatus.ERROR and unit_plan.unit in touched:
                await self._report_invalid(revision, unit_plan)

        # Drift found on the way is reported (or healed) by the unit's policy,
        # never applied as if git had asked for it.
        heal = await self._handle_drift(planned)
        selected = [
            u.unit
            for u in planned.plan.units
            if (Cause.CHANGE in u.causes or not u.causes or u.unit in heal)
            and self._should_apply(u, revision)
        ]
        report = None
        if selected and not self.settings.read_only:
            report = await self._apply(files, planned.only(selected), touched)
        await self._handle_orphans(planned)
        self.reconciled = revision
        self._last_drift_check = self.clock.now()
        self._ready = True
        await self._drain_posting()
        return report

    def _discover(self, files: GitFiles) -> list[str]:
        """The units of ``files``, walked again only when its root tree changed."""
        return self.planning_cache.renders.discover(files)

    async def _plan(self, files: GitFiles) -> PlannedRevision:
        """Plan the units this replica owns (all of them, unsharded)."""
        known = self._discover(files)
        self._owned = self.ownership.owned(known)
        owned = sorted(self._owned)
        for unit_id in set(self._units) - set(owned):
            self._units.pop(unit_id, None)  # gone from git, or another replica's now
        if not owned:
            return PlannedRevision(Plan(files.revision, ()))
        return await plan_revision(
            files,
            self.aws,
            owned,
            repo_path=str(self.mirror.path),
            cache=self._cache,
            planning_cache=self.planning_cache,
        )

    def _should_apply(self, unit_plan: UnitPlan, revision: str) -> bool:
        """Whether this cycle applies the unit; the reasons not to are noted for the page."""
        if unit_plan.status is PlanStatus.ERROR:
            return False
        if unit_plan.status is PlanStatus.IN_SYNC:
            # In sync may still hide a rollout a restart must adopt, or stale
            # tags: apply finds out without starting anything.
            return True
        book = self._book(unit_plan.unit)
        tags = self._live_tags.get(unit_plan.unit, {})
        if tags.get(TAG_SUSPENDED, "").lower() not in ("", "false"):
            return False
        unit = self._desired.get(unit_plan.unit)
        if unit is not None and unit.policy.sync is Sync.MANUAL:
            book.note("sync: manual; waiting for a manual sync")
            return False
        bad = tags.get(TAG_BAD_REVISION)
        if bad and not touched_since(self.mirror, bad, revision, unit_plan.unit, unit):
            # A revision whose rollout failed is not retried until a commit
            # touches the unit again.
            book.note(f"not retrying {bad[:12]}, whose rollout failed")
            return False
        return True

    async def _apply(
        self, files: GitFiles, planned: PlannedRevision, touched: set[str]
    ) -> ApplyReport:
        revision = str(files.revision)

        def on_stage(unit: str, stage: str) -> None:
            book = self._book(unit)
            book.note(stage)
            if stage == "rolling out" and unit in touched:
                log.info("rollout started", extra={"unit": unit, "revision": revision})
                self._post(
                    rollout_status(
                        revision,
                        unit,
                        CommitState.PENDING,
                        "rolling out",
                        strategy=_strategy_of(planned, unit),
                        stage=None,
                        task_definition=None,
                        target_url=self._console(planned, unit),
                    )
                )

        stages = StageNews()

        def on_progress(progress: Progress) -> None:
            if not stages.is_news(progress):
                return
            self._book(progress.unit).note(progress.stage)
            if progress.unit in touched:
                self._post(
                    rollout_status(
                        revision,
                        progress.unit,
                        CommitState.PENDING,
                        f"Rolling out, {progress.stage}",
                        target_url=self._console(planned, progress.unit),
                    )
                )

        def on_event(unit: str, message: str) -> None:
            self._book(unit).note(message)

        report = await apply_revision(
            files,
            self.aws,
            self.clock,
            ApplyOptions(owner=self.settings.owner),
            repo_path=str(self.mirror.path),
            concurrency=self.settings.concurrency,
            callbacks=Callbacks(on_stage=on_stage, on_event=on_event, on_progress=on_progress),
            poll_interval=self.settings.poll_interval,
            planned=planned,
        )
        for outcome in report.outcomes:
            await self._report_outcome(revision, outcome, touched, planned)
        return report

    async def check_drift(self) -> None:
        """Plan the revision last reconciled; report or heal what moved in AWS."""
        if self.reconciled is None:
            return
        files = self.mirror.files(self.reconciled)
        planned = await self._plan(files)
        self._record_plan(planned)
        self._last_drift_check = self.clock.now()
        heal = await self._handle_drift(planned)
        if heal and not self.settings.read_only:
            log.warning("healing drift", extra={"units": sorted(heal)})
            await self._apply(files, planned.only(heal), set())
        await self._drain_posting()

    async def _handle_drift(self, planned: PlannedRevision) -> set[str]:
        """Report each unit's new drift once; return the units whose policy heals it."""
        heal: set[str] = set()
        for unit_plan in planned.plan.units:
            unit = self._desired.get(unit_plan.unit)
            if unit is None or unit_plan.status is PlanStatus.ERROR:
                continue
            policy = unit.policy.drift
            if policy is DriftPolicy.IGNORE:
                continue
            drifted = Cause.DRIFT in unit_plan.causes
            book = self._book(unit_plan.unit)
            paths = tuple(c.path for c in unit_plan.changes) if drifted else ()
            applied = self._live_tags.get(unit_plan.unit, {}).get(TAG_REVISION)
            if drifted and paths != book.drift:
                book.note(f"drift: {', '.join(paths)}")
                if applied:
                    self._post(drift_status(applied, unit_plan.unit, list(paths)))
                await self._alert(
                    Alert(
                        kind=AlertKind.DRIFT,
                        unit=unit_plan.unit,
                        revision=applied or planned.plan.revision or "",
                        summary=f"{unit_plan.unit} drifted: {', '.join(paths)}",
                        fingerprint=",".join(paths),
                        paths=paths,
                    )
                )
            elif not drifted and book.drift:
                book.note("drift resolved")
                if applied:
                    self._post(drift_status(applied, unit_plan.unit, []))
                if self.alerts is not None:
                    self.alerts.clear(unit_plan.unit, AlertKind.DRIFT)
            book.drift = paths
            if drifted and policy is DriftPolicy.HEAL:
                heal.add(unit_plan.unit)
        return heal

    async def _handle_orphans(self, planned: PlannedRevision) -> None:
        """Report services this repository owns that no unit names; prune as asked."""
        clusters = {(target_of(u), u.config.cluster) for u in self._desired.values()}
        known = self._discover(self.mirror.files(planned.plan.revision or "HEAD"))
        found = await find_orphans(self.aws, self.settings.owner, clusters, known)
        mine = self.ownership.owned(o.unit for o in found)
        orphans = [o for o in found if o.unit in mine]
        may_prune = prune_allowed(orphans, len(planned.plan.units) + len(orphans))
        if orphans and not may_prune:
            log.warning(
                "many units dropped at once: nothing is pruned",
                extra={"orphans": [o.unit for o in orphans]},
            )
        for orphan in orphans:
            book = self._book(orphan.unit)
            book.cluster, book.service, book.sync = orphan.cluster, orphan.service, SyncState.ERROR
            prune = may_prune and await self._unit_asked_to_prune(orphan)
            if prune and not self.settings.read_only:
                await delete_orphan(self.aws, orphan)
                book.note(f"pruned: no unit names service {orphan.service} any more")
                log.warning("orphan pruned", extra={"unit": orphan.unit})
                self._units.pop(orphan.unit, None)
                continue
            book.note(f"orphan: no unit names service {orphan.service} any more; kept")
            log.warning("orphan kept", extra={"unit": orphan.unit, "service": orphan.service})

    async def _unit_asked_to_prune(self, orphan: Orphan) -> bool:
        """The unit's ``prune`` policy, as it was at the revision last applied."""
        if orphan.revision is None:
            return False
        try:
            earlier = self.mirror.files(orphan.revision)
            results = await render_units(earlier, self.aws, [orphan.unit])
        except ReconcilerError:
            return False
        unit = results[0].unit if results else None
        return unit is not None and unit.policy.prune

    # -- reporting ----------------------------------------------------------

    def _record_plan(self, planned: PlannedRevision) -> None:
        self._desired = {
            unit_id: result.unit
            for unit_id, result in planned.rendered.items()
            if result.unit is not None
        }
        self._live_tags = {unit_id: dict(live.tags) for unit_id, live in planned.live.items()}
        for unit_plan in planned.plan.units:
            book = self._book(unit_plan.unit)
            book.cluster, book.service = unit_plan.cluster, unit_plan.service
            book.sync = SYNC_OF_PLAN[unit_plan.status]
            tags = self._live_tags.get(unit_plan.unit, {})
            if tags.get(TAG_SUSPENDED, "").lower() not in ("", "false"):
                book.sync = SyncState.SUSPENDED
            book.live_revision = tags.get(TAG_REVISION)
            log_unit_cycle(
                unit=unit_plan.unit,
                cluster=unit_plan.cluster,
                service=unit_plan.service,
                revision=planned.plan.revision,
                result=str(unit_plan.status),
                reason=unit_plan.error.code if unit_plan.error else None,
                changes=unit_plan.changes,
                duration=0.0,
            )

    async def _report_invalid(self, revision: str, unit_plan: UnitPlan) -> None:
        problem = str(unit_plan.error) if unit_plan.error else "the unit is invalid"
        self._book(unit_plan.unit).note(f"invalid at {revision[:12]}: {problem}")
        self._post(invalid_status(revision, unit_plan.unit, problem))
        await self._alert(
            Alert(
                kind=AlertKind.INVALID_REVISION,
                unit=unit_plan.unit,
                revision=revision,
                summary=f"{unit_plan.unit} is invalid at {revision[:12]}: {problem}",
                fingerprint=revision,
            )
        )

    async def _report_outcome(
        self, revision: str, outcome: Outcome, touched: set[str], planned: PlannedRevision
    ) -> None:
        book = self._book(outcome.unit)
        book.note(f"{outcome.result}: {outcome.message}")
        if outcome.result in (OutcomeResult.SUCCEEDED, OutcomeResult.FAILED):
            self.metrics.record_rollout(str(outcome.result))
            book.last_rollout = RolloutRecord(
                revision=revision,
                result=str(outcome.result),
                at=datetime.now(UTC),
                reason=outcome.reason,
                task_definition=outcome.task_definition_arn,
                deployment_id=outcome.deployment_id,
            )
        if outcome.result.ok:
            book.sync = SyncState.IN_SYNC
            book.applied_revision = revision
        elif outcome.result is OutcomeResult.FAILED:
            book.sync = SyncState.ERROR
        # No status on commits that did not change the unit, unless one is left
        # pending there: its rollout ended while no reconciler watched.
        reported = outcome.unit in touched or outcome.deployment_id is not None
        if not reported and not await self._left_pending(revision, outcome.unit):
            return
        state = CommitState.SUCCESS if outcome.result.ok else CommitState.FAILURE
        if outcome.result in (OutcomeResult.REFUSED, OutcomeResult.SKIPPED):
            state = CommitState.ERROR
        message = outcome.message
        if outcome.result is OutcomeResult.FAILED and outcome.deployment_id is not None:
            reverted = await self._revert_if_asked(revision, outcome)
            if reverted:
                message = f"{reverted}; {message}"
        self._post(
            rollout_status(
                revision,
                outcome.unit,
                state,
                message,
                strategy=_strategy_of(planned, outcome.unit),
                stage=None,
                task_definition=_short_arn(outcome.task_definition_arn),
                target_url=self._console(planned, outcome.unit, outcome.deployment_id),
            )
        )
        if outcome.result is OutcomeResult.FAILED:
            await self._alert(
                Alert(
                    kind=AlertKind.ROLLOUT_FAILED,
                    unit=outcome.unit,
                    revision=revision,
                    summary=f"{outcome.unit} failed at {revision[:12]}: {outcome.message}",
                    fingerprint=revision,
                )
            )

    async def _revert_if_asked(self, revision: str, outcome: Outcome) -> str | None:
        """With ``on_failure: revert``, commit a revert so git says again what runs."""
        unit = self._desired.get(outcome.unit)
        if unit is None or unit.policy.on_failure is not OnFailure.REVERT:
            return None
        try:
            result = await asyncio.to_thread(
                revert_failed_revision,
                self.mirror.path,
                outcome.unit,
                revision,
                outcome.message,
                files=unit.files,
            )
        except ReconcilerError as exc:
            log.error(
                "cannot revert the failed revision", extra={"unit": outcome.unit, "error": str(exc)}
            )
            return f"revert refused: {exc}"
        self._book(outcome.unit).note(result.summary)
        log.warning(
            "failed revision reverted", extra={"unit": outcome.unit, "summary": result.summary}
        )
        return result.summary

    async def _left_pending(self, revision: str, unit_id: str) -> bool:
        if self.reporter is None:
            return False
        try:
            shown = await self.reporter.shown(revision, rollout_context(unit_id))
        except ReconcilerError:
            return False
        return shown is CommitState.PENDING

    def _console(
        self, planned: PlannedRevision, unit_id: str, deployment_id: str | None = None
    ) -> str | None:
        result = planned.rendered.get(unit_id)
        unit = result.unit if result else None
        if unit is None or unit.config.service is None:
            return None
        return console_url(
            unit.config.region, unit.config.cluster, unit.config.service, deployment_id
        )

    def _post(self, status: CommitStatus) -> None:
        """Post a status in the background; the cycle waits for every post at its end."""
        if self.reporter is None:
            return
        reporter = self.reporter

        async def post() -> None:
            try:
                await reporter.report(status)
                self.metrics.record_status_post(reporter.provider.name, str(status.state))
            except ReconcilerError as exc:
                self.metrics.record_status_post(
                    reporter.provider.name, str(status.state), failed=True
                )
                log.error(
                    "cannot post a commit status",
                    extra={"context": status.context, "error": str(exc)},
                )

        task = asyncio.get_running_loop().create_task(post())
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _drain_posting(self) -> None:
        while self._posting:
            await asyncio.gather(*list(self._posting), return_exceptions=True)

    async def _alert(self, alert: Alert) -> None:
        if self.alerts is None:
            return
        try:
            await self.alerts.notify(alert)
        except ReconcilerError as exc:
            log.error("cannot send an alert", extra={"unit": alert.unit, "error": str(exc)})

    def _book(self, unit_id: str) -> _UnitBook:
        return self._units.setdefault(unit_id, _UnitBook())

    async def close(self) -> None:
        await self._drain_posting()


def _short_arn(arn: str | None) -> str | None:
    return arn.rsplit("/", 1)[-1] if arn else None


def _strategy_of(planned: PlannedRevision, unit_id: str) -> str | None:
    result = planned.rendered.get(unit_id)
    unit = result.unit if result else None
    if unit is None or unit.service is None:
        return None
    if is_code_deploy(unit):
        return strategy_words(CODE_DEPLOY)
    configuration = unit.service.get("deploymentConfiguration") or {}
    return strategy_words(str(configuration.get("strategy", "ROLLING")))


def touched_since(
    mirror: Mirror, earlier: str, revision: str, unit_id: str, unit: DesiredUnit | None
) -> bool:
    """Whether a commit between ``earlier`` and ``revision`` changed the unit's files."""
    try:
        before = mirror.files(earlier)
    except ReconcilerError:
        return True  # history rewritten: treat the unit as changed
    after = mirror.files(revision)
    return _differs(before, after, unit_id, unit.files if unit else ())


def _differs(before: GitFiles, after: GitFiles, unit_id: str, paths: Sequence[str]) -> bool:
    return before.tree_id(unit_id) != after.tree_id(unit_id) or any(
        _read(before, path) != _read(after, path) for path in paths
    )


def changed_units(
    mirror: Mirror, previous: str | None, revision: str, planned: PlannedRevision
) -> set[str]:
    """The units this revision changes: those whose files differ from what was applied.

    A unit's base is the revision its service is tagged with (what runs), else
    the revision this process reconciled last; a unit with neither is new. Its
    files are its folder and every file it read outside it (the repo-wide
    policy, Jsonnet libraries).
    """
    touched: set[str] = set()
    for unit_plan in planned.plan.units:
        unit_id = unit_plan.unit
        live = planned.live.get(unit_id)
        base = (live.tags.get(TAG_REVISION) if live is not None else None) or previous
        result = planned.rendered.get(unit_id)
        unit = result.unit if result else None
        if base is None or base == revision:
            if base is None:
                touched.add(unit_id)
            continue
        if touched_since(mirror, base, revision, unit_id, unit):
            touched.add(unit_id)
    return touched


def _read(files: GitFiles, path: str) -> bytes | None:
    try:
        return files.read_bytes(path)
    except (FileNotFoundError, ValueError):
        return None


async def run_forever(
    reconciler: Reconciler, clock: Clock, stop: asyncio.Event, wake: asyncio.Event
) -> None:
    """Cycle until ``stop``: at every ``wake`` (webhook, local commit) or interval.

    ``stop`` interrupts a cycle too, even one tracking a long rollout: the
    rollout goes on in AWS and the next process adopts it. Statuses being
    posted are finished first (``Reconciler.close``).
    """
    interval = reconciler.settings.interval
    while not stop.is_set():
        wake.clear()
        cycle = asyncio.ensure_future(reconciler.cycle())
        if await _first_of(cycle, stop) is not cycle:
            log.info("stopping: the rollouts in progress go on in AWS")
            return
        if not cycle.cancelled() and cycle.exception() is not None:
            error = cycle.exception()
            if isinstance(error, ReconcilerError):
                log.warning("cycle failed; retrying later", extra={"error": str(error)})
            else:
                raise error  # type: ignore[misc]
        await _first_of(asyncio.ensure_future(clock.sleep(interval)), stop, wake)


async def _first_of(
    task: asyncio.Future[None], *events: asyncio.Event
) -> asyncio.Future[None] | asyncio.Event:
    """Wait for ``task`` or any of ``events``; cancel ``task`` if an event came first."""
    waiters = {asyncio.ensure_future(e.wait()): e for e in events}
    watched: set[asyncio.Future[Any]] = {task, *waiters}
    try:
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    if task in done:
        return task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return next(waiters[w] for w in waiters if w in done)


def default_owner(url: str, branch: str) -> str:
    """What a service's ``gitops:owner`` tag says: the repository and branch."""
    return f"{url}@{branch}"


def data_path(data_dir: str | Path) -> Path:
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path
