"""One apply pass over a repository: plan, apply, track every unit.

Units roll out concurrently within a limit, wave by wave (``wave`` ascending),
and a unit waits for the units it ``depends_on`` to be stable. A failure stops
the units that depend on it, reported as skipped with the reason, and no
other. Each rollout ends with one JSON audit line on the ``reconciler.audit``
logger.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.apply import (
    Applied,
    ApplyOptions,
    apply_unit,
    record_rollout,
    resume_scaling,
    target_of,
)
from reconciler.aws import Aws
from reconciler.clock import Clock
from reconciler.errors import Reason, ReconcilerError
from reconciler.live import TaskDefinitionCache
from reconciler.loop.planning import PlannedRevision, plan_revision
from reconciler.model import (
    DesiredUnit,
    Outcome,
    OutcomeResult,
    Plan,
    PlanStatus,
    UnitPlan,
    WaitMode,
)
from reconciler.report.logs import log_rollout_audit
from reconciler.source import GitFiles, RepoFiles
from reconciler.track import Progress, RolloutTracker

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
DEPENDENCY_FAILED = "DEPENDENCY_FAILED"

StageCallback = Callable[[str, str], None]
"""``(unit, stage)`` when a unit moves on: waiting, applying, rolling out, done."""


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """Every unit's outcome at one revision, in plan order."""

    revision: str | None
    plan: Plan
    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.result.ok for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class Callbacks:
    """What the caller wants to hear while apply runs (a live view, logs)."""

    on_stage: StageCallback | None = None
    on_event: Callable[[str, str], None] | None = None
    on_progress: Callable[[Progress], None] | None = None


async def apply_revision(
    files: RepoFiles,
    aws: Aws,
    clock: Clock,
    options: ApplyOptions,
    unit_ids: Sequence[str] | None = None,
    *,
    repo_path: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    dry_run: bool = False,
    callbacks: Callbacks | None = None,
    poll_interval: float = 5.0,
    planned: PlannedRevision | None = None,
) -> ApplyReport:
    """Plan every unit of ``files`` (or those named), apply the plans and track them.

    A caller that planned already (the loop, which decides per unit whether to
    apply) passes ``planned`` and nothing is read twice.
    """
    callbacks = callbacks or Callbacks()
    if planned is None:
        planned = await plan_revision(
            files, aws, unit_ids, repo_path=repo_path, cache=TaskDefinitionCache()
        )
    if dry_run:
        return ApplyReport(files.revision, planned.plan, tuple(_dry_run(planned.plan)))

    tracker = RolloutTracker(
        aws,
        clock,
        interval=poll_interval,
        on_event=callbacks.on_event,
        on_progress=callbacks.on_progress,
    )
    author = files.author if isinstance(files, GitFiles) else None
    runner = _Runner(aws, clock, options, planned, tracker, callbacks, concurrency, author)
    try:
        outcomes = await runner.run()
    finally:
        await tracker.close()
    return ApplyReport(files.revision, planned.plan, outcomes)


def _dry_run(plan: Plan) -> list[Outcome]:
    outcomes = []
    for unit_plan in plan.units:
        if unit_plan.status is PlanStatus.IN_SYNC:
            result, message = OutcomeResult.IN_SYNC, "in sync"
        elif unit_plan.status is PlanStatus.ERROR:
            result = OutcomeResult.FAILED
            message = str(unit_plan.error) if unit_plan.error else "cannot be planned"
        else:
            result = OutcomeResult.PENDING
            message = f"would {', '.join(s.replace('_', ' ') for s in unit_plan.steps)}"
        outcomes.append(_plain_outcome(unit_plan, result, message))
    return outcomes


def _plain_outcome(
    unit_plan: UnitPlan, result: OutcomeResult, message: str, reason: str | None = None
) -> Outcome:
    return Outcome(
        unit=unit_plan.unit,
        result=result,
        reason=reason,
        message=message,
        cluster=unit_plan.cluster,
        service=unit_plan.service,
        changed_paths=tuple(c.path for c in unit_plan.changes),
        steps=unit_plan.steps,
    )


class _Runner:
    """Runs every unit as a task; order comes from waves and dependencies."""

    def __init__(
        self,
        aws: Aws,
        clock: Clock,
        options: ApplyOptions,
        planned: PlannedRevision,
        tracker: RolloutTracker,
        callbacks: Callbacks,
        concurrency: int,
        author: str | None = None,
    ) -> None:
        self._author = author
        self._aws = aws
        self._clock = clock
        self._options = options
        self._planned = planned
        self._tracker = tracker
        self._callbacks = callbacks
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._done: dict[str, asyncio.Future[Outcome]] = {}
        self._cyclic: set[str] = set()
        self._units: dict[str, DesiredUnit] = {}
        for unit_id, rendered in planned.rendered.items():
            if rendered.unit is not None:
                self._units[unit_id] = rendered.unit

    async def run(self) -> tuple[Outcome, ...]:
        loop = asyncio.get_running_loop()
        plans = list(self._planned.plan.units)
        self._done = {p.unit: loop.create_future() for p in plans}
        self._cyclic = self._units_in_cycles()
        tasks = [asyncio.create_task(self._run_unit(p), name=f"apply:{p.unit}") for p in plans]
        try:
            return tuple(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()

    def _stage(self, unit: str, stage: str) -> None:
        if self._callbacks.on_stage is not None:
            self._callbacks.on_stage(unit, stage)

    def _earlier(self, unit: DesiredUnit) -> list[str]:
        """Units this one waits for: its dependencies, and every unit of an earlier wave."""
        earlier = [d for d in unit.policy.depends_on if d in self._done and d != unit.id]
        for other_id, other in self._units.items():
            if other.policy.wave < unit.policy.wave and other_id in self._done:
                earlier.append(other_id)
        return list(dict.fromkeys(earlier))

    def _units_in_cycles(self) -> set[str]:
        """Units that would wait for themselves, through dependencies and waves."""
        edges = {u.id: self._earlier(u) for u in self._units.values() if u.id in self._done}
        cyclic: set[str] = set()
        for start in edges:
            seen: set[str] = set()
            stack = list(edges[start])
            while stack:
                current = stack.pop()
                if current == start:
                    cyclic.add(start)
                    break
                if current not in seen:
                    seen.add(current)
                    stack.extend(edges.get(current, ()))
        return cyclic

    def _dependants_exist(self, unit_id: str) -> bool:
        return any(unit_id in u.policy.depends_on for u in self._units.values())

    async def _run_unit(self, unit_plan: UnitPlan) -> Outcome:
        try:
            outcome = await self._unit_outcome(unit_plan)
        except ReconcilerError as exc:
            outcome = _plain_outcome(unit_plan, OutcomeResult.FAILED, str(exc), str(exc.reason))
        if outcome.revision is None:
            outcome = dataclasses.replace(outcome, revision=self._planned.plan.revision)
        if not outcome.steps and outcome.result.ok:
            outcome = dataclasses.replace(outcome, steps=unit_plan.steps)
        self._stage(unit_plan.unit, str(outcome.result))
        self._done[unit_plan.unit].set_result(outcome)
        return outcome

    async def _unit_outcome(self, unit_plan: UnitPlan) -> Outcome:
        unit = self._units.get(unit_plan.unit)
        if unit_plan.status is PlanStatus.ERROR or unit is None:
            message = str(unit_plan.error) if unit_plan.error else "cannot be planned"
            reason = unit_plan.error.code if unit_plan.error else None
            return _plain_outcome(
                unit_plan, OutcomeResult.FAILED, message, reason or str(Reason.INVALID_UNIT)
            )

        if unit.id in self._cyclic:
            return _plain_outcome(
                unit_plan,
                OutcomeResult.FAILED,
                "depends_on and wave form a cycle through this unit; break it in reconciler.yml",
                str(Reason.INVALID_UNIT),
            )

        # Earlier waves and dependencies first; a dependency's failure stops this unit.
        self._stage(unit.id, "waiting")
        for earlier in self._earlier(unit):
            before = await asyncio.shield(self._done[earlier])
            if earlier in unit.policy.depends_on and not before.result.ok:
                return _plain_outcome(
                    unit_plan,
                    OutcomeResult.SKIPPED,
                    f"depends on {earlier}, which {before.result}: {before.message}",
                    DEPENDENCY_FAILED,
                )

        live = self._planned.live.get(unit.id)
        if live is None:
            return _plain_outcome(
                unit_plan,
                OutcomeResult.FAILED,
                "no live state was read",
                str(Reason.AWS_UNAVAILABLE),
            )
        async with self._limit:
            self._stage(unit.id, "applying")
            options = self._options
            if self._dependants_exist(unit.id) and (options.wait or unit.policy.wait) in (
                WaitMode.NONE,
                WaitMode.DEPLOYED,
            ):
                # Dependants wait for this unit to be stable, whatever it asks for itself.
                options = dataclasses.replace(options, wait=WaitMode.STABLE)
            applied = await apply_unit(self._aws, self._clock, unit, live, unit_plan, options)
            if applied.rollout is None:
                assert applied.outcome is not None
                return applied.outcome
            self._stage(unit.id, "rolling out")
            return await self._track(unit, applied)

    async def _track(self, unit: DesiredUnit, applied: Applied) -> Outcome:
        assert applied.rollout is not None
        try:
            outcome = await self._tracker.track(applied.rollout)
            await record_rollout(self._aws, unit, applied, outcome.result.ok)
        finally:
            bounds = unit.policy.autoscaling
            if applied.resume_scaling and bounds is not None:
                # Resumed however the rollout ended: a failed rollout must not
                # leave the service unable to scale.
                await resume_scaling(
                    self._aws,
                    target_of(unit),
                    unit.config.cluster,
                    str(unit.config.service),
                    bounds,
                )
        write_audit_line(outcome, self._author)
        return outcome


def write_audit_line(outcome: Outcome, author: str | None = None) -> None:
    """One line per rollout: unit, revision, author, task definition, deployment, paths, result."""
    log_rollout_audit(
        unit=outcome.unit,
        revision=outcome.revision or "",
        author=author,
        task_definition=outcome.task_definition_arn,
        deployment_id=outcome.deployment_id,
        changes=outcome.changed_paths,
        result=str(outcome.result),
    )


def outcome_counts(outcomes: Sequence[Outcome]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome.result)] = counts.get(str(outcome.result), 0) + 1
    return counts
