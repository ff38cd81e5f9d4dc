"""The webhook endpoint: an aiohttp application the loop mounts or serves on an
address of its own, so that only it is exposed to the git host.

It answers at once and never waits for a fetch: a verified push to the
watched branch calls ``on_push`` (which only sets a trigger, such as
:meth:`reconciler.source.watch.RevisionWatcher.announce`) and is answered 202.

=====================================  ======
delivery                               answer
=====================================  ======
push to the watched branch             202, ``on_push`` called
push to another branch, other events   202, ignored
ping                                   200, ignored
missing or wrong signature             401, logged without the secret
body over the size limit               413
push body that is not a host's JSON    400
=====================================  ======
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from reconciler.source.webhooks import (
    MAX_BODY_BYTES,
    EventKind,
    WebhookEvent,
    WebhookRefused,
    read_webhook,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"


def webhook_app(
    secret: str,
    branch: str,
    on_push: Callable[[WebhookEvent], None],
    *,
    max_bytes: int = MAX_BODY_BYTES,
    path: str = WEBHOOK_PATH,
) -> web.Application:
    """An application that answers git host push webhooks at ``path`` (POST)."""
    if not secret:
        raise ValueError("a webhook secret is required; an empty one would accept anyone")

    async def receive(request: web.Request) -> web.Response:
        # Refuse an announced oversize body before reading any of it.
        if request.content_length is not None and request.content_length > max_bytes:
            return _answer(413, f"body larger than {max_bytes} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, f"body larger than {max_bytes} bytes")

        try:
            event = read_webhook(request.headers, body, secret, max_bytes=max_bytes)
        except WebhookRefused as refused:
            if refused.status == 401:
                log.warning("webhook refused from %s: %s", request.remote, refused.message)
            return _answer(refused.status, refused.message)

        if event.kind is EventKind.PING:
            log.info("webhook ping from %s accepted", event.host)
            return _answer(200, "pong")
        if not event.pushes_branch(branch):
            log.debug("webhook ignored: %s %s %s", event.host, event.kind, event.ref)
            return _answer(202, "ignored: not a push to the watched branch")

        log.info(
            "webhook push from %s: %s at %s",
            event.host,
            event.ref,
            event.after,
            extra={"delivery": event.delivery},
        )
        on_push(event)
        return _answer(202, "accepted")

    # The body limit is enforced by aiohttp too, for chunked bodies with no length.
    app = web.Application(client_max_size=max_bytes + 1)
    app.router.add_post(path, receive)
    return app


def _answer(status: int, text: str) -> web.Response:
    return web.json_response({"status": status, "message": text}, status=status)
