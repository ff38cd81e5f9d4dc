"""Alerts to a webhook: new drift, failed rollouts and invalid revisions, once each.

A condition is identified by its unit, its kind and its revision or
fingerprint (for drift, a digest of the drifted paths): the notifier sends the
first alert for it and stays quiet for the same condition after that, until
:meth:`AlertNotifier.clear` says it is over, so that it alerts again if it comes
back. The body is generic JSON, or Slack-compatible (``{"text": ...}``, with
``blocks`` if asked) for Slack and the chat tools that accept its webhooks.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.clock import Clock
from reconciler.report.delivery import ReportMisconfigured, RetryPolicy, deliver
from reconciler.report.http import JsonHttp

log = logging.getLogger(__name__)


class AlertKind(enum.StrEnum):
    DRIFT = "drift"
    ROLLOUT_FAILED = "rollout_failed"
    INVALID_REVISION = "invalid_revision"


TITLES = {
    AlertKind.DRIFT: "Drift",
    AlertKind.ROLLOUT_FAILED: "Rollout failed",
    AlertKind.INVALID_REVISION: "Invalid revision",
}


class AlertFormat(enum.StrEnum):
    GENERIC = "generic"
    SLACK = "slack"


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition worth a person's attention.

    ``fingerprint`` tells one occurrence from the next (the drifted paths'
    digest); the revision is used when it is empty. ``paths`` are field paths,
    never values.
    """

    kind: AlertKind
    unit: str
    revision: str
    summary: str
    fingerprint: str = ""
    paths: tuple[str, ...] = ()
    target_url: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.unit, str(self.kind), self.fingerprint or self.revision)


def generic_body(alert: Alert) -> dict[str, Any]:
    return {
        "kind": str(alert.kind),
        "unit": alert.unit,
        "revision": alert.revision,
        "summary": alert.summary,
        "fingerprint": alert.fingerprint or alert.revision,
        "paths": list(alert.paths),
        "target_url": alert.target_url,
    }


def slack_text(alert: Alert) -> str:
    text = f"*{TITLES[alert.kind]}* in `{alert.unit}` at `{alert.revision[:12]}`: {alert.summary}"
    if alert.paths:
        text += "\nFields: " + ", ".join(f"`{p}`" for p in alert.paths)
    if alert.target_url:
        text += f"\n<{alert.target_url}|Open in the ECS console>"
    return text


def slack_body(alert: Alert, *, blocks: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"text": slack_text(alert)}
    if blocks:
        body["blocks"] = [{"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}]
    return body


class AlertNotifier:
    """Posts each new condition's alert to ``url``, retried like statuses."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        format: AlertFormat = AlertFormat.GENERIC,
        blocks: bool = False,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ReportMisconfigured(
                f"alert webhook {url!r} is not an http(s) URL; give the webhook's full URL"
            )
        self._http = JsonHttp(url, {}, wall_time=wall_time, secret_path=True)
        self._clock = clock
        self._format = format
        self._blocks = blocks
        self._retry = retry or RetryPolicy()
        self._rng = rng
        self._sent: set[tuple[str, str, str]] = set()

    async def notify(self, alert: Alert) -> bool:
        """Send ``alert`` unless its condition was alerted already; True when sent."""
        if alert.key in self._sent:
            return False
        if self._format is AlertFormat.SLACK:
            body = slack_body(alert, blocks=self._blocks)
        else:
            body = generic_body(alert)
        await deliver(
            lambda: self._http.request("POST", self._http.url(""), body=body),
            what=f"alert {alert.kind} for {alert.unit}",
            clock=self._clock,
            policy=self._retry,
            rng=self._rng,
        )
        self._sent.add(alert.key)
        log.info("alert sent", extra={"unit": alert.unit, "kind": str(alert.kind)})
        return True

    def clear(self, unit: str, kind: AlertKind) -> None:
        """The condition is over (drift healed, a new rollout succeeded)."""
        self._sent = {k for k in self._sent if not (k[0] == unit and k[1] == str(kind))}

    async def close(self) -> None:
        await self._http.close()
