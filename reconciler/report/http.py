"""JSON over HTTP to a git host or a webhook, with its answers sorted for retry.

Every HTTP status provider and the webhook notifier send through
:class:`JsonHttp`, which turns what the host answered into the
:mod:`reconciler.report.delivery` vocabulary: a decoded body, or
:class:`ReportUnavailable` with how long the host asked us to wait, or
:class:`ReportRejected` saying what to fix. Tokens are sent, never logged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from reconciler.report.delivery import ReportRejected, ReportUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "ecs-gitops-reconciler"

# Waited when GitHub signals a secondary rate limit without saying for how long:
# its documentation asks for at least a minute.
SECONDARY_LIMIT_WAIT = 60.0

HINTS = {
    400: "the host found the request malformed",
    401: "check the token: it is missing, wrong or expired",
    403: "check that the token may write commit statuses to this repository",
    404: "check the repository name and that the token can see it",
    422: (
        "the host refused the status as sent (GitHub allows 1000 statuses per commit and context)"
    ),
}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: Any
    headers: Mapping[str, str]


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def requested_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a host asked for: Retry-After first, then GitHub's x-ratelimit-reset."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        wait = parse_retry_after(retry_after, now)
        if wait is not None:
            return wait
    reset = headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - now)
    return None


def is_rate_limited_403(headers: Mapping[str, str], body: Any) -> bool:
    """GitHub answers a rate limit with 403: secondary limits say so in the body."""
    if headers.get("X-RateLimit-Remaining") == "0":
        return True
    message = body.get("message", "") if isinstance(body, dict) else str(body or "")
    return "rate limit" in str(message).lower()


def host_message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "errors"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)[:300]
    return str(body)[:300] if body else ""


class JsonHttp:
    """One host's base URL, its auth headers, and a lazily opened session.

    ``wall_time`` gives epoch seconds for HTTP-date and reset headers (tests fix
    it); ``transient_statuses`` adds host-specific "try again" codes such as
    GitLab's 409 for a status update already in progress. ``secret_path`` keeps
    the path out of logs and errors: a chat webhook's path is its credential.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float = 30.0,
        wall_time: Callable[[], float] = time.time,
        transient_statuses: Collection[int] = (),
        secret_path: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"User-Agent": USER_AGENT, **headers}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._wall_time = wall_time
        self._transient = frozenset(transient_statuses)
        self._secret_path = secret_path
        self._session: aiohttp.ClientSession | None = None

    def where(self, method: str, url: URL) -> str:
        return f"{method} {url.host}" if self._secret_path else f"{method} {url.host}{url.path}"

    def url(self, path: str) -> URL:
        """``path`` is already percent-encoded (GitLab project paths keep their %2F)."""
        return URL(self.base_url + path, encoded=True)

    async def request(
        self,
        method: str,
        target: str | URL,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        url = target if isinstance(target, URL) else self.url(target)
        if params:
            url = url.update_query(params)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.request(method, url, json=body) as response:
                text = await response.text()
                headers = CIMultiDict(response.headers)
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise ReportUnavailable(f"{self.where(method, url)}: {e or type(e).__name__}") from e
        answer = HttpAnswer(status, decode_body(text), headers)
        log.debug("host answered", extra={"request": self.where(method, url), "status": status})
        self._raise_for(method, url, answer)
        return answer

    def _raise_for(self, method: str, url: URL, answer: HttpAnswer) -> None:
        status = answer.status
        if 200 <= status < 300:
            return
        where = f"{self.where(method, url)} answered {status}"
        message = host_message(answer.body)
        detail = f"{where}: {message}" if message else where
        now = self._wall_time()
        if status == 429 or status >= 500 or status in self._transient:
            raise ReportUnavailable(detail, retry_after=requested_wait(answer.headers, now))
        if status == 403 and is_rate_limited_403(answer.headers, answer.body):
            wait = requested_wait(answer.headers, now)
            raise ReportUnavailable(
                f"{detail} (rate limited)",
                retry_after=SECONDARY_LIMIT_WAIT if wait is None else wait,
            )
        hint = HINTS.get(status, "the host refused the request")
        raise ReportRejected(f"{detail}; {hint}", status=status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def decode_body(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
