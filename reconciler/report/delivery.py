"""Getting a status or an alert to a host that may be busy, limiting or down.

A host answers in one of three ways that matter here: it took the message; it
may take it later (network error, 429, 5xx, a rate limit), raised as
:class:`ReportUnavailable` with the wait the host asked for, if any; or it will
never take it as sent (a bad token, an unknown repository, GitHub's limit of
1000 statuses per commit and context), raised as :class:`ReportRejected`.
:func:`deliver` retries only the first kind, sleeping on the injected clock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.clock import Clock
from reconciler.errors import PermanentError, Reason, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReportUnavailable(TransientError):
    """The host may take the message later; ``retry_after`` is its own hint (s)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(Reason.REPORT_UNAVAILABLE, message)
        self.retry_after = retry_after


class ReportRejected(PermanentError):
    """The host refused the message as sent; retrying it gives the same answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(Reason.REPORT_REJECTED, message)
        self.status = status


class ReportMisconfigured(PermanentError):
    """A status provider or notifier cannot be built from the settings given."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.REPORT_MISCONFIGURED, message)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff, bounded in attempts and in any single wait.

    ``max_wait`` caps how long one wait may be, even when the host asks for
    more (a primary rate limit can reset an hour away): past it we give up and
    let the caller report the status on its next cycle instead of stalling.
    """

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_wait: float = 900.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Half fixed, half random: never zero, never in lockstep with other replicas."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** (attempt - 1)))
        return ceiling / 2 + ceiling / 2 * rng()


async def deliver(
    send: Callable[[], Awaitable[T]],
    *,
    what: str,
    clock: Clock,
    policy: RetryPolicy,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``send`` until it succeeds, retrying :class:`ReportUnavailable` only.

    ``what`` names the message for logs and errors (``status ecs/api on 1a2b3c4``).
    """
    attempt = 0
    while True:
        try:
            return await send()
        except ReportUnavailable as error:
            attempt += 1
            if attempt >= policy.attempts:
                raise ReportUnavailable(
                    f"{what}: host still unavailable after {attempt} attempts ({error}); "
                    "it will be tried again on the next cycle"
                ) from error
            wait = (
                error.retry_after if error.retry_after is not None else policy.delay(attempt, rng)
            )
            if wait > policy.max_wait:
                raise ReportUnavailable(
                    f"{what}: host asks to wait {wait:.0f}s, longer than the "
                    f"{policy.max_wait:.0f}s we wait ({error}); it will be tried again "
                    "on the next cycle",
                    retry_after=wait,
                ) from error
            log.info(
                "delivery retried",
                extra={
                    "what": what,
                    "attempt": attempt,
                    "wait": round(wait, 3),
                    "cause": str(error),
                },
            )
            await clock.sleep(wait)
