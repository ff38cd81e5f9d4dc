"""The GitOps loop end to end: ``git daemon`` on loopback, the emulator, statuses in git notes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from reconciler.aws import Aws
from reconciler.clock import EmulatorClock
from reconciler.errors import TransientError
from reconciler.loop.daemon import LoopSettings, Reconciler
from reconciler.model import TAG_SUSPENDED, CommitState, SyncState
from reconciler.report import AlertNotifier, StatusReporter, StatusSettings, make_status_provider
from reconciler.source.remote import GitRemote, Mirror
from tests.conftest import EmulatorHandle, run_async
from tests.units import write_unit
from tests.watch.gitserve import GitDaemon, git

OWNER = "git://units@main"

WRITE_OPERATIONS = (
    "Register",
    "Create",
    "Update",
    "Delete",
    "Tag",
    "Untag",
    "Put",
    "Stop",
    "Suspend",
)


class Repo:
    """A working copy pushing to a bare repository served by ``git daemon``."""

    def __init__(self, root: Path, daemon: GitDaemon) -> None:
        self.work = root / "work"
        self.bare = root / "served" / "units.git"
        self.daemon = daemon
        self.url = daemon.url("units.git")
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(self.bare, "config", "daemon.receivepack", "true")
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served")
    daemon.start()
    try:
        yield Repo(tmp_path, daemon)
    finally:
        daemon.stop()


class Alerts:
    """A webhook receiver on 127.0.0.1 that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=204)


class Harness:
    """One reconciler wired as ``reconciler run`` wires it, driven cycle by cycle."""

    def __init__(
        self, emulator: EmulatorHandle, aws: Aws, repo: Repo, data: Path, **settings: Any
    ) -> None:
        self.emulator = emulator
        self.repo = repo
        self.clock = EmulatorClock(emulator.endpoint)
        self.mirror = Mirror(GitRemote(repo.url), data)
        self.alerts = Alerts()
        self.aws = aws
        self.settings = LoopSettings(owner=OWNER, poll_interval=5.0, **settings)

    async def cycles(self, count: int = 1, tick: float = 0.0) -> Reconciler:
        """Run ``count`` cycles, the emulator's clock moved ``tick`` seconds between them."""
        runner = web.AppRunner(web.Application())
        runner.app.router.add_post("/alert", self.alerts.handle)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        alerts = AlertNotifier(f"http://127.0.0.1:{port}/alert", clock=self.clock)
        with contextlib.suppress(TransientError):  # the remote may be down: the loop copes
            await self.mirror.fetch()
        provider = make_status_provider(StatusSettings(repo=str(self.mirror.path)))
        reconciler = Reconciler(
            self.settings,
            mirror=self.mirror,
            aws=self.aws,
            clock=self.clock,
            reporter=StatusReporter(provider, clock=self.clock),
            alerts=alerts,
        )
        try:
            for index in range(count):
                if index and tick:
                    await asyncio.to_thread(self.emulator.tick, tick)
                await reconciler.cycle()
        finally:
            await reconciler.close()
            await alerts.close()
            await provider.close()
            await runner.cleanup()
        return reconciler

    def run(self, count: int = 1, tick: float = 0.0) -> Reconciler:
        return run_async(self.cycles(count, tick))

    def statuses(self, revision: str) -> dict[str, tuple[str, str]]:
        provider = make_status_provider(StatusSettings(repo=str(self.mirror.path), remote=None))

        async def read() -> dict[str, tuple[str, str]]:
            try:
                found = await provider.statuses(revision)
            finally:
                await provider.close()
            return {s.context: (str(s.state), s.description) for s in found}

        return run_async(read())


@pytest.fixture
def harness(emulator: EmulatorHandle, aws: Aws, repo: Repo, tmp_path: Path) -> Harness:
    emulator.client("ecs").create_cluster(clusterName="prod")
    return Harness(emulator, aws, repo, tmp_path / "data")


def writes(stats: dict[str, int]) -> dict[str, int]:
    return {
        name: count
        for name, count in stats.items()
        if name.split(":", 1)[1].startswith(WRITE_OPERATIONS)
    }


def test_a_pushed_commit_is_rolled_out_and_its_units_get_a_status_each(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    write_unit(repo.work, "web")
    first = repo.commit("two services")

    reconciler = harness.run()

    services = emulator.client("ecs").describe_services(cluster="prod", services=["api", "web"])
    assert [s["runningCount"] for s in services["services"]] == [2, 2]
    statuses = harness.statuses(first)
    assert {c: s for c, (s, _) in statuses.items()} == {
        "ecs/api": str(CommitState.SUCCESS),
        "ecs/web": str(CommitState.SUCCESS),
    }
    snapshot = reconciler.snapshot()
    assert {u.unit: u.sync for u in snapshot.units} == {
        "api": SyncState.IN_SYNC,
        "web": SyncState.IN_SYNC,
    }
    assert reconciler.ready()

    # A commit that changes one unit: only that unit gets a status, one rollout.
    write_unit(repo.work, "api", image="nginx:1.28")
    second = repo.commit("api to 1.28")
    emulator.reset_stats()
    harness.run()

    assert set(harness.statuses(second)) == {"ecs/api"}
    assert harness.statuses(second)["ecs/api"][0] == str(CommitState.SUCCESS)
    assert emulator.stats().get("ecs:UpdateService") == 1


def test_an_invalid_unit_gets_an_error_status_and_the_others_proceed(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    write_unit(repo.work, "broken")
    (repo.work / "broken" / "ecs-task-def.json").write_text('{"family": ')
    revision = repo.commit("one good, one broken")

    harness.run()

    statuses = harness.statuses(revision)
    assert statuses["ecs/api"][0] == "success"
    state, description = statuses["ecs/broken"]
    assert state == "error"
    assert "ecs-task-def.json" in description
    kinds = [a.get("kind") for a in harness.alerts.received]
    assert kinds == ["invalid_revision"]


def test_a_failed_revision_is_not_retried_until_a_commit_touches_the_unit(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    for name in ("api",):
        service = json.loads((repo.work / name / "ecs-service-def.json").read_text())
        service["deploymentConfiguration"] = {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True}
        }
        (repo.work / name / "ecs-service-def.json").write_text(json.dumps(service))
    repo.commit("api")
    harness.run()
    write_unit(repo.work, "api", image="nginx:broken-1")
    service = json.loads((repo.work / "api" / "ecs-service-def.json").read_text())
    service["deploymentConfiguration"] = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}
    }
    (repo.work / "api" / "ecs-service-def.json").write_text(json.dumps(service))
    broken = repo.commit("api to a broken image")

    harness.run()

    state, description = harness.statuses(broken)["ecs/api"]
    assert state == "failure"
    assert "circuit breaker" in description or "failed" in description
    assert [a.get("kind") for a in harness.alerts.received] == ["rollout_failed"]

    # The next cycles, and a commit elsewhere, leave the failed revision alone.
    emulator.reset_stats()
    write_unit(repo.work, "other")
    repo.commit("another unit")
    harness.run(2)
    assert "ecs:UpdateService" not in emulator.stats()
    assert emulator.stats().get("ecs:CreateService") == 1


def test_drift_is_alerted_once_and_reported_on_the_revision_last_applied(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    applied = repo.commit("api")
    harness.settings = LoopSettings(owner=OWNER, drift_interval=0.001, poll_interval=5.0)
    harness.run()
    emulator.client("ecs").update_service(cluster="prod", service="api", desiredCount=5)

    # A fresh process reconciles the head first (drift is not git's to apply),
    # then checks drift every cycle: one alert, one status, whatever the count.
    reconciler = harness.run(3, tick=1.0)

    assert harness.statuses(applied)["ecs-drift/api"][0] == "failure"
    assert "desiredCount" in harness.statuses(applied)["ecs-drift/api"][1]
    drift_alerts = [a for a in harness.alerts.received if a.get("kind") == "drift"]
    assert len(drift_alerts) == 1
    assert reconciler.snapshot().units[0].drift == ("desiredCount",)
    service = emulator.client("ecs").describe_services(cluster="prod", services=["api"])
    assert service["services"][0]["desiredCount"] == 5  # alerted, not healed
    # The commit was rendered once: every later check read the unit from the
    # render cache (keyed by its git tree) and live ECS afresh.
    renders = reconciler.planning_cache.renders
    assert (renders.misses, renders.hits) == (1, 2)


def test_drift_is_healed_where_the_unit_asks(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    (repo.work / "api" / "reconciler.yml").write_text("drift: heal\n")
    repo.commit("api heals its drift")
    harness.settings = LoopSettings(owner=OWNER, drift_interval=0.001, poll_interval=5.0)
    harness.run()
    ecs = emulator.client("ecs")
    ecs.update_service(cluster="prod", service="api", desiredCount=5)

    harness.run(2)

    service = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert service["desiredCount"] == 2


def test_read_only_mode_observes_and_never_writes(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    repo.commit("api")
    harness.settings = LoopSettings(owner=OWNER, read_only=True, poll_interval=5.0)
    emulator.reset_stats()

    reconciler = harness.run(2)

    assert writes(emulator.stats()) == {}
    assert emulator.stats()["ecs:DescribeServices"] >= 1
    assert reconciler.snapshot().units[0].sync is SyncState.MISSING


def test_a_suspended_service_is_left_alone(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    repo.commit("api")
    harness.run()
    ecs = emulator.client("ecs")
    arn = ecs.describe_services(cluster="prod", services=["api"])["services"][0]["serviceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": TAG_SUSPENDED, "value": "true"}])
    write_unit(repo.work, "api", image="nginx:1.28")
    repo.commit("api to 1.28")
    emulator.reset_stats()

    reconciler = harness.run()

    assert "ecs:UpdateService" not in emulator.stats()
    assert reconciler.snapshot().units[0].sync is SyncState.SUSPENDED


def test_an_unreachable_remote_is_waited_out(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    write_unit(repo.work, "api")
    repo.commit("api")
    harness.run()
    repo.daemon.stop()
    write_unit(repo.work, "api", image="nginx:1.28")
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", "api to 1.28")
    emulator.reset_stats()

    harness.run()  # the remote is down: nothing happens, nothing fails
    assert "ecs:UpdateService" not in emulator.stats()

    repo.daemon.start()
    git(repo.work, "push", "-q", "origin", "main")
    harness.run()
    assert emulator.stats().get("ecs:UpdateService") == 1


def test_a_local_repository_path_is_watched_as_well(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    emulator.client("ecs").create_cluster(clusterName="prod")
    local = tmp_path / "laptop"
    git(tmp_path, "init", "-q", "-b", "main", str(local))
    write_unit(local, "api")
    git(local, "add", "-A")
    git(local, "commit", "-q", "-m", "api")
    clock = EmulatorClock(emulator.endpoint)
    mirror = Mirror(GitRemote(str(local)), tmp_path / "data")

    async def once() -> Reconciler:
        reconciler = Reconciler(LoopSettings(owner=OWNER), mirror=mirror, aws=aws, clock=clock)
        await reconciler.cycle()
        await reconciler.close()
        return reconciler

    reconciler = run_async(once())

    assert reconciler.snapshot().units[0].sync is SyncState.IN_SYNC
    shutil.rmtree(tmp_path / "data")


def test_an_orphan_is_reported_and_kept_without_prune(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    for name in ("api", "web", "worker", "jobs"):
        write_unit(repo.work, name)
    repo.commit("four units")
    harness.run()
    shutil.rmtree(repo.work / "jobs")
    repo.commit("jobs moves elsewhere")

    reconciler = harness.run()

    service = emulator.client("ecs").describe_services(cluster="prod", services=["jobs"])
    assert service["services"][0]["status"] == "ACTIVE"
    book = {u.unit: u for u in reconciler.snapshot().units}["jobs"]
    assert any("orphan" in e.message for e in book.events)


def test_an_orphan_whose_unit_asked_for_prune_is_deleted(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    for name in ("api", "web", "worker", "jobs"):
        write_unit(repo.work, name)
    (repo.work / "jobs" / "reconciler.yml").write_text("prune: true\n")
    repo.commit("four units, jobs may be pruned")
    harness.run()
    shutil.rmtree(repo.work / "jobs")
    repo.commit("jobs is retired")

    harness.run()

    service = emulator.client("ecs").describe_services(cluster="prod", services=["jobs"])
    assert service["services"][0]["status"] in ("DRAINING", "INACTIVE")


def test_nothing_is_pruned_when_a_revision_drops_many_units_at_once(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    for name in ("api", "web", "worker", "jobs"):
        write_unit(repo.work, name)
        (repo.work / name / "reconciler.yml").write_text("prune: true\n")
    repo.commit("four units that may be pruned")
    harness.run()
    for name in ("web", "worker", "jobs"):
        shutil.rmtree(repo.work / name)
    repo.commit("a bad merge drops three units")

    harness.run()

    services = emulator.client("ecs").describe_services(
        cluster="prod", services=["web", "worker", "jobs"]
    )["services"]
    assert {s["status"] for s in services} == {"ACTIVE"}


def test_a_failed_rollout_is_reverted_in_git_where_the_unit_asks(
    harness: Harness, repo: Repo, emulator: EmulatorHandle
) -> None:
    def breaker_unit(image: str) -> None:
        write_unit(repo.work, "api", image=image)
        service = json.loads((repo.work / "api" / "ecs-service-def.json").read_text())
        service["deploymentConfiguration"] = {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True}
        }
        (repo.work / "api" / "ecs-service-def.json").write_text(json.dumps(service))
        (repo.work / "api" / "reconciler.yml").write_text("on_failure: revert\n")

    breaker_unit("nginx:1.27")
    repo.commit("api")
    harness.run()
    breaker_unit("nginx:broken-2")
    broken = repo.commit("api to a broken image")

    harness.run(2)  # the failure, then the revert it pushed

    state, description = harness.statuses(broken)["ecs/api"]
    assert state == "failure"
    assert "revert" in description.lower()
    head = git(repo.bare, "log", "-1", "--format=%s", "main")
    assert "revert" in head.lower()
    task = json.loads(git(repo.bare, "show", "main:api/ecs-task-def.json"))
    assert task["containerDefinitions"][0]["image"] == "nginx:1.27"
    assert emulator.stats().get("ecs:RegisterTaskDefinition") == 2  # v1, the broken v2; no v3
