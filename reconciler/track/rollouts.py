"""Follow rollouts until ECS says they ended, or their time is up.

One poller serves every rollout in flight: each round describes the services
being tracked ten at a time (as DescribeServices allows), decides which
rollouts ended, reports new service events, then lets time pass on the clock
it was given. In tests that clock is the emulator's, so waiting costs no wall
time and every rollout sees the same simulated minutes.

A rollout ends when:

- its deployment is COMPLETED (wait ``deployed``), and, for ``stable``, the
  service has that one deployment left with every desired task running;
- its deployment FAILED, or the circuit breaker rolled it back: the reason is
  what ECS says (the rollout state reason, stopped tasks' reasons, events);
- the unit's timeout passed: the rollout is stopped with rollback
  (StopServiceDeployment) where ECS allows, and reported as failed.

Blue/green, linear and canary rollouts are read from their service deployment
instead (DescribeServiceDeployments, twenty at a time): they succeed when it is
SUCCESSFUL, after its lifecycle stages and bake time, and fail when it was
rolled back or stopped. CodeDeploy rollouts are read from the CodeDeploy
deployment (BatchGetDeployments, twenty-five at a time) until Succeeded, Failed
or Stopped; past the timeout they are stopped with auto-rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.clock import Clock
from reconciler.errors import Reason, ReconcilerError
from reconciler.model import (
    CODE_DEPLOY,
    NATIVE_STRATEGIES,
    JsonObject,
    Outcome,
    OutcomeResult,
    Rollout,
    WaitMode,
)
from reconciler.track.stages import (
    Verdict,
    code_deploy_failure,
    describe_code_deploy,
    describe_service_deployment,
    judge_code_deploy,
    judge_service_deployment,
    service_deployment_failure,
    strategy_words,
)

log = logging.getLogger(__name__)

SERVICES_PER_CALL = 10
SERVICE_DEPLOYMENTS_PER_CALL = 20
CODE_DEPLOYMENTS_PER_CALL = 25
POLL_INTERVAL = 5.0
"""Seconds between rounds: ECS changes a rollout's state a few times a minute."""

STOPPED_TASKS_READ = 10


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one rollout stands, for a live view."""

    unit: str
    stage: str
    running: int
    desired: int
    elapsed: float


EventCallback = Callable[[str, str], None]
"""``(unit, message)`` for each new service event."""

ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class _Tracked:
    rollout: Rollout
    future: asyncio.Future[Outcome]
    seen_events: set[str] = field(default_factory=set)
    baseline: datetime.datetime | None = None
    service_deployment_arn: str | None = None
    stage: str | None = None
    stage_seen_at: float = 0.0

    def stage_seconds(self, stage: str | None, now: float) -> float:
        """Seconds since this lifecycle stage was first seen."""
        if stage != self.stage:
            self.stage, self.stage_seen_at = stage, now
        return now - self.stage_seen_at


def _target(rollout: Rollout) -> AwsTarget:
    return AwsTarget(rollout.region, rollout.role_arn, rollout.external_id)


class RolloutTracker:
    """Tracks any number of rollouts with one poller on one clock.

    Use ``await tracker.track(rollout)`` from as many tasks as there are
    rollouts; the poller runs only while something is being tracked. Call
    ``close()`` when done.
    """

    def __init__(
        self,
        aws: Aws,
        clock: Clock,
        *,
        interval: float = POLL_INTERVAL,
        on_event: EventCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._aws = aws
        self._clock = clock
        self._interval = interval
        self._on_event = on_event
        self._on_progress = on_progress
        self._tracked: dict[str, _Tracked] = {}
        self._poller: asyncio.Task[None] | None = None

    async def track(self, rollout: Rollout) -> Outcome:
        """Wait until the rollout ends; its outcome says how."""
        if rollout.wait is WaitMode.NONE:
            return _outcome(rollout, OutcomeResult.STARTED, "rollout started; not waited for")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._tracked[rollout.unit] = _Tracked(
            rollout, future, service_deployment_arn=rollout.service_deployment_arn
        )
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_until_idle(), name="rollout-poller")
        try:
            return await future
        finally:
            self._tracked.pop(rollout.unit, None)

    async def close(self) -> None:
        """Stop the poller; every rollout still tracked is left as ECS has it."""
        poller, self._poller = self._poller, None
        if poller is not None and not poller.done():
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _poll_until_idle(self) -> None:
        while self._tracked:
            try:
                await self._poll_round()
            except Exception as exc:  # the poller must outlive one bad round
                for tracked in list(self._tracked.values()):
                    if not tracked.future.done():
                        tracked.future.set_exception(exc)
                return
            if any(not t.future.done() for t in self._tracked.values()):
                await self._clock.sleep(self._interval)
            else:
                # Let the waiters take their outcomes before deciding we are idle.
                await asyncio.sleep(0)

    async def _poll_round(self) -> None:
        pending = [t for t in self._tracked.values() if not t.future.done()]
        native = [t for t in pending if t.rollout.strategy in NATIVE_STRATEGIES]
        code_deploy = [t for t in pending if t.rollout.strategy == CODE_DEPLOY]
        rolling = [t for t in pending if t not in native and t not in code_deploy]
        await asyncio.gather(
            self._poll_rolling(rolling),
            self._poll_native(native),
            self._poll_code_deploy(code_deploy),
        )

    async def _poll_rolling(self, pending: Sequence[_Tracked]) -> None:
        groups: dict[tuple[AwsTarget, str], list[_Tracked]] = {}
        for tracked in pending:
            key = (_target(tracked.rollout), tracked.rollout.cluster)
            groups.setdefault(key, []).append(tracked)
        batches = [
            (target, cluster, members[i : i + SERVICES_PER_CALL])
            for (target, cluster), members in groups.items()
            for i in range(0, len(members), SERVICES_PER_CALL)
        ]
        await asyncio.gather(*(self._poll_batch(t, c, b) for t, c, b in batches))

    async def _poll_batch(self, target: AwsTarget, cluster: str, batch: Sequence[_Tracked]) -> None:
        try:
            response = await self._aws.call(
                "ecs",
                "describe_services",
                target,
                cluster=cluster,
                services=[t.rollout.service for t in batch],
            )
        except ReconcilerError as exc:
            if exc.transient:
                return  # the next round asks again
            for tracked in batch:
                tracked.future.set_result(
                    _outcome(tracked.rollout, OutcomeResult.FAILED, str(exc), str(exc.reason))
                )
            return
        found = {s["serviceName"]: s for s in response.get("services", [])}
        now = self._clock.now()
        for tracked in batch:
            service = found.get(tracked.rollout.service)
            if service is None:
                tracked.future.set_result(
                    _outcome(
                        tracked.rollout,
                        OutcomeResult.FAILED,
                        f"service {tracked.rollout.service} disappeared during its rollout",
                        str(Reason.ROLLOUT_FAILED),
                    )
                )
                continue
            self._report_events(tracked, service)
            outcome = await self._judge(tracked.rollout, service, now, target)
            if outcome is not None:
                tracked.future.set_result(outcome)

    async def _poll_native(self, pending: Sequence[_Tracked]) -> None:
        """Blue/green, linear and canary rollouts, through their service deployments."""
        await asyncio.gather(*(self._find_service_deployment(t) for t in pending))
        now = self._clock.now()
        lost = [t for t in pending if t.service_deployment_arn is None and not t.future.done()]
        for tracked in lost:
            if now >= tracked.rollout.deadline:
                tracked.future.set_result(
                    _outcome(
                        tracked.rollout,
                        OutcomeResult.FAILED,
                        f"ECS listed no service deployment for {tracked.rollout.service} "
                        f"within {tracked.rollout.deadline - tracked.rollout.started_at:.0f}s",
                        str(Reason.ROLLOUT_TIMEOUT),
                    )
                )
        known = [t for t in pending if t.service_deployment_arn is not None]
        batches = _batches(known, SERVICE_DEPLOYMENTS_PER_CALL)
        await asyncio.gather(*(self._poll_native_batch(t, b) for t, b in batches))

    async def _find_service_deployment(self, tracked: _Tracked) -> None:
        """The newest service deployment of the service, when apply did not say which."""
        if tracked.service_deployment_arn is not None:
            return
        rollout = tracked.rollout
        try:
            listed = await self._aws.call(
                "ecs",
                "list_service_deployments",
                _target(rollout),
                cluster=rollout.cluster,
                service=rollout.service,
            )
        except ReconcilerError as exc:
            _fail_batch([tracked], exc)
            return
        dated = [d for d in listed.get("serviceDeployments") or () if d.get("createdAt")]
        if dated:
            newest = max(dated, key=lambda d: d["createdAt"])
            tracked.service_deployment_arn = str(newest["serviceDeploymentArn"])

    async def _poll_native_batch(self, target: AwsTarget, batch: Sequence[_Tracked]) -> None:
        try:
            response = await self._aws.call(
                "ecs",
                "describe_service_deployments",
                target,
                serviceDeploymentArns=[str(t.service_deployment_arn) for t in batch],
            )
        except ReconcilerError as exc:
            _fail_batch(batch, exc)
            return
        found = {d["serviceDeploymentArn"]: d for d in response.get("serviceDeployments", [])}
        now = self._clock.now()
        for tracked in batch:
            deployment = found.get(str(tracked.service_deployment_arn))
            if deployment is None:
                tracked.future.set_result(
                    _outcome(
                        tracked.rollout,
                        OutcomeResult.FAILED,
                        f"service deployment {tracked.service_deployment_arn} is unknown to ECS",
                        str(Reason.ROLLOUT_FAILED),
                    )
                )
                continue
            outcome = await self._judge_native(tracked, deployment, now, target)
            if outcome is not None:
                tracked.future.set_result(outcome)

    async def _judge_native(
        self, tracked: _Tracked, deployment: JsonObject, now: float, target: AwsTarget
    ) -> Outcome | None:
        rollout = tracked.rollout
        elapsed = now - rollout.started_at
        stage_seconds = tracked.stage_seconds(deployment.get("lifecycleStage"), now)
        if self._on_progress is not None:
            green = deployment.get("targetServiceRevision") or {}
            self._on_progress(
                Progress(
                    rollout.unit,
                    describe_service_deployment(deployment, stage_seconds),
                    int(green.get("runningTaskCount", 0)),
                    int(green.get("requestedTaskCount", 0)),
                    elapsed,
                )
            )

        verdict = judge_service_deployment(deployment)
        if verdict is Verdict.SUCCEEDED:
            return _succeeded(rollout, elapsed)
        if verdict is Verdict.FAILED:
            return _outcome(
                rollout,
                OutcomeResult.FAILED,
                service_deployment_failure(deployment),
                str(Reason.ROLLOUT_FAILED),
            )
        if now < rollout.deadline:
            return None
        if verdict is Verdict.ENDING:
            # Already rolling back or stopping: nothing left to stop.
            return _outcome(
                rollout,
                OutcomeResult.FAILED,
                service_deployment_failure(deployment),
                str(Reason.ROLLOUT_FAILED),
            )
        stopped = await self._stop_service_deployment(
            rollout, str(deployment["serviceDeploymentArn"]), target
        )
        return _outcome(
            rollout,
            OutcomeResult.FAILED,
            f"rollout did not finish within {rollout.deadline - rollout.started_at:.0f}s "
            f"({describe_service_deployment(deployment, stage_seconds)}); {stopped}",
            str(Reason.ROLLOUT_TIMEOUT),
        )

    async def _poll_code_deploy(self, pending: Sequence[_Tracked]) -> None:
        """CodeDeploy rollouts, through their CodeDeploy deployments."""
        batches = _batches(pending, CODE_DEPLOYMENTS_PER_CALL)
        await asyncio.gather(*(self._poll_code_deploy_batch(t, b) for t, b in batches))

    async def _poll_code_deploy_batch(self, target: AwsTarget, batch: Sequence[_Tracked]) -> None:
        try:
            response = await self._aws.call(
                "codedeploy",
                "batch_get_deployments",
                target,
                deploymentIds=[t.rollout.deployment_id for t in batch],
            )
        except ReconcilerError as exc:
            _fail_batch(batch, exc)
            return
        found = {d["deploymentId"]: d for d in response.get("deploymentsInfo", [])}
        now = self._clock.now()
        for tracked in batch:
            rollout = tracked.rollout
            deployment = found.get(rollout.deployment_id)
            if deployment is None:
                tracked.future.set_result(
                    _outcome(
                        rollout,
                        OutcomeResult.FAILED,
                        f"CodeDeploy deployment {rollout.deployment_id} is unknown to CodeDeploy",
                        str(Reason.ROLLOUT_FAILED),
                    )
                )
                continue
            outcome = await self._judge_code_deploy(rollout, deployment, now, target)
            if outcome is not None:
                tracked.future.set_result(outcome)

    async def _judge_code_deploy(
        self, rollout: Rollout, deployment: JsonObject, now: float, target: AwsTarget
    ) -> Outcome | None:
        elapsed = now - rollout.started_at
        if self._on_progress is not None:
            overview = deployment.get("deploymentOverview") or {}
            self._on_progress(
                Progress(
                    rollout.unit,
                    describe_code_deploy(deployment),
                    int(overview.get("Succeeded", 0)),
                    sum(int(v) for v in overview.values()),
                    elapsed,
                )
            )
        verdict = judge_code_deploy(deployment)
        if verdict is Verdict.SUCCEEDED:
            return _succeeded(rollout, elapsed)
        if verdict is Verdict.FAILED:
            return _outcome(
                rollout,
                OutcomeResult.FAILED,
                code_deploy_failure(deployment),
                str(Reason.ROLLOUT_FAILED),
            )
        if now < rollout.deadline:
            return None
        stopped = await self._stop_code_deploy(rollout, target)
        return _outcome(
            rollout,
            OutcomeResult.FAILED,
            f"rollout did not finish within {rollout.deadline - rollout.started_at:.0f}s "
            f"({describe_code_deploy(deployment)}); {stopped}",
            str(Reason.ROLLOUT_TIMEOUT),
        )

    async def _stop_code_deploy(self, rollout: Rollout, target: AwsTarget) -> str:
        try:
            await self._aws.call(
                "codedeploy",
                "stop_deployment",
                target,
                deploymentId=rollout.deployment_id,
                autoRollbackEnabled=True,
            )
        except ReconcilerError as exc:
            log.warning(
                "rollout could not be stopped", extra={"unit": rollout.unit, "error": str(exc)}
            )
            return f"stopping it failed: {exc}"
        log.info("CodeDeploy deployment stopped with rollback", extra={"unit": rollout.unit})
        return "stopped and rolled back"

    async def _stop_service_deployment(self, rollout: Rollout, arn: str, target: AwsTarget) -> str:
        """Stop a service deployment with rollback; say what happened."""
        try:
            await self._aws.call(
                "ecs",
                "stop_service_deployment",
                target,
                serviceDeploymentArn=arn,
                stopType="ROLLBACK",
            )
        except ReconcilerError as exc:
            log.warning(
                "rollout could not be stopped", extra={"unit": rollout.unit, "error": str(exc)}
            )
            return f"stopping it failed: {exc}"
        log.info("rollout stopped with rollback", extra={"unit": rollout.unit})
        return "stopped and rolled back"

    def _report_events(self, tracked: _Tracked, service: JsonObject) -> None:
        deployment = _deployment(service, tracked.rollout.deployment_id)
        if tracked.baseline is None and deployment is not None:
            tracked.baseline = deployment.get("createdAt")
        for event in reversed(service.get("events") or []):
            if event["id"] in tracked.seen_events:
                continue
            tracked.seen_events.add(event["id"])
            created = event.get("createdAt")
            if tracked.baseline is not None and created is not None and created < tracked.baseline:
                continue
            if self._on_event is not None:
                self._on_event(tracked.rollout.unit, str(event.get("message", "")))

    async def _judge(
        self, rollout: Rollout, service: JsonObject, now: float, target: AwsTarget
    ) -> Outcome | None:
        deployment = _deployment(service, rollout.deployment_id)
        elapsed = now - rollout.started_at
        state = deployment.get("rolloutState", "") if deployment else "GONE"
        if self._on_progress is not None:
            self._on_progress(
                Progress(
                    rollout.unit,
                    str(state).lower().replace("_", " "),
                    int(service.get("runningCount", 0)),
                    int(service.get("desiredCount", 0)),
                    elapsed,
                )
            )

        # Failed, or rolled back and gone: ECS says why.
        if deployment is None or state == "FAILED" or deployment.get("status") == "INACTIVE":
            why = await self._failure_reason(rollout, service, deployment, target)
            return _outcome(rollout, OutcomeResult.FAILED, why, str(Reason.ROLLOUT_FAILED))

        if state == "COMPLETED" and _done(rollout.wait, service):
            reused = "reused " if rollout.task_definition_reused else ""
            return _outcome(
                rollout,
                OutcomeResult.SUCCEEDED,
                f"{reused}{rollout.task_definition_arn.rsplit('/', 1)[-1]} "
                f"{'stable' if rollout.wait is WaitMode.STABLE else 'deployed'} "
                f"after {elapsed:.0f}s",
            )

        if now >= rollout.deadline:
            stopped = await self._stop(rollout, service, target)
            return _outcome(
                rollout,
                OutcomeResult.FAILED,
                f"rollout did not finish within {rollout.deadline - rollout.started_at:.0f}s "
                f"({state.lower().replace('_', ' ')}, {service.get('runningCount', 0)} of "
                f"{service.get('desiredCount', 0)} tasks running); {stopped}",
                str(Reason.ROLLOUT_TIMEOUT),
            )
        return None

    async def _stop(self, rollout: Rollout, service: JsonObject, target: AwsTarget) -> str:
        """Stop the rollout with rollback where ECS allows; say what happened."""
        arn = service.get("currentServiceDeployment")
        if not arn:
            return "ECS reports no service deployment to stop"
        return await self._stop_service_deployment(rollout, str(arn), target)

    async def _failure_reason(
        self,
        rollout: Rollout,
        service: JsonObject,
        deployment: JsonObject | None,
        target: AwsTarget,
    ) -> str:
        """What ECS says went wrong: the rollout's reason, then its tasks' reasons."""
        parts: list[str] = []
        if deployment is not None and deployment.get("rolloutStateReason"):
            parts.append(str(deployment["rolloutStateReason"]))
        else:
            primary: JsonObject = next(
                (d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {}
            )
            if primary.get("taskDefinition") != rollout.task_definition_arn:
                parts.append(
                    f"rolled back to {str(primary.get('taskDefinition', '?')).rsplit('/', 1)[-1]}"
                )
        parts.extend(await self._stopped_reasons(rollout, target))
        if len(parts) < 2:
            parts.extend(_failure_events(service.get("events") or [])[:1])
        said = dict.fromkeys(part.rstrip(". ") for part in parts if part)
        return "; ".join(said) or "the rollout failed; ECS gave no reason"

    async def _stopped_reasons(self, rollout: Rollout, target: AwsTarget) -> list[str]:
        try:
            listed = await self._aws.call(
                "ecs",
                "list_tasks",
                target,
                cluster=rollout.cluster,
                serviceName=rollout.service,
                desiredStatus="STOPPED",
                maxResults=STOPPED_TASKS_READ,
            )
            arns = listed.get("taskArns", [])
            if not arns:
                return []
            described = await self._aws.call(
                "ecs", "describe_tasks", target, cluster=rollout.cluster, tasks=arns
            )
        except ReconcilerError as exc:
            log.info("stopped tasks unreadable", extra={"unit": rollout.unit, "error": str(exc)})
            return []
        reasons = []
        for task in described.get("tasks", []):
            if task.get("taskDefinitionArn") != rollout.task_definition_arn:
                continue
            reason = task.get("stoppedReason")
            containers = [c["reason"] for c in task.get("containers", []) if c.get("reason")]
            if reason:
                reasons.append(f"task stopped: {reason}")
            reasons.extend(f"container: {r}" for r in containers)
        return list(dict.fromkeys(reasons))[:3]


def _deployment(service: JsonObject, deployment_id: str) -> JsonObject | None:
    for deployment in service.get("deployments") or ():
        if deployment.get("id") == deployment_id:
            return dict(deployment)
    return None


def _done(wait: WaitMode, service: JsonObject) -> bool:
    if wait is WaitMode.DEPLOYED:
        return True
    deployments = service.get("deployments") or []
    return len(deployments) == 1 and service.get("runningCount") == service.get("desiredCount")


def _failure_events(events: Iterable[Any]) -> list[str]:
    words = ("fail", "unable", "error", "rolling back", "rolled back", "circuit breaker")
    return [
        str(e.get("message"))
        for e in events
        if any(w in str(e.get("message", "")).lower() for w in words)
    ]


def _outcome(
    rollout: Rollout, result: OutcomeResult, message: str, reason: str | None = None
) -> Outcome:
    return Outcome(
        unit=rollout.unit,
        result=result,
        reason=reason,
        message=message,
        revision=rollout.revision,
        cluster=rollout.cluster,
        service=rollout.service,
        task_definition_arn=rollout.task_definition_arn,
        deployment_id=rollout.deployment_id,
        changed_paths=rollout.changed_paths,
    )


def _fail_batch(batch: Sequence[_Tracked], exc: ReconcilerError) -> bool:
    """End every rollout of a batch whose read failed for good; False when it may retry."""
    if exc.transient:
        return False
    for tracked in batch:
        if not tracked.future.done():
            tracked.future.set_result(
                _outcome(tracked.rollout, OutcomeResult.FAILED, str(exc), str(exc.reason))
            )
    return True


def _batches(pending: Sequence[_Tracked], size: int) -> list[tuple[AwsTarget, list[_Tracked]]]:
    groups: dict[AwsTarget, list[_Tracked]] = {}
    for tracked in pending:
        groups.setdefault(_target(tracked.rollout), []).append(tracked)
    return [
        (target, members[i : i + size])
        for target, members in groups.items()
        for i in range(0, len(members), size)
    ]


def _succeeded(rollout: Rollout, elapsed: float) -> Outcome:
    return _outcome(
        rollout,
        OutcomeResult.SUCCEEDED,
        f"{rollout.task_definition_arn.rsplit('/', 1)[-1]} deployed "
        f"{strategy_words(rollout.strategy)} after {elapsed:.0f}s",
    )
