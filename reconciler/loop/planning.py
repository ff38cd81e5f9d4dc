"""One planning pass over a repository: render, read live, plan every unit.

This is the wiring the ``plan`` command and the loop share. Each stage hands the
next plain data; a unit that fails at any stage becomes an error in the plan,
and every other unit is still planned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.apply import target_of
from reconciler.aws import Aws
from reconciler.desired import render_units
from reconciler.desired.render_cache import RenderCache
from reconciler.live import LiveRequest, LiveResult, TaskDefinitionCache, fetch_live
from reconciler.model import (
    TAG_REVISION,
    DesiredUnit,
    Finding,
    LiveUnit,
    Plan,
    RenderResult,
    Severity,
    UnitPlan,
)
from reconciler.plan import desired_digest, plan_error, plan_unit
from reconciler.source import RepoFiles, SourceError, discover_units, open_repo_files

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlannedRevision:
    """A plan, the rendered units it was made from, and the live state it read."""

    plan: Plan
    rendered: Mapping[str, RenderResult] = field(default_factory=dict)
    live: Mapping[str, LiveUnit] = field(default_factory=dict)

    def only(self, unit_ids: Iterable[str]) -> PlannedRevision:
        """The same revision's plan, narrowed to ``unit_ids``."""
        keep = set(unit_ids)
        return PlannedRevision(
            Plan(self.plan.revision, tuple(u for u in self.plan.units if u.unit in keep)),
            {k: v for k, v in self.rendered.items() if k in keep},
            {k: v for k, v in self.live.items() if k in keep},
        )


@dataclass(frozen=True, slots=True)
class _Planned:
    desired: DesiredUnit
    applied: DesiredUnit | None
    live: LiveUnit
    plan: UnitPlan


class PlanningCache:
    """What a long-lived planner keeps between passes.

    Renders are kept by the files they read (:class:`RenderCache`). A unit the
    render cache handed back as the very same object, planned against the very
    same applied unit and an equal live state, has the same plan as last time,
    so the diff is not made again; digests are kept the same way.
    """

    def __init__(self) -> None:
        self.renders = RenderCache()
        self._plans: dict[str, _Planned] = {}
        self._digests: dict[str, tuple[DesiredUnit, str | None]] = {}
        self.plans_reused = 0

    def digest(self, unit: DesiredUnit) -> str | None:
        kept = self._digests.get(unit.id)
        if kept is not None and kept[0] is unit:
            return kept[1]
        digest = desired_digest(unit)
        self._digests[unit.id] = (unit, digest)
        return digest

    def plan(self, unit: DesiredUnit, live: LiveUnit, applied: DesiredUnit | None) -> UnitPlan:
        kept = self._plans.get(unit.id)
        if (
            kept is not None
            and kept.desired is unit
            and kept.applied is applied
            and kept.live == live
        ):
            self.plans_reused += 1
            return kept.plan
        planned = plan_unit(unit, live, applied)
        self._plans[unit.id] = _Planned(unit, applied, live, planned)
        return planned


def first_error(result: RenderResult) -> Finding:
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    return errors[0] if errors else Finding(Severity.ERROR, "unit did not render", unit=result.id)


async def plan_revision(
    files: RepoFiles,
    aws: Aws,
    unit_ids: Sequence[str] | None = None,
    *,
    repo_path: str | None = None,
    cache: TaskDefinitionCache | None = None,
    planning_cache: PlanningCache | None = None,
) -> PlannedRevision:
    """Plan every unit of ``files`` (or those named) against live AWS.

    With ``repo_path`` (a git repository), a unit whose service is tagged with
    another applied revision is rendered at that revision too, so that live
    moving away from it reads as drift and git moving as change.
    ``planning_cache`` (kept by a long-lived caller such as the daemon) spares
    rendering and diffing what has not changed since the last pass.
    """
    renders = planning_cache.renders if planning_cache is not None else None
    digest_of = planning_cache.digest if planning_cache is not None else desired_digest
    plan_of = planning_cache.plan if planning_cache is not None else plan_unit
    # Render first: an invalid unit never reaches AWS.
    results = await render_units(files, aws, unit_ids, cache=renders)
    rendered = {r.id: r for r in results}
    units = [r.unit for r in results if r.ok and r.unit is not None]

    # Read live for every unit that rendered, in as few calls as AWS allows.
    requests = [
        LiveRequest(
            unit_id=u.id,
            target=target_of(u),
            cluster=u.config.cluster,
            service=u.config.service if u.is_service else None,
            desired_digest=digest_of(u),
        )
        for u in units
    ]
    live = {r.unit_id: r for r in await fetch_live(aws, requests, cache)}

    # Render what was last applied, once per revision, where it is not this one.
    applied = await _applied_units(units, live, files, aws, repo_path, renders)

    plans: list[UnitPlan] = []
    for result in results:
        unit = result.unit
        if unit is None or not result.ok:
            plans.append(plan_error(result.id, first_error(result)))
            continue
        fetched = live[unit.id]
        if fetched.error is not None or fetched.live is None:
            assert fetched.error is not None
            plans.append(
                plan_error(
                    unit.id, fetched.error, cluster=unit.config.cluster, service=unit.config.service
                )
            )
            continue
        plans.append(plan_of(unit, fetched.live, applied.get(unit.id)))
    read = {unit_id: r.live for unit_id, r in live.items() if r.live is not None}
    return PlannedRevision(Plan(files.revision, tuple(plans)), rendered, read)


async def _applied_units(
    units: Sequence[DesiredUnit],
    live: Mapping[str, LiveResult],
    files: RepoFiles,
    aws: Aws,
    repo_path: str | None,
    renders: RenderCache | None = None,
) -> dict[str, DesiredUnit]:
    applied: dict[str, DesiredUnit] = {}
    wanted: dict[str, list[str]] = {}
    for unit in units:
        fetched = live.get(unit.id)
        if fetched is None or fetched.live is None or not fetched.live.exists:
            continue
        revision = fetched.live.tags.get(TAG_REVISION)
        if revision is None:
            continue
        if revision == files.revision:
            applied[unit.id] = unit
        elif repo_path is not None:
            wanted.setdefault(revision, []).append(unit.id)

    for revision, ids in wanted.items():
        try:
            earlier = open_repo_files(repo_path or ".", revision)
            present = [i for i in ids if i in set(discover_units(earlier))]
            results = await render_units(earlier, aws, present, cache=renders) if present else []
            for rendered in results:
                if rendered.ok and rendered.unit is not None:
                    applied[rendered.id] = rendered.unit
        except SourceError as exc:
            # A revision gone from history (force-push): without it, every
            # difference is put down to change, which is the safe reading.
            log.info("applied revision unreadable", extra={"revision": revision, "error": str(exc)})
    return applied
