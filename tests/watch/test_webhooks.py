"""Push webhooks from GitHub, GitLab, Gitea and Forgejo: verified, bounded, answered
at once, and only a push to the watched branch triggers a fetch."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from reconciler.source.webhook_server import WEBHOOK_PATH, webhook_app
from reconciler.source.webhooks import (
    EventKind,
    GitHost,
    WebhookEvent,
    WebhookRefused,
    read_webhook,
    sign_body,
)
from tests.conftest import run_async

SECRET = "hook-secret-123"
AFTER = "0123456789abcdef0123456789abcdef01234567"


def push_body(ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "before": "0" * 40, "after": AFTER}).encode()


def signed_headers(
    host: str, body: bytes, secret: str = SECRET, event: str = "push"
) -> dict[str, str]:
    """The headers each host sends with a delivery signed with ``secret``."""
    if host == "github":
        return {
            "X-GitHub-Event": event,
            "X-Hub-Signature-256": "sha256=" + sign_body(secret, body),
        }
    if host == "gitlab":
        return {
            "X-Gitlab-Event": "Push Hook" if event == "push" else event,
            "X-Gitlab-Token": secret,
        }
    if host == "gitea":
        return {
            "X-Gitea-Event": event,
            "X-Gitea-Signature": sign_body(secret, body),
            # Gitea sends GitHub's header too; its own must be the one checked.
            "X-Hub-Signature-256": "sha256=" + sign_body(secret, body),
        }
    return {"X-Forgejo-Event": event, "X-Forgejo-Signature": sign_body(secret, body)}


HOSTS = ["github", "gitlab", "gitea", "forgejo"]


class Deliveries:
    """The webhook app on a loopback test server, recording what triggered."""

    def __init__(self, branch: str = "main", max_bytes: int = 1024 * 1024) -> None:
        self.pushed: list[WebhookEvent] = []
        self.app = webhook_app(SECRET, branch, self.pushed.append, max_bytes=max_bytes)

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        async def send() -> tuple[int, dict[str, Any]]:
            async with TestClient(TestServer(self.app, host="127.0.0.1")) as client:
                response = await client.post(WEBHOOK_PATH, data=body, headers=headers)
                return response.status, await response.json()

        return run_async(send())


@pytest.mark.parametrize("host", HOSTS)
def test_a_signed_push_to_the_watched_branch_is_accepted_and_triggers(host: str) -> None:
    deliveries = Deliveries()
    body = push_body()

    status, answer = deliveries.post(body, signed_headers(host, body))

    assert (status, answer["message"]) == (202, "accepted")
    assert [(e.host, e.ref, e.after) for e in deliveries.pushed] == [
        (GitHost(host), "refs/heads/main", AFTER)
    ]


@pytest.mark.parametrize("host", HOSTS)
def test_a_delivery_signed_with_another_secret_is_refused_and_the_secret_not_logged(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    deliveries = Deliveries()
    body = push_body()
    caplog.set_level(logging.DEBUG)

    status, _ = deliveries.post(body, signed_headers(host, body, secret="not-the-secret"))

    assert status == 401
    assert deliveries.pushed == []
    assert "webhook refused" in caplog.text
    assert SECRET not in caplog.text
    assert "not-the-secret" not in caplog.text


@pytest.mark.parametrize("host", ["github", "gitea", "forgejo"])
def test_a_signature_over_another_body_is_refused(host: str) -> None:
    deliveries = Deliveries()

    status, _ = deliveries.post(push_body(), signed_headers(host, push_body("refs/heads/x")))

    assert status == 401
    assert deliveries.pushed == []


def test_a_delivery_without_any_signature_is_refused() -> None:
    deliveries = Deliveries()

    status, answer = deliveries.post(push_body(), {"X-GitHub-Event": "push"})

    assert status == 401
    assert "no signature header" in answer["message"]
    assert deliveries.pushed == []


@pytest.mark.parametrize("host", HOSTS)
def test_a_push_to_another_branch_is_answered_and_ignored(host: str) -> None:
    deliveries = Deliveries()
    body = push_body("refs/heads/feature")

    status, answer = deliveries.post(body, signed_headers(host, body))

    assert status == 202
    assert answer["message"].startswith("ignored")
    assert deliveries.pushed == []


def test_a_ping_is_answered_200_and_triggers_nothing() -> None:
    deliveries = Deliveries()
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'

    status, _ = deliveries.post(body, signed_headers("github", body, event="ping"))

    assert status == 200
    assert deliveries.pushed == []


def test_a_gitlab_tag_push_does_not_trigger() -> None:
    deliveries = Deliveries()
    body = push_body("refs/tags/v1")

    status, _ = deliveries.post(body, signed_headers("gitlab", body, event="Tag Push Hook"))

    assert status == 202
    assert deliveries.pushed == []


@pytest.mark.parametrize("size", [4097, 64 * 1024], ids=["just-over", "far-over"])
def test_a_body_over_the_limit_is_refused_with_413(size: int) -> None:
    deliveries = Deliveries(max_bytes=4096)
    body = b'{"ref": "refs/heads/main", "pad": "' + b"x" * size + b'"}'

    status, _ = deliveries.post(body, signed_headers("github", body))

    assert status == 413
    assert deliveries.pushed == []


def test_a_body_at_the_limit_is_read() -> None:
    deliveries = Deliveries(max_bytes=4096)
    prefix = b'{"ref": "refs/heads/main", "after": "' + AFTER.encode() + b'", "pad": "'
    body = prefix + b"x" * (4096 - len(prefix) - 2) + b'"}'
    assert len(body) == 4096

    status, _ = deliveries.post(body, signed_headers("github", body))

    assert status == 202
    assert len(deliveries.pushed) == 1


def test_a_signed_push_that_is_not_json_is_a_bad_request() -> None:
    deliveries = Deliveries()
    body = b"ref=refs/heads/main"

    status, _ = deliveries.post(body, signed_headers("github", body))

    assert status == 400


@pytest.mark.parametrize("host", HOSTS)
def test_every_proof_is_compared_in_constant_time(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return original(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = push_body()

    event = read_webhook(signed_headers(host, body), body, SECRET)

    assert event.kind is EventKind.PUSH
    assert len(compared) == 1
    assert compared[0][0] == compared[0][1]


def test_header_names_are_read_whatever_their_case() -> None:
    body = push_body()
    headers = {k.lower(): v for k, v in signed_headers("github", body).items()}

    assert read_webhook(headers, body, SECRET).pushes_branch("main")


def test_an_empty_secret_is_refused_when_building_the_app() -> None:
    with pytest.raises(ValueError, match="secret is required"):
        webhook_app("", "main", lambda event: None)


def test_an_oversize_body_is_refused_before_its_signature_is_checked() -> None:
    with pytest.raises(WebhookRefused) as raised:
        read_webhook({}, b"x" * 11, SECRET, max_bytes=10)

    assert raised.value.status == 413
