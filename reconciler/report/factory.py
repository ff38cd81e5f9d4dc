"""Build a status provider from settings: a provider name, a repo, a token, a URL."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.report.bitbucket import BITBUCKET_API, BitbucketStatuses
from reconciler.report.delivery import ReportMisconfigured
from reconciler.report.gitea import GiteaStatuses
from reconciler.report.github import GITHUB_API, GitHubStatuses
from reconciler.report.gitlab import GITLAB_URL, GitLabStatuses
from reconciler.report.gitnotes import NOTES_REF, GitNotesStatuses
from reconciler.report.statuses import StatusProvider
from reconciler.source.remote import GitRemote

PROVIDERS = ("gitnotes", "github", "gitlab", "gitea", "forgejo", "bitbucket")


@dataclass(frozen=True, slots=True)
class StatusSettings:
    """What ``reconciler run`` is told about where statuses go.

    ``repo`` is a slug (``owner/name``, GitLab's ``group/sub/project`` or
    numeric id, Bitbucket's ``workspace/slug``) or the repository's web or clone
    URL. For ``gitnotes`` it is the local path of the watched repository.
    """

    provider: str = "gitnotes"
    repo: str | None = None
    token: str | None = None
    base_url: str | None = None
    notes_ref: str = NOTES_REF
    remote: str | None = "origin"


def repo_slug(repo: str) -> str:
    """``https://github.com/o/r.git``, ``git@github.com:o/r.git``, ``o/r`` -> ``o/r``."""
    text = repo.strip()
    scp = re.match(r"^[\w.-]+@[\w.-]+:(?P<path>.+)$", text)
    if scp:
        path = scp.group("path")
    elif "://" in text:
        path = urlsplit(text).path
    else:
        path = text
    path = path.strip("/")
    return path.removesuffix(".git")


def _require(settings: StatusSettings, field: str, hint: str) -> str:
    value = getattr(settings, field)
    if not value:
        raise ReportMisconfigured(f"status provider {settings.provider!r} needs {field}: {hint}")
    return str(value)


def _owner_and_name(settings: StatusSettings, what: str) -> tuple[str, str]:
    slug = repo_slug(_require(settings, "repo", f"give the repository as {what}"))
    parts = slug.split("/")
    if len(parts) != 2 or not all(parts):
        raise ReportMisconfigured(
            f"status provider {settings.provider!r}: repo {settings.repo!r} is not {what}"
        )
    return parts[0], parts[1]


def make_status_provider(
    settings: StatusSettings,
    *,
    access: GitRemote | None = None,
    wall_time: Callable[[], float] = time.time,
) -> StatusProvider:
    """The provider ``settings`` name; :class:`ReportMisconfigured` says what is missing.

    ``access`` is how the gitnotes provider authenticates its pushes: the
    watched remote as the source fetches it.
    """
    name = settings.provider.strip().lower()
    if name == "gitnotes":
        path = _require(settings, "repo", "the local path of the watched repository")
        return GitNotesStatuses(
            path, notes_ref=settings.notes_ref, remote=settings.remote, access=access
        )
    if name == "github":
        owner, repo = _owner_and_name(settings, "owner/name")
        token = _require(settings, "token", "a token that may write commit statuses")
        return GitHubStatuses(
            owner, repo, token, base_url=settings.base_url or GITHUB_API, wall_time=wall_time
        )
    if name == "gitlab":
        project = repo_slug(_require(settings, "repo", "the project path or numeric id"))
        token = _require(settings, "token", "a token with the api scope")
        return GitLabStatuses(
            project, token, base_url=settings.base_url or GITLAB_URL, wall_time=wall_time
        )
    if name in ("gitea", "forgejo"):
        owner, repo = _owner_and_name(settings, "owner/name")
        token = _require(settings, "token", "a token that may write the repository")
        base_url = settings.base_url or _site_of(settings.repo)
        if not base_url:
            raise ReportMisconfigured(
                f"status provider {name!r} needs base_url: the site's URL, "
                "e.g. https://codeberg.org (or give repo as the repository's https URL)"
            )
        return GiteaStatuses(owner, repo, token, base_url=base_url, wall_time=wall_time)
    if name == "bitbucket":
        workspace, slug = _owner_and_name(settings, "workspace/repo_slug")
        token = _require(settings, "token", "a repository access token, or user:app-password")
        return BitbucketStatuses(
            workspace, slug, token, base_url=settings.base_url or BITBUCKET_API, wall_time=wall_time
        )
    raise ReportMisconfigured(
        f"unknown status provider {settings.provider!r}; choose one of {', '.join(PROVIDERS)}"
    )


def _site_of(repo: str | None) -> str | None:
    if repo and repo.startswith(("https://", "http://")):
        parts = urlsplit(repo)
        return f"{parts.scheme}://{parts.netloc}"
    return None
