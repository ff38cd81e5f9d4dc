"""Each HTTP status provider against a fake of its host, checked against the host's contract.

The fakes (``fake_hosts.py``) validate every request and every answer with
openapi-core against GitHub's, Gitea's and GitLab's official API descriptions.
Bitbucket's description is ``specs/bitbucket-build-status.written.oas3.json``:
written by this project from the summary ``specs/bitbucket-build-status.md``,
not official (Atlassian's could not be obtained offline).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from reconciler.model import CommitState, CommitStatus
from reconciler.report import ReportRejected, ReportUnavailable, RetryPolicy, StatusReporter
from reconciler.report.bitbucket import BitbucketStatuses
from reconciler.report.gitea import GiteaStatuses
from reconciler.report.github import GitHubStatuses
from reconciler.report.gitlab import GitLabStatuses
from reconciler.report.statuses import StatusProvider, console_url, rollout_status
from tests.conftest import run_async
from tests.contracts.fake_hosts import (
    HOSTS,
    SECONDARY_LIMIT,
    STATUS_LIMIT_422,
    TOKEN,
    FakeHost,
    Fault,
)
from tests.report.fakes import WALL_NOW, FakeClock, fixed_wall_time, half

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
URL = console_url("eu-west-1", "prod", "api", "ecs-svc/1234567890")
ALL_HOSTS = ["github", "gitea", "gitlab", "bitbucket"]

# What each host is sent for each of our states: its own words, nearest where it has none.
HOST_STATES = {
    "github": {"pending": "pending", "success": "success", "failure": "failure", "error": "error"},
    "gitea": {"pending": "pending", "success": "success", "failure": "failure", "error": "error"},
    "gitlab": {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"},
    "bitbucket": {
        "pending": "INPROGRESS",
        "success": "SUCCESSFUL",
        "failure": "FAILED",
        "error": "FAILED",
    },
}


def make_provider(host: FakeHost, token: str = TOKEN) -> StatusProvider:
    name = host.kind.name
    if name == "github":
        return GitHubStatuses(
            "octocat", "hello-world", token, base_url=host.base_url, wall_time=fixed_wall_time
        )
    if name == "gitea":
        return GiteaStatuses(
            "octocat", "hello-world", token, base_url=host.address, wall_time=fixed_wall_time
        )
    if name == "gitlab":
        return GitLabStatuses(
            "platform/deploy", token, base_url=host.address, wall_time=fixed_wall_time
        )
    return BitbucketStatuses(
        "octocat", "hello-world", token, base_url=host.base_url, wall_time=fixed_wall_time
    )


Scenario = Callable[[FakeHost, StatusReporter, FakeClock], Awaitable[None]]


def run_against(name: str, scenario: Scenario, token: str = TOKEN) -> FakeHost:
    """Start the fake host, run ``scenario`` with a reporter in front of a provider."""
    host = FakeHost(HOSTS[name])

    async def main() -> None:
        await host.start()
        provider = make_provider(host, token)
        clock = FakeClock()
        reporter = StatusReporter(
            provider, clock=clock, retry=RetryPolicy(attempts=4, base_delay=2.0), rng=half
        )
        try:
            await scenario(host, reporter, clock)
        finally:
            await provider.close()
            await host.stop()

    run_async(main())
    assert host.violations == [], "exchanges outside the host's API description"
    return host


def status(state: CommitState, summary: str = "Rolling out", **extra: Any) -> CommitStatus:
    return rollout_status(
        SHA,
        "api",
        state,
        summary,
        strategy="rolling",
        task_definition="api:12",
        target_url=URL,
        **extra,
    )


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_a_rollout_shows_pending_then_success_on_the_commit(name: str) -> None:
    seen: list[CommitStatus] = []

    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        assert await reporter.report(status(CommitState.PENDING))
        assert await reporter.report(status(CommitState.SUCCESS, "Rolled out"))
        seen.extend(await reporter.provider.statuses(SHA))

    host = run_against(name, scenario)

    assert [p.body.get("state") for p in host.posts] == [
        HOST_STATES[name]["pending"],
        HOST_STATES[name]["success"],
    ]
    assert [(s.context, s.state) for s in seen] == [("ecs/api", CommitState.SUCCESS)]
    assert seen[0].description == "Rolled out: rolling, task definition api:12"
    link = "target_url" if name != "bitbucket" else "url"
    assert host.posts[0].body[link] == URL


@pytest.mark.parametrize("name", ALL_HOSTS)
@pytest.mark.parametrize("state", list(CommitState), ids=str)
def test_each_state_reaches_the_host_in_its_own_words(name: str, state: CommitState) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        await reporter.report(status(state))

    host = run_against(name, scenario)

    assert host.posts[0].body["state"] == HOST_STATES[name][str(state)]


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_the_same_status_is_never_posted_twice_even_by_a_restarted_reporter(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        assert await reporter.report(status(CommitState.PENDING))
        assert not await reporter.report(status(CommitState.PENDING))

        # A new reporter (a restarted reconciler) learns what the host shows.
        restarted = StatusReporter(reporter.provider, clock=clock)
        assert not await restarted.report(status(CommitState.PENDING))
        assert await restarted.report(status(CommitState.SUCCESS, "Rolled out"))

    host = run_against(name, scenario)

    assert [p.body["state"] for p in host.posts] == [
        HOST_STATES[name]["pending"],
        HOST_STATES[name]["success"],
    ]


@pytest.mark.parametrize("name", ["gitlab", "bitbucket"])
def test_error_and_failure_are_one_state_where_the_host_has_no_error(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        assert await reporter.report(status(CommitState.FAILURE, "Rolled back"))
        assert not await reporter.report(status(CommitState.ERROR, "Rolled back"))
        restarted = StatusReporter(reporter.provider, clock=clock)
        assert not await restarted.report(status(CommitState.ERROR, "Rolled back"))

    host = run_against(name, scenario)

    assert len(host.posts) == 1


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_a_long_description_is_trimmed_to_140_characters(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        await reporter.report(
            CommitStatus(SHA, "ecs/api", CommitState.FAILURE, "Rolled back because " + "x " * 200)
        )

    host = run_against(name, scenario)

    sent = host.posts[0].body["description"]
    assert len(sent) <= 140
    assert sent.startswith("Rolled back because x x")


@pytest.mark.parametrize(
    ("name", "header", "value"),
    [
        ("github", "Authorization", f"Bearer {TOKEN}"),
        ("gitea", "Authorization", f"token {TOKEN}"),
        ("gitlab", "PRIVATE-TOKEN", TOKEN),
        ("bitbucket", "Authorization", f"Bearer {TOKEN}"),
    ],
)
def test_each_host_gets_the_token_in_its_own_header(name: str, header: str, value: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        await reporter.report(status(CommitState.PENDING))

    host = run_against(name, scenario)

    assert all(r.headers[header] == value for r in host.received)
    assert host.received[0].headers["User-Agent"] == "ecs-gitops-reconciler"


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_a_wrong_token_is_reported_without_retrying(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        with pytest.raises(ReportRejected, match="check the token"):
            await reporter.report(status(CommitState.PENDING))
        assert clock.sleeps == []

    host = run_against(name, scenario, token="not-the-token")

    assert len(host.posts) == 1


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_a_429_is_retried_after_the_wait_the_host_asks_for(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults.append(Fault(429, {"message": "slow down"}, {"Retry-After": "7"}))
        assert await reporter.report(status(CommitState.PENDING))
        assert clock.sleeps == [7.0]

    host = run_against(name, scenario)

    assert len(host.posts) == 2
    assert len(host.stored[SHA]) == 1


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_server_errors_are_retried_with_growing_jittered_waits(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults += [Fault(500, {"message": "oops"}), Fault(503, {"message": "busy"})]
        assert await reporter.report(status(CommitState.PENDING))
        # base 2s, doubling, half fixed and half drawn (the draw is 0.5 here)
        assert clock.sleeps == [1.5, 3.0]

    host = run_against(name, scenario)

    assert len(host.posts) == 3


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_a_host_that_stays_down_is_given_up_on_as_unavailable(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults += [Fault(502, {"message": "bad gateway"}) for _ in range(4)]
        with pytest.raises(ReportUnavailable, match="after 4 attempts"):
            await reporter.report(status(CommitState.PENDING))
        # Not remembered as shown: the next cycle posts it.
        assert await reporter.report(status(CommitState.PENDING))

    host = run_against(name, scenario)

    assert len(host.posts) == 5


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(WALL_NOW) + 42)}, 42.0),
        ({}, 60.0),
    ],
    ids=["retry-after", "ratelimit-reset", "no-hint-waits-a-minute"],
)
def test_a_github_secondary_rate_limit_is_waited_out(headers: dict[str, str], wait: float) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults.append(Fault(403, SECONDARY_LIMIT, headers, error_schema="basic-error"))
        assert await reporter.report(status(CommitState.PENDING))
        assert clock.sleeps == [wait]

    host = run_against("github", scenario)

    assert len(host.posts) == 2


def test_a_retry_after_given_as_an_http_date_is_honoured() -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        # WALL_NOW is 2027-01-15T08:00:00Z; the host asks for 08:01:30.
        host.faults.append(
            Fault(429, {"message": "slow"}, {"Retry-After": "Fri, 15 Jan 2027 08:01:30 GMT"})
        )
        assert await reporter.report(status(CommitState.PENDING))
        assert clock.sleeps == [90.0]

    run_against("github", scenario)


def test_githubs_422_status_limit_is_not_retried() -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults.append(Fault(422, STATUS_LIMIT_422, error_schema="validation-error"))
        with pytest.raises(ReportRejected, match="1000 statuses") as caught:
            await reporter.report(status(CommitState.PENDING))
        assert caught.value.status == 422
        assert clock.sleeps == []

    host = run_against("github", scenario)

    assert len(host.posts) == 1


def test_a_forbidden_answer_that_is_no_rate_limit_is_not_retried() -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults.append(
            Fault(
                403,
                {"message": "Resource not accessible by integration"},
                error_schema="basic-error",
            )
        )
        with pytest.raises(ReportRejected, match="may write commit statuses"):
            await reporter.report(status(CommitState.PENDING))

    host = run_against("github", scenario)

    assert len(host.posts) == 1


def test_gitlab_takes_a_second_pending_with_news_as_already_shown() -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        assert await reporter.report(status(CommitState.PENDING, "Rolling out", stage="1/4"))
        assert await reporter.report(status(CommitState.PENDING, "Rolling out", stage="3/4"))

    host = run_against("gitlab", scenario)

    assert len(host.posts) == 2
    assert len(host.stored[SHA]) == 1


def test_gitlab_project_paths_are_sent_encoded_in_one_segment() -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        await reporter.report(status(CommitState.PENDING))

    host = run_against("gitlab", scenario)

    assert host.posts[0].path == f"/api/v4/projects/platform%2Fdeploy/statuses/{SHA}"
    assert host.posts[0].body["name"] == "ecs/api"


def test_bitbucket_keys_fit_40_characters_and_the_name_keeps_the_context() -> None:
    long_unit = "production/eu-west-1/payments/settlement-worker"
    seen: list[CommitStatus] = []

    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        for state in (CommitState.PENDING, CommitState.SUCCESS):
            await reporter.report(
                rollout_status(SHA, long_unit, state, "Rollout", task_definition="w:3")
            )
        seen.extend(await reporter.provider.statuses(SHA))

    host = run_against("bitbucket", scenario)

    keys = {p.body["key"] for p in host.posts}
    assert len(keys) == 1
    assert len(keys.pop()) <= 40
    assert host.posts[0].body["name"] == f"ecs/{long_unit}"
    assert [(s.context, s.state) for s in seen] == [(f"ecs/{long_unit}", CommitState.SUCCESS)]
    assert len(host.stored[SHA]) == 1  # the second post overwrote the first


@pytest.mark.parametrize(
    ("name", "path", "body"),
    [
        ("github", f"/repos/o/r/statuses/{SHA}", {"state": "failed", "context": "ecs/api"}),
        ("gitea", f"/api/v1/repos/o/r/statuses/{SHA}", {"state": "running"}),
        ("gitlab", f"/api/v4/projects/1/statuses/{SHA}", {"name": "ecs/api"}),
        (
            "bitbucket",
            f"/2.0/repositories/w/r/commit/{SHA}/statuses/build",
            {"key": "k" * 41, "state": "SUCCESSFUL"},
        ),
    ],
    ids=["github-gitlab-spelling", "gitea-unknown-state", "gitlab-no-state", "bitbucket-long-key"],
)
def test_the_fake_host_refuses_what_its_description_does_not_allow(
    name: str, path: str, body: dict[str, Any]
) -> None:
    host = FakeHost(HOSTS[name])

    async def main() -> int:
        await host.start()
        try:
            async with aiohttp.ClientSession() as session:
                headers = {HOSTS[name].auth_header: HOSTS[name].auth_value}
                async with session.post(host.address + path, json=body, headers=headers) as r:
                    return r.status
        finally:
            await host.stop()

    assert run_async(main()) == 400
    assert len(host.violations) == 1


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_reading_what_the_host_shows_is_retried_too(name: str) -> None:
    async def scenario(host: FakeHost, reporter: StatusReporter, clock: FakeClock) -> None:
        host.faults.append(Fault(503, {"message": "busy"}, {"Retry-After": "2"}, method="GET"))
        assert await reporter.report(status(CommitState.PENDING))
        assert clock.sleeps == [2.0]

    host = run_against(name, scenario)

    assert [r.method for r in host.received] == ["GET", "GET", "POST"]
