"""Commit statuses on GitLab (gitlab.com or self-managed, through its base URL)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote

from reconciler.model import CommitState, CommitStatus
from reconciler.report.delivery import ReportRejected
from reconciler.report.http import JsonHttp

log = logging.getLogger(__name__)

GITLAB_URL = "https://gitlab.com"
PAGE_SIZE = 100
MAX_PAGES = 10

# GitLab has no "error": a failed job is its nearest state.
STATE_NAMES = {
    CommitState.PENDING: "pending",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failed",
    CommitState.ERROR: "failed",
}
STATES_READ = {
    "pending": CommitState.PENDING,
    "running": CommitState.PENDING,
    "success": CommitState.SUCCESS,
    "failed": CommitState.FAILURE,
    "canceled": CommitState.FAILURE,
}


class GitLabStatuses:
    """``POST /api/v4/projects/{id}/statuses/{sha}``, the context sent as ``name``.

    ``project`` is the numeric id or the full path (``group/sub/project``).
    """

    name = "gitlab"

    def __init__(
        self,
        project: str,
        token: str,
        *,
        base_url: str = GITLAB_URL,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        api = base_url.rstrip("/")
        if not api.endswith("/api/v4"):
            api += "/api/v4"
        self._path = f"/projects/{quote(project, safe='')}"
        # 409: "another update to this commit status is in progress", worth a retry.
        self._http = JsonHttp(
            api, {"PRIVATE-TOKEN": token}, wall_time=wall_time, transient_statuses={409}
        )

    def nearest_state(self, state: CommitState) -> CommitState:
        return CommitState.FAILURE if state is CommitState.ERROR else state

    async def post(self, status: CommitStatus) -> None:
        body: dict[str, str] = {
            "state": STATE_NAMES[status.state],
            "name": status.context,
            "description": status.description,
        }
        if status.target_url:
            body["target_url"] = status.target_url
        try:
            await self._http.request(
                "POST", f"{self._path}/statuses/{quote(status.revision, safe='')}", body=body
            )
        except ReportRejected as e:
            # GitLab refuses to move a job to the state it is in (a second
            # "pending" with a new description): the commit already shows it.
            if e.status == 400 and "cannot transition status" in e.message.lower():
                log.debug("status unchanged on gitlab", extra={"context": status.context})
                return
            raise

    async def statuses(self, revision: str) -> list[CommitStatus]:
        # Without all=true GitLab lists the latest status per name only.
        latest: dict[str, CommitStatus] = {}
        for page in range(1, MAX_PAGES + 1):
            answer = await self._http.request(
                "GET",
                f"{self._path}/repository/commits/{quote(revision, safe='')}/statuses",
                params={"per_page": str(PAGE_SIZE), "page": str(page)},
            )
            items = answer.body if isinstance(answer.body, list) else []
            for item in items:
                state = STATES_READ.get(str(item.get("status")))
                if state is not None:
                    context = str(item.get("name", ""))
                    latest[context] = CommitStatus(
                        revision=revision,
                        context=context,
                        state=state,
                        description=item.get("description") or "",
                        target_url=item.get("target_url") or None,
                    )
            if len(items) < PAGE_SIZE:
                break
        return list(latest.values())

    async def close(self) -> None:
        await self._http.close()
