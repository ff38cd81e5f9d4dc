"""Webhook alerts: one per new condition, generic or Slack-shaped, retried like statuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from reconciler.report import (
    Alert,
    AlertFormat,
    AlertKind,
    AlertNotifier,
    ReportMisconfigured,
    ReportRejected,
    RetryPolicy,
)
from tests.conftest import run_async
from tests.report.fakes import FakeClock, fixed_wall_time, half

REVISION = "9fceb02d0ae598e95dc970b74767f19372d61af8"
DRIFT = Alert(
    AlertKind.DRIFT,
    "prod/api",
    REVISION,
    "changed outside git",
    fingerprint="paths:1a2b",
    paths=("desiredCount", "containerDefinitions[app].image"),
    target_url="https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/api?region=eu-west-1",
)


class Webhook:
    """A chat webhook on 127.0.0.1 that writes down what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.answers: list[int] = []  # statuses to answer with first, then 200
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(text="ok" if status == 200 else "no", status=status)

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/hooks/T000/B000", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hooks/T000/B000"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def run_with_notifier(
    scenario: Callable[[AlertNotifier, Webhook, FakeClock], Awaitable[None]],
    **options: Any,
) -> Webhook:
    hook = Webhook()

    async def main() -> None:
        async with hook:
            clock = FakeClock()
            notifier = AlertNotifier(
                hook.url,
                clock=clock,
                retry=RetryPolicy(attempts=3, base_delay=4.0),
                rng=half,
                wall_time=fixed_wall_time,
                **options,
            )
            try:
                await scenario(notifier, hook, clock)
            finally:
                await notifier.close()

    run_async(main())
    return hook


def test_a_condition_is_alerted_once_until_it_is_cleared() -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        assert await notifier.notify(DRIFT)
        assert not await notifier.notify(DRIFT)
        notifier.clear("prod/api", AlertKind.DRIFT)
        assert await notifier.notify(DRIFT)

    assert len(run_with_notifier(scenario).bodies) == 2


@pytest.mark.parametrize(
    "other",
    [
        Alert(AlertKind.DRIFT, "prod/api", REVISION, "more drift", fingerprint="paths:ffff"),
        Alert(AlertKind.DRIFT, "prod/web", REVISION, "changed", fingerprint="paths:1a2b"),
        Alert(AlertKind.ROLLOUT_FAILED, "prod/api", REVISION, "rolled back"),
        Alert(AlertKind.INVALID_REVISION, "prod/api", REVISION, "bad template"),
    ],
    ids=["new-drift-fingerprint", "another-unit", "failed-rollout", "invalid-revision"],
)
def test_a_new_condition_is_alerted_even_after_another(other: Alert) -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        await notifier.notify(DRIFT)
        assert await notifier.notify(other)

    assert len(run_with_notifier(scenario).bodies) == 2


def test_a_failed_rollout_of_the_next_revision_is_a_new_condition() -> None:
    failed = Alert(AlertKind.ROLLOUT_FAILED, "api", REVISION, "rolled back")
    later = Alert(AlertKind.ROLLOUT_FAILED, "api", "b" * 40, "rolled back")

    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        assert [await notifier.notify(a) for a in (failed, failed, later)] == [True, False, True]

    run_with_notifier(scenario)


def test_the_generic_body_names_the_condition_and_its_paths() -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        await notifier.notify(DRIFT)

    body = run_with_notifier(scenario).bodies[0]

    assert body == {
        "kind": "drift",
        "unit": "prod/api",
        "revision": REVISION,
        "summary": "changed outside git",
        "fingerprint": "paths:1a2b",
        "paths": ["desiredCount", "containerDefinitions[app].image"],
        "target_url": DRIFT.target_url,
    }


@pytest.mark.parametrize("blocks", [False, True], ids=["text-only", "with-blocks"])
def test_the_slack_body_is_text_with_optional_blocks(blocks: bool) -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        await notifier.notify(DRIFT)

    body = run_with_notifier(scenario, format=AlertFormat.SLACK, blocks=blocks).bodies[0]

    assert body["text"].startswith("*Drift* in `prod/api` at `9fceb02d0ae5`: changed outside git")
    assert "`containerDefinitions[app].image`" in body["text"]
    assert f"<{DRIFT.target_url}|Open in the ECS console>" in body["text"]
    if blocks:
        assert body["blocks"] == [
            {"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}
        ]
    else:
        assert set(body) == {"text"}


def test_a_busy_webhook_is_retried_and_the_alert_is_sent_once() -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        hook.answers += [503, 429]
        assert await notifier.notify(DRIFT)
        assert not await notifier.notify(DRIFT)
        assert clock.sleeps == [3.0, 6.0]

    assert len(run_with_notifier(scenario).bodies) == 3


def test_a_webhook_that_refuses_is_reported_and_the_alert_is_not_marked_sent() -> None:
    async def scenario(notifier: AlertNotifier, hook: Webhook, clock: FakeClock) -> None:
        hook.answers.append(404)
        with pytest.raises(ReportRejected, match="404") as caught:
            await notifier.notify(DRIFT)
        assert "/hooks/T000" not in str(caught.value)  # the path is the webhook's secret
        assert await notifier.notify(DRIFT)

    assert len(run_with_notifier(scenario).bodies) == 2


def test_a_webhook_url_that_is_no_url_is_refused_up_front() -> None:
    with pytest.raises(ReportMisconfigured, match="not an http"):
        AlertNotifier("hooks.slack.com/services/T000", clock=FakeClock())
