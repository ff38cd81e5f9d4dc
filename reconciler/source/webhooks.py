"""Push webhooks from git hosts: who sent it, is it genuine, what does it say.

Free of any web framework: :func:`read_webhook` takes the request's headers
and body and returns a :class:`WebhookEvent`, or raises :class:`WebhookRefused`
with the HTTP status to answer. ``reconciler.source.webhook_server`` serves it.

Each host proves a delivery differently, and each proof is compared in
constant time (``hmac.compare_digest``) so that timing tells an attacker
nothing about the secret:

========================  ==========================================================
host                      proof
========================  ==========================================================
GitHub                    ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of body>``
GitLab                    ``X-Gitlab-Token: <the shared secret>``
Gitea                     ``X-Gitea-Signature: <hex HMAC-SHA256 of body>``
Forgejo                   ``X-Forgejo-Signature: <hex HMAC-SHA256 of body>``
========================  ==========================================================

Gitea and Forgejo also send GitHub's header; their own is preferred.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY_BYTES = 1024 * 1024
"""The largest webhook body read; pushes of thousands of commits stay below it."""


class GitHost(enum.StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    FORGEJO = "forgejo"


class EventKind(enum.StrEnum):
    PUSH = "push"
    PING = "ping"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified delivery: the host, what kind of event, and for a push the ref
    and the commit it now points at."""

    host: GitHost
    kind: EventKind
    ref: str | None = None
    after: str | None = None
    delivery: str | None = None

    def pushes_branch(self, branch: str) -> bool:
        """Whether this is a push that moved ``branch``."""
        return self.kind is EventKind.PUSH and self.ref == f"refs/heads/{branch}"


class WebhookRefused(Exception):
    """The delivery is not accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# The header that proves a delivery, per host, in the order they are tried.
_PROOF_HEADERS = (
    (GitHost.FORGEJO, "x-forgejo-signature"),
    (GitHost.GITEA, "x-gitea-signature"),
    (GitHost.GITHUB, "x-hub-signature-256"),
    (GitHost.GITLAB, "x-gitlab-token"),
)

_EVENT_HEADERS = {
    GitHost.FORGEJO: "x-forgejo-event",
    GitHost.GITEA: "x-gitea-event",
    GitHost.GITHUB: "x-github-event",
    GitHost.GITLAB: "x-gitlab-event",
}

_DELIVERY_HEADERS = {
    GitHost.FORGEJO: "x-forgejo-delivery",
    GitHost.GITEA: "x-gitea-delivery",
    GitHost.GITHUB: "x-github-delivery",
    GitHost.GITLAB: "x-gitlab-event-uuid",
}


def sign_body(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` with ``secret``, as GitHub, Gitea and Forgejo
    compute it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_delivery(headers: Mapping[str, str], body: bytes, secret: str) -> GitHost:
    """The host that sent a genuine delivery; :class:`WebhookRefused` (401) when the
    proof is missing or wrong."""
    if not secret:
        raise ValueError("a webhook secret is required; an empty one would accept anyone")
    lowered = {name.lower(): value for name, value in headers.items()}
    for host, header in _PROOF_HEADERS:
        proof = lowered.get(header)
        if proof is None:
            continue
        if host is GitHost.GITLAB:
            expected = secret
        elif host is GitHost.GITHUB:
            expected = "sha256=" + sign_body(secret, body)
        else:
            expected = sign_body(secret, body)
        if not hmac.compare_digest(proof.strip().encode(), expected.encode()):
            raise WebhookRefused(401, f"the {header} header does not match the secret")
        return host
    raise WebhookRefused(
        401,
        "no signature header (X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature "
        "or X-Forgejo-Signature); configure the webhook with the shared secret",
    )


def read_webhook(
    headers: Mapping[str, str], body: bytes, secret: str, *, max_bytes: int = MAX_BODY_BYTES
) -> WebhookEvent:
    """Verify a delivery and read what it says.

    Raises :class:`WebhookRefused`: 413 when the body is too large, 401 when the
    proof is wrong, 400 when a push body is not the JSON a host sends.
    """
    if len(body) > max_bytes:
        raise WebhookRefused(413, f"the body is larger than {max_bytes} bytes")
    host = verify_delivery(headers, body, secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    kind = _event_kind(host, lowered.get(_EVENT_HEADERS[host], ""))
    delivery = lowered.get(_DELIVERY_HEADERS[host])
    if kind is not EventKind.PUSH:
        return WebhookEvent(host=host, kind=kind, delivery=delivery)

    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookRefused(400, f"the push body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("ref"), str):
        raise WebhookRefused(400, "the push body has no 'ref'")
    after = payload.get("after")
    return WebhookEvent(
        host=host,
        kind=kind,
        ref=payload["ref"],
        after=after if isinstance(after, str) else None,
        delivery=delivery,
    )


def _event_kind(host: GitHost, name: str) -> EventKind:
    name = name.strip().lower()
    if host is GitHost.GITLAB:
        # A tag push is "Tag Push Hook": not a branch moving.
        return EventKind.PUSH if name == "push hook" else EventKind.OTHER
    if name == "push":
        return EventKind.PUSH
    if name == "ping":
        return EventKind.PING
    return EventKind.OTHER
