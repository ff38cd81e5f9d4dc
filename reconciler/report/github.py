"""Commit statuses on GitHub (and GitHub Enterprise Server, through its base URL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from reconciler.model import CommitState, CommitStatus
from reconciler.report.http import JsonHttp
from reconciler.report.statuses import state_named

GITHUB_API = "https://api.github.com"
PAGE_SIZE = 100
MAX_PAGES = 10


class GitHubStatuses:
    """``POST /repos/{owner}/{repo}/statuses/{sha}``; GitHub has all four states."""

    name = "github"

    def __init__(
        self,
        owner: str,
        repo: str,
        token: str,
        *,
        base_url: str = GITHUB_API,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self._path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        self._http = JsonHttp(
            base_url,
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            wall_time=wall_time,
        )

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
            "POST", f"{self._path}/statuses/{quote(status.revision, safe='')}", body=body
        )

    async def statuses(self, revision: str) -> list[CommitStatus]:
        # GitHub lists newest first: the first one seen per context is what it shows.
        latest: dict[str, CommitStatus] = {}
        for page in range(1, MAX_PAGES + 1):
            answer = await self._http.request(
                "GET",
                f"{self._path}/commits/{quote(revision, safe='')}/statuses",
                params={"per_page": str(PAGE_SIZE), "page": str(page)},
            )
            items = answer.body if isinstance(answer.body, list) else []
            for item in items:
                context = str(item.get("context", ""))
                state = state_named(item.get("state"))
                if context in latest or state is None:
                    continue
                latest[context] = CommitStatus(
                    revision=revision,
                    context=context,
                    state=state,
                    description=item.get("description") or "",
                    target_url=item.get("target_url"),
                )
            if len(items) < PAGE_SIZE:
                break
        return list(latest.values())

    async def close(self) -> None:
        await self._http.close()
