"""Commit statuses on Gitea and Forgejo (same API for these endpoints)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from reconciler.model import CommitState, CommitStatus
from reconciler.report.http import JsonHttp
from reconciler.report.statuses import state_named

PAGE_SIZE = 50
MAX_PAGES = 20


class GiteaStatuses:
    """``POST /api/v1/repos/{owner}/{repo}/statuses/{sha}``; all four states exist.

    ``base_url`` is the site (``https://codeberg.org``); the API lives under
    ``/api/v1`` unless ``base_url`` already ends with it.
    """

    name = "gitea"

    def __init__(
        self,
        owner: str,
        repo: str,
        token: str,
        *,
        base_url: str,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        api = base_url.rstrip("/")
        if not api.endswith("/api/v1"):
            api += "/api/v1"
        self._path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/statuses"
        self._http = JsonHttp(api, {"Authorization": f"token {token}"}, wall_time=wall_time)

    def nearest_state(self, state: CommitState) -> CommitState:
        return state

    async def post(self, status: CommitStatus) -> None:
        body: dict[str, str] = {
            "state": str(status.state),
            "context": status.context,
            "description": status.description,
        }
        if status.target_url:
            body["target_url"] = status.target_url
        await self._http.request(
            "POST", f"{self._path}/{quote(status.revision, safe='')}", body=body
        )

    async def statuses(self, revision: str) -> list[CommitStatus]:
        # Gitea keeps every status posted; the highest id per context is the one shown.
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = await self._http.request(
                "GET",
                f"{self._path}/{quote(revision, safe='')}",
                params={"page": str(page), "limit": str(PAGE_SIZE)},
            )
            batch = answer.body if isinstance(answer.body, list) else []
            items.extend(batch)
            if len(batch) < PAGE_SIZE:
                break
        latest: dict[str, dict[str, Any]] = {}
        for item in items:
            context = str(item.get("context", ""))
            if context not in latest or int(item.get("id", 0)) > int(latest[context].get("id", 0)):
                latest[context] = item
        found = []
        for context, item in latest.items():
            state = state_named(item.get("status"))
            if state is not None:
                found.append(
                    CommitStatus(
                        revision=revision,
                        context=context,
                        state=state,
                        description=item.get("description") or "",
                        target_url=item.get("target_url") or None,
                    )
                )
        return found

    async def close(self) -> None:
        await self._http.close()
