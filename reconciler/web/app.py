"""The reconciler's HTTP face: metrics, health, status as JSON and as a page.

Everything here is read-only. The loop hands the application a
:class:`StatusSource`; the handlers ask it for a snapshot on each request and
never change anything.

- ``/metrics``: Prometheus text format 0.0.4.
- ``/healthz``: 200 while the process serves requests.
- ``/readyz``: 200 once the loop has finished its first successful cycle, 503 before.
- ``/api/status``: every unit's status as JSON.
- ``/``: the same as a page (:mod:`reconciler.web.page`).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web

from reconciler.model import StatusSnapshot
from reconciler.report.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from reconciler.report.metrics import ReconcilerMetrics
from reconciler.web.page import render_page
from reconciler.web.status import snapshot_json

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


class StatusSource(Protocol):
    """What the loop shows the web server: read-only, cheap to call."""

    def snapshot(self) -> StatusSnapshot:
        """Every unit's status now."""
        ...

    def ready(self) -> bool:
        """True once the first cycle has completed successfully."""
        ...


def _page_policy(nonce: str) -> str:
    # Nothing but this document's own inline style and script, and fetches back to us.
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class _Handlers:
    def __init__(
        self, source: StatusSource, metrics: ReconcilerMetrics, refresh_seconds: float
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.refresh_seconds = refresh_seconds

    async def metrics_text(self, request: web.Request) -> web.Response:
        self.metrics.record_snapshot(self.source.snapshot())
        return web.Response(
            body=self.metrics.expose().encode(),
            headers={**_COMMON_HEADERS, "Content-Type": METRICS_CONTENT_TYPE},
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n", headers=_COMMON_HEADERS)

    async def readyz(self, request: web.Request) -> web.Response:
        if self.source.ready():
            return web.Response(text="ready\n", headers=_COMMON_HEADERS)
        return web.Response(
            status=503, text="not ready: no cycle has completed yet\n", headers=_COMMON_HEADERS
        )

    async def api_status(self, request: web.Request) -> web.Response:
        status = snapshot_json(self.source.snapshot(), ready=self.source.ready())
        return web.Response(
            text=json.dumps(status, ensure_ascii=False),
            content_type="application/json",
            headers=_COMMON_HEADERS,
        )

    async def page(self, request: web.Request) -> web.Response:
        status = snapshot_json(self.source.snapshot(), ready=self.source.ready())
        nonce = secrets.token_urlsafe(16)
        return web.Response(
            text=render_page(status, nonce=nonce, refresh_seconds=self.refresh_seconds),
            content_type="text/html",
            headers={
                **_COMMON_HEADERS,
                "Content-Security-Policy": _page_policy(nonce),
                "Referrer-Policy": "no-referrer",
            },
        )


def create_app(
    source: StatusSource,
    metrics: ReconcilerMetrics | None = None,
    *,
    refresh_seconds: float = 5.0,
) -> web.Application:
    """The web application over ``source``; ``metrics`` are what ``/metrics`` serves."""
    if refresh_seconds <= 0:
        raise ValueError(f"refresh_seconds must be positive, got {refresh_seconds}")
    handlers = _Handlers(source, metrics or ReconcilerMetrics(), refresh_seconds)
    app = web.Application()
    app.router.add_get("/", handlers.page)
    app.router.add_get("/api/status", handlers.api_status)
    app.router.add_get("/metrics", handlers.metrics_text)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    return app


@asynccontextmanager
async def serve(
    app: web.Application, host: str = DEFAULT_HOST, port: int = 0
) -> AsyncIterator[int]:
    """Serve ``app`` on ``host:port`` while the block runs; yield the bound port.

    Port 0 takes a free one. On leaving the block the server stops accepting,
    lets requests in flight finish (a few seconds at most) and closes.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound: int = runner.addresses[0][1]
        log.info("web server listening", extra={"host": host, "port": bound})
        yield bound
    finally:
        await runner.cleanup()
