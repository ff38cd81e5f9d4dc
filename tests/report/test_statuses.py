"""What statuses say, where they link, and how the reporter treats a provider."""

from __future__ import annotations

import socket

import pytest

from reconciler.model import CommitState, CommitStatus
from reconciler.report import (
    ReportMisconfigured,
    ReportRejected,
    ReportUnavailable,
    RetryPolicy,
    StageNews,
    StatusReporter,
    StatusSettings,
    console_url,
    describe_drift,
    describe_rollout,
    drift_status,
    invalid_status,
    make_status_provider,
    rollout_status,
)
from reconciler.report.bitbucket import BitbucketStatuses, auth_header, status_key
from reconciler.report.factory import repo_slug
from reconciler.report.gitea import GiteaStatuses
from reconciler.report.github import GitHubStatuses
from reconciler.report.gitlab import GitLabStatuses
from reconciler.report.gitnotes import GitNotesStatuses
from reconciler.report.http import requested_wait
from reconciler.track import Progress
from tests.conftest import run_async
from tests.report.fakes import WALL_NOW, FakeClock, half

REVISION = "9fceb02d0ae598e95dc970b74767f19372d61af8"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {
                "strategy": "rolling",
                "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/api:12",
            },
            "Rolled out: rolling, task definition api:12",
        ),
        (
            {"strategy": "blue/green", "stage": "BAKE_TIME", "task_definition": "api:13"},
            "Rolled out: blue/green, stage BAKE_TIME, task definition api:13",
        ),
        ({}, "Rolled out"),
    ],
    ids=["rolling-with-arn", "blue-green-stage", "summary-only"],
)
def test_a_rollout_description_says_strategy_stage_and_revision(
    kwargs: dict[str, str], expected: str
) -> None:
    assert describe_rollout("Rolled out", **kwargs) == expected


def test_every_description_fits_140_characters_cut_at_a_word() -> None:
    paths = [f"containerDefinitions[sidecar-{n}].environment[LOG_LEVEL]" for n in range(9)]

    text = describe_drift(paths)

    assert len(text) <= 140
    assert text.startswith("Drift: 9 fields changed outside git: containerDefinitions[sidecar-0]")
    assert text.endswith("…")
    assert len(invalid_status(REVISION, "api", "x " * 400).description) <= 140


def test_a_traffic_shifting_rollout_tells_each_stage_once_and_a_rolling_one_none() -> None:
    news = StageNews()

    def told(unit: str, stage: str) -> bool:
        return news.is_news(Progress(unit, stage, 1, 2, 10.0))

    assert not told("api", "in progress")
    assert told("web", "blue/green: test traffic shift")
    assert not told("web", "blue/green: test traffic shift")
    assert told("web", "blue/green: bake time, 12 min left")
    assert not told("web", "blue/green: bake time, 11 min left")
    assert told("legacy", "CodeDeploy: in progress")
    assert told("web", "blue/green: successful")


def test_drift_names_paths_and_clears_to_success() -> None:
    drifted = drift_status(REVISION, "prod/api", ["desiredCount"])
    healed = drift_status(REVISION, "prod/api", [])

    assert (drifted.context, drifted.state) == ("ecs-drift/prod/api", CommitState.FAILURE)
    assert drifted.description == "Drift: 1 field changed outside git: desiredCount"
    assert healed.state is CommitState.SUCCESS


def test_an_invalid_unit_gets_an_error_on_its_rollout_context() -> None:
    status = invalid_status(REVISION, "prod/api", "ecs-task-def.json:4: unknown function foo")

    assert (status.context, status.state) == ("ecs/prod/api", CommitState.ERROR)
    assert status.description.startswith("Invalid unit, not deployed: ecs-task-def.json:4")


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (
            "ecs-svc/4503729914416348829",
            "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/api"
            "/deployments/ecs-svc%2F4503729914416348829?region=eu-west-1",
        ),
        (
            None,
            "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/api"
            "?region=eu-west-1",
        ),
    ],
    ids=["deployment", "service-page"],
)
def test_the_link_points_at_the_deployment_in_the_ecs_console(
    deployment: str | None, expected: str
) -> None:
    assert console_url("eu-west-1", "prod", "api", deployment) == expected


def test_a_rollout_status_carries_its_link() -> None:
    url = console_url("us-east-1", "c", "s", "d1")
    status = rollout_status(REVISION, "api", CommitState.PENDING, "Rolling out", target_url=url)

    assert status.target_url == url
    assert status.context == "ecs/api"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:30 GMT"}, 30.0),
        ({"Retry-After": "Fri, 15 Jan 2027 07:59:00 GMT"}, 0.0),
        ({"X-RateLimit-Reset": str(int(WALL_NOW) + 5)}, 5.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
    ids=["seconds", "http-date", "date-in-the-past", "ratelimit-reset", "unreadable", "none"],
)
def test_the_wait_a_host_asks_for_is_read_from_its_headers(
    headers: dict[str, str], wait: float | None
) -> None:
    assert requested_wait(headers, WALL_NOW) == wait


class MemoryProvider:
    """A provider that fails as told, for the reporter's own rules."""

    name = "memory"

    def __init__(self, failures: list[Exception], readable: bool = True) -> None:
        self.failures = failures
        self.readable = readable
        self.posted: list[CommitStatus] = []

    def nearest_state(self, state: CommitState) -> CommitState:
        return state

    async def post(self, status: CommitStatus) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.posted.append(status)

    async def statuses(self, revision: str) -> list[CommitStatus]:
        if not self.readable:
            raise ReportRejected("reading statuses needs another scope", status=403)
        return [s for s in self.posted if s.revision == revision]

    async def close(self) -> None:
        return None


def pending() -> CommitStatus:
    return rollout_status(REVISION, "api", CommitState.PENDING, "Rolling out")


def test_a_wait_longer_than_the_reporter_accepts_is_left_to_the_next_cycle() -> None:
    provider = MemoryProvider([ReportUnavailable("primary limit", retry_after=3600)])
    clock = FakeClock()
    reporter = StatusReporter(provider, clock=clock, retry=RetryPolicy(max_wait=900), rng=half)

    with pytest.raises(ReportUnavailable, match="asks to wait 3600s"):
        run_async(reporter.report(pending()))
    assert clock.sleeps == []
    assert run_async(reporter.report(pending()))


def test_a_host_whose_statuses_cannot_be_read_still_gets_them() -> None:
    provider = MemoryProvider([], readable=False)
    reporter = StatusReporter(provider, clock=FakeClock())

    async def main() -> list[bool]:
        return [await reporter.report(pending()), await reporter.report(pending())]

    assert run_async(main()) == [True, False]
    assert len(provider.posted) == 1


def test_a_changed_description_is_posted_again() -> None:
    provider = MemoryProvider([])
    reporter = StatusReporter(provider, clock=FakeClock())
    later = rollout_status(REVISION, "api", CommitState.PENDING, "Rolling out", stage="2/4")

    async def main() -> list[bool]:
        return [await reporter.report(s) for s in (pending(), later, later, pending())]

    assert run_async(main()) == [True, True, False, True]


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        (StatusSettings("gitnotes", repo="/srv/repo.git"), GitNotesStatuses),
        (
            StatusSettings("github", repo="https://github.com/acme/deploy.git", token="t"),
            GitHubStatuses,
        ),
        (
            StatusSettings("github", repo="git@github.com:acme/deploy.git", token="t"),
            GitHubStatuses,
        ),
        (StatusSettings("gitlab", repo="platform/team/deploy", token="t"), GitLabStatuses),
        (
            StatusSettings("gitea", repo="https://codeberg.org/acme/deploy", token="t"),
            GiteaStatuses,
        ),
        (
            StatusSettings("forgejo", repo="acme/deploy", token="t", base_url="https://f.example"),
            GiteaStatuses,
        ),
        (StatusSettings("bitbucket", repo="acme/deploy", token="user:app-pass"), BitbucketStatuses),
    ],
    ids=[
        "gitnotes",
        "github-url",
        "github-scp",
        "gitlab-path",
        "gitea-url",
        "forgejo",
        "bitbucket",
    ],
)
def test_the_factory_builds_the_named_provider(settings: StatusSettings, kind: type) -> None:
    assert isinstance(make_status_provider(settings), kind)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (StatusSettings("github", repo="acme/deploy"), "'github' needs token"),
        (StatusSettings("github", token="t"), "'github' needs repo"),
        (StatusSettings("github", repo="acme", token="t"), "is not owner/name"),
        (StatusSettings("gitea", repo="acme/deploy", token="t"), "needs base_url"),
        (StatusSettings("bitbucket", repo="a/b/c", token="t"), "is not workspace/repo_slug"),
        (StatusSettings("gitnotes"), "local path of the watched repository"),
        (StatusSettings("sourcehut", repo="a/b", token="t"), "choose one of gitnotes, github"),
    ],
    ids=[
        "no-token",
        "no-repo",
        "bad-slug",
        "gitea-no-site",
        "bitbucket-slug",
        "notes-no-path",
        "unknown",
    ],
)
def test_the_factory_says_which_setting_is_missing(settings: StatusSettings, message: str) -> None:
    with pytest.raises(ReportMisconfigured, match=message):
        make_status_provider(settings)


@pytest.mark.parametrize(
    ("repo", "slug"),
    [
        ("https://gitlab.com/group/sub/project.git", "group/sub/project"),
        ("git@bitbucket.org:ws/repo.git", "ws/repo"),
        ("acme/deploy", "acme/deploy"),
        ("https://github.com/acme/deploy/", "acme/deploy"),
    ],
)
def test_repository_urls_are_read_as_slugs(repo: str, slug: str) -> None:
    assert repo_slug(repo) == slug


def test_bitbucket_keys_are_stable_and_distinct_when_shortened() -> None:
    one = status_key("ecs/production/eu-west-1/payments/settlement-worker")
    two = status_key("ecs/production/eu-west-1/payments/settlement-worker-2")

    assert len(one) == len(two) == 40
    assert one != two
    assert one == status_key("ecs/production/eu-west-1/payments/settlement-worker")
    assert status_key("ecs/api") == "ecs/api"


@pytest.mark.parametrize(
    ("token", "header"),
    [("user:app-pass", "Basic dXNlcjphcHAtcGFzcw=="), ("ATCTT3xFfGN0", "Bearer ATCTT3xFfGN0")],
    ids=["app-password", "access-token"],
)
def test_bitbucket_takes_an_app_password_or_an_access_token(token: str, header: str) -> None:
    assert auth_header(token) == header


def test_a_host_that_cannot_be_reached_is_retried_then_reported_unavailable() -> None:
    # A port that was free a moment ago: connecting to it is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = GitHubStatuses("acme", "deploy", "t", base_url=f"http://127.0.0.1:{port}")
    clock = FakeClock()
    reporter = StatusReporter(
        provider, clock=clock, retry=RetryPolicy(attempts=3, base_delay=1.0), rng=half
    )

    async def main() -> None:
        try:
            with pytest.raises(ReportUnavailable, match="after 3 attempts") as caught:
                await reporter.report(pending())
            assert caught.value.reason == "REPORT_UNAVAILABLE"
        finally:
            await provider.close()

    run_async(main())
    # Reading the commit's statuses first, then posting: each tried three times.
    assert clock.sleeps == [0.75, 1.5, 0.75, 1.5]
