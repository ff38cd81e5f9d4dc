"""Commit statuses: what they say, and posting each state once.

A status is built with :func:`rollout_status`, :func:`drift_status` or
:func:`invalid_status` (contexts ``ecs/<unit>`` and ``ecs-drift/<unit>``,
descriptions within 140 characters, a link to the ECS console), then handed to
a :class:`StatusReporter`, which sits in front of any :class:`StatusProvider`:
it maps the state to the nearest one the host has, skips a status the host
already shows, and retries the host's transient failures on the given clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import quote

from reconciler.clock import Clock
from reconciler.errors import ReconcilerError
from reconciler.model import (
    DRIFT_CONTEXT_PREFIX,
    STATUS_CONTEXT_PREFIX,
    STATUS_DESCRIPTION_LIMIT,
    CommitState,
    CommitStatus,
)
from reconciler.report.delivery import RetryPolicy, deliver
from reconciler.track import Progress

log = logging.getLogger(__name__)


def state_named(name: object) -> CommitState | None:
    """Our state spelled ``name`` (GitHub's and Gitea's spelling), or None."""
    try:
        return CommitState(str(name))
    except ValueError:
        return None


def rollout_context(unit_id: str) -> str:
    return f"{STATUS_CONTEXT_PREFIX}{unit_id}"


def drift_context(unit_id: str) -> str:
    return f"{DRIFT_CONTEXT_PREFIX}{unit_id}"


def trim_description(text: str, limit: int = STATUS_DESCRIPTION_LIMIT) -> str:
    """One line within ``limit`` characters, cut at a word with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def short_task_definition(task_definition: str) -> str:
    """``arn:aws:ecs:...:task-definition/api:12`` -> ``api:12``."""
    return task_definition.rsplit("/", 1)[-1]


def describe_rollout(
    summary: str,
    *,
    strategy: str | None = None,
    stage: str | None = None,
    task_definition: str | None = None,
) -> str:
    """``Rolling out: rolling, stage IN_PROGRESS, task definition api:12``, trimmed.

    ``summary`` says what happened (``Rolled out``, ``Rolled back by the
    circuit breaker``); the rest says how, so a reader of the commit knows which
    strategy ran, where it stopped and which task definition revision it ran.
    """
    details = []
    if strategy:
        details.append(strategy)
    if stage:
        details.append(f"stage {stage}")
    if task_definition:
        details.append(f"task definition {short_task_definition(task_definition)}")
    text = f"{summary}: {', '.join(details)}" if details else summary
    return trim_description(text)


_COUNTDOWN = re.compile(r", \d+ min left$")


class StageNews:
    """Which stage of each traffic-shifting rollout its commit was last told.

    A blue/green, linear, canary or CodeDeploy rollout names its stage on the
    commit once per stage (``blue/green: bake time, 12 min left``); the countdown
    within a stage, and a rolling deployment's progress, are not news.
    """

    def __init__(self) -> None:
        self._told: dict[str, str] = {}

    def is_news(self, progress: Progress) -> bool:
        if ":" not in progress.stage:
            return False  # rolling: no stages, only tasks coming and going
        stage = _COUNTDOWN.sub("", progress.stage)
        if self._told.get(progress.unit) == stage:
            return False
        self._told[progress.unit] = stage
        return True


def describe_drift(paths: Iterable[str]) -> str:
    """Names the drifted field paths (never their values), as many as fit."""
    names = sorted(set(paths))
    if not names:
        return "In sync with the revision last applied"
    head = f"Drift: {len(names)} field{'s' if len(names) != 1 else ''} changed outside git: "
    return trim_description(head + ", ".join(names))


def console_url(region: str, cluster: str, service: str, deployment_id: str | None = None) -> str:
    """The ECS console page of a deployment, or of the service when there is none."""
    base = (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster, safe='')}"
        f"/services/{quote(service, safe='')}"
    )
    if deployment_id:
        return f"{base}/deployments/{quote(deployment_id, safe='')}?region={region}"
    return f"{base}?region={region}"


def rollout_status(
    revision: str,
    unit_id: str,
    state: CommitState,
    summary: str,
    *,
    strategy: str | None = None,
    stage: str | None = None,
    task_definition: str | None = None,
    target_url: str | None = None,
) -> CommitStatus:
    return CommitStatus(
        revision=revision,
        context=rollout_context(unit_id),
        state=state,
        description=describe_rollout(
            summary, strategy=strategy, stage=stage, task_definition=task_definition
        ),
        target_url=target_url,
    )


def drift_status(
    revision: str, unit_id: str, paths: Iterable[str], *, target_url: str | None = None
) -> CommitStatus:
    """``failure`` naming the drifted paths, or ``success`` when none are left."""
    names = tuple(paths)
    return CommitStatus(
        revision=revision,
        context=drift_context(unit_id),
        state=CommitState.FAILURE if names else CommitState.SUCCESS,
        description=describe_drift(names),
        target_url=target_url,
    )


def invalid_status(revision: str, unit_id: str, problem: str) -> CommitStatus:
    """``error``: the unit cannot be rendered at this revision, so nothing rolls out."""
    return CommitStatus(
        revision=revision,
        context=rollout_context(unit_id),
        state=CommitState.ERROR,
        description=trim_description(f"Invalid unit, not deployed: {problem}"),
    )


class StatusProvider(Protocol):
    """Where statuses go: a git host's API, or notes in the watched repository.

    ``post`` and ``statuses`` raise :class:`~reconciler.report.delivery.ReportUnavailable`
    for what may work later and :class:`~reconciler.report.delivery.ReportRejected`
    for what will not. ``statuses`` returns the latest status per context.
    """

    name: str

    def nearest_state(self, state: CommitState) -> CommitState:
        """The state the host can show for ``state`` (``error`` where it has none)."""
        ...

    async def post(self, status: CommitStatus) -> None: ...

    async def statuses(self, revision: str) -> list[CommitStatus]: ...

    async def close(self) -> None: ...


Shown = tuple[CommitState, str]


class StatusReporter:
    """Posts statuses through a provider, each change once, retried when the host is busy.

    What the host shows per (revision, context) is remembered: a status whose
    state and description equal it is not posted again. On the first status
    for a revision the host's own statuses seed that memory, so a restarted
    reconciler does not post again what its predecessor posted. Memory is kept
    for the ``remembered`` most recent revisions.
    """

    def __init__(
        self,
        provider: StatusProvider,
        *,
        clock: Clock,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
        remembered: int = 512,
    ) -> None:
        self.provider = provider
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._rng = rng
        self._remembered = remembered
        self._shown: OrderedDict[str, dict[str, Shown]] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._seeding: dict[str, asyncio.Lock] = {}

    async def report(self, status: CommitStatus) -> bool:
        """Post ``status`` unless the host shows it already; True when posted."""
        state = self.provider.nearest_state(status.state)
        status = CommitStatus(
            revision=status.revision,
            context=status.context,
            state=state,
            description=trim_description(status.description),
            target_url=status.target_url,
        )
        lock = self._locks.setdefault((status.revision, status.context), asyncio.Lock())
        async with lock:
            shown = await self._shown_on(status.revision)
            if shown.get(status.context) == (status.state, status.description):
                log.debug(
                    "status already shown",
                    extra={"revision": status.revision, "context": status.context},
                )
                return False
            await deliver(
                lambda: self.provider.post(status),
                what=f"status {status.context} {status.state} on {status.revision[:12]}",
                clock=self._clock,
                policy=self._retry,
                rng=self._rng,
            )
            shown[status.context] = (status.state, status.description)
            log.info(
                "status posted",
                extra={
                    "provider": self.provider.name,
                    "revision": status.revision,
                    "context": status.context,
                    "state": str(status.state),
                },
            )
            return True

    async def shown(self, revision: str, context: str) -> CommitState | None:
        """The state the host shows for ``context`` on ``revision``, if any."""
        found = (await self._shown_on(revision)).get(context)
        return found[0] if found else None

    async def _shown_on(self, revision: str) -> dict[str, Shown]:
        async with self._seeding.setdefault(revision, asyncio.Lock()):
            if revision in self._shown:
                self._shown.move_to_end(revision)
                return self._shown[revision]
            shown = await self._read_host(revision)
            self._shown[revision] = shown
            while len(self._shown) > self._remembered:
                forgotten, _ = self._shown.popitem(last=False)
                self._seeding.pop(forgotten, None)
                for key in [k for k in self._locks if k[0] == forgotten]:
                    del self._locks[key]
            return shown

    async def _read_host(self, revision: str) -> dict[str, Shown]:
        # A host we cannot read from still takes posts: start from nothing known,
        # at worst posting once more what it already shows.
        try:
            existing = await deliver(
                lambda: self.provider.statuses(revision),
                what=f"statuses of {revision[:12]}",
                clock=self._clock,
                policy=self._retry,
                rng=self._rng,
            )
        except ReconcilerError as e:
            log.warning(
                "statuses not readable, posting without them",
                extra={"provider": self.provider.name, "revision": revision, "cause": str(e)},
            )
            return {}
        return {s.context: (self.provider.nearest_state(s.state), s.description) for s in existing}
