"""Build statuses on Bitbucket Cloud, where a status is identified by a short key."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from yarl import URL

from reconciler.model import CommitState, CommitStatus
from reconciler.report.http import JsonHttp

BITBUCKET_API = "https://api.bitbucket.org/2.0"
KEY_LIMIT = 40
MAX_PAGES = 10

# Bitbucket has neither "pending" nor "error": in progress, and failed, are nearest.
STATE_NAMES = {
    CommitState.PENDING: "INPROGRESS",
    CommitState.SUCCESS: "SUCCESSFUL",
    CommitState.FAILURE: "FAILED",
    CommitState.ERROR: "FAILED",
}
STATES_READ = {
    "INPROGRESS": CommitState.PENDING,
    "SUCCESSFUL": CommitState.SUCCESS,
    "FAILED": CommitState.FAILURE,
    "STOPPED": CommitState.FAILURE,
}


def status_key(context: str) -> str:
    """The context itself when it fits 40 characters; else a stable shortened form.

    The full context is sent as the status's ``name``, so nothing is lost.
    """
    if len(context) <= KEY_LIMIT:
        return context
    digest = hashlib.sha1(context.encode()).hexdigest()[:8]
    return f"{context[: KEY_LIMIT - 9]}~{digest}"


def auth_header(token: str) -> str:
    """``user:app-password`` is basic auth; anything else an access token."""
    if ":" in token:
        return "Basic " + base64.b64encode(token.encode()).decode("ascii")
    return f"Bearer {token}"


class BitbucketStatuses:
    """``POST /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build``."""

    name = "bitbucket"

    def __init__(
        self,
        workspace: str,
        repo_slug: str,
        token: str,
        *,
        base_url: str = BITBUCKET_API,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self._path = f"/repositories/{quote(workspace, safe='')}/{quote(repo_slug, safe='')}"
        self._http = JsonHttp(base_url, {"Authorization": auth_header(token)}, wall_time=wall_time)

    def nearest_state(self, state: CommitState) -> CommitState:
        return CommitState.FAILURE if state is CommitState.ERROR else state

    async def post(self, status: CommitStatus) -> None:
        body: dict[str, str] = {
            "key": status_key(status.context),
            "state": STATE_NAMES[status.state],
            "name": status.context,
            "description": status.description,
        }
        if status.target_url:
            body["url"] = status.target_url
        await self._http.request(
            "POST",
            f"{self._path}/commit/{quote(status.revision, safe='')}/statuses/build",
            body=body,
        )

    async def statuses(self, revision: str) -> list[CommitStatus]:
        latest: dict[str, tuple[str, CommitStatus]] = {}
        target: str | URL = f"{self._path}/commit/{quote(revision, safe='')}/statuses"
        params: dict[str, str] | None = {"pagelen": "100"}
        for _ in range(MAX_PAGES):
            answer = await self._http.request("GET", target, params=params)
            page: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
            for item in page.get("values", []):
                state = STATES_READ.get(str(item.get("state")))
                if state is None:
                    continue
                context = str(item.get("name") or item.get("key", ""))
                updated = str(item.get("updated_on", ""))
                if context in latest and latest[context][0] >= updated:
                    continue
                latest[context] = (
                    updated,
                    CommitStatus(
                        revision=revision,
                        context=context,
                        state=state,
                        description=item.get("description") or "",
                        target_url=item.get("url") or None,
                    ),
                )
            following = page.get("next")
            # Follow the host's own next link, never one pointing elsewhere.
            if not following or URL(str(following)).host != self._http.url("/").host:
                break
            target, params = URL(str(following), encoded=True), None
        return [status for _, status in latest.values()]

    async def close(self) -> None:
        await self._http.close()
