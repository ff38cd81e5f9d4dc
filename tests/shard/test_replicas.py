"""N ``reconciler run`` processes, one repository, one emulator, one fake Kubernetes API.

Every unit is deployed exactly once by the replicas together, also while the
replica count changes from 2 to 3 and back: shard ownership is held through
Leases with optimistic concurrency, so two replicas never work on one unit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DUMMY_ENV, EmulatorHandle
from tests.loop.test_daemon import Repo, repo  # noqa: F401 (fixture)
from tests.shard.fake_kube import FakeKube
from tests.units import write_unit

UNITS = [f"svc-{i}" for i in range(9)]
TOKEN = "replica-token"


class Fleet:
    """Replicas started as a StatefulSet starts its pods: ``recon-<i>``, one shard each."""

    def __init__(self, emulator: EmulatorHandle, repo_url: str, kube: FakeKube, root: Path) -> None:
        self.emulator = emulator
        self.repo_url = repo_url
        self.kube = kube
        self.root = root
        self.token_file = root / "token"
        self.token_file.write_text(TOKEN)
        self.processes: dict[int, subprocess.Popen[str]] = {}

    def start(self, index: int, count: int) -> None:
        env = {
            **os.environ,
            **DUMMY_ENV,
            "AWS_ENDPOINT_URL": self.emulator.endpoint,
            "RECONCILER_KUBE_API": self.kube.endpoint,
            "RECONCILER_KUBE_TOKEN_FILE": str(self.token_file),
            "POD_NAMESPACE": self.kube.namespace,
            "POD_NAME": f"recon-{index}",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", self.repo_url,
             "--data-dir", str(self.root / f"data-{index}"), "--listen", "127.0.0.1:0",
             "--interval", "1s", "--drift-interval", "1h",
             "--shard-index", str(index), "--shard-count", str(count)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        stream = process.stderr
        assert stream is not None
        threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()
        self.processes[index] = process

    def stop(self, index: int) -> None:
        process = self.processes.pop(index)
        process.terminate()
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()

    def roll_to(self, count: int) -> None:
        """Restart every pod with the new count, one at a time, as a StatefulSet does."""
        for index in sorted(self.processes, reverse=True):
            if index >= count:
                self.stop(index)
        for index in range(count):
            if index in self.processes:
                self.stop(index)
            self.start(index, count)

    def close(self) -> None:
        for index in list(self.processes):
            self.stop(index)


def wait_until(condition: Callable[[], bool], seconds: float = 240.0) -> None:
    pause = threading.Event()
    for _ in range(int(seconds / 0.2)):
        if condition():
            return
        pause.wait(0.2)
    raise AssertionError("the replicas did not get there in time")


@pytest.fixture
def fleet(
    emulator: EmulatorHandle,
    repo: Repo,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Fleet]:
    emulator.client("ecs").create_cluster(clusterName="prod")
    emulator.control("POST", "clock/run", {"speed": 30})
    kube = FakeKube(namespace="reconciler", tokens=(TOKEN,))
    with kube.serving_in_thread():
        replicas = Fleet(emulator, repo.url, kube, tmp_path)
        try:
            yield replicas
        finally:
            replicas.close()
            emulator.control("POST", "clock/stop")


def images(emulator: EmulatorHandle) -> dict[str, str]:
    ecs = emulator.client("ecs")
    found: dict[str, str] = {}
    for start in range(0, len(UNITS), 10):
        described = ecs.describe_services(cluster="prod", services=UNITS[start : start + 10])
        for service in described["services"]:
            definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
            image = definition["taskDefinition"]["containerDefinitions"][0]["image"]
            if service["runningCount"] == service["desiredCount"]:
                found[service["serviceName"]] = image
    return found


@pytest.mark.timeout(600)
def test_replicas_deploy_every_unit_exactly_once_while_their_count_changes(
    fleet: Fleet,
    repo: Repo,  # noqa: F811
    emulator: EmulatorHandle,
) -> None:
    for name in UNITS:
        write_unit(repo.work, name, count=1)
    repo.commit("nine services")
    fleet.start(0, 2)
    fleet.start(1, 2)

    wait_until(lambda: images(emulator) == dict.fromkeys(UNITS, "nginx:1.27"))
    calls = emulator.stats()
    assert calls.get("ecs:CreateService") == len(UNITS)
    assert calls.get("ecs:RegisterTaskDefinition") == len(UNITS)

    # Two replicas become three: every unit is updated once, by one of them.
    fleet.roll_to(3)
    emulator.reset_stats()
    for name in UNITS:
        write_unit(repo.work, name, image="nginx:1.28", count=1)
    repo.commit("nine services to 1.28")
    wait_until(lambda: images(emulator) == dict.fromkeys(UNITS, "nginx:1.28"))
    assert emulator.stats().get("ecs:UpdateService") == len(UNITS)

    # And back to two.
    fleet.roll_to(2)
    emulator.reset_stats()
    for name in UNITS:
        write_unit(repo.work, name, image="nginx:1.29", count=1)
    repo.commit("nine services to 1.29")
    wait_until(lambda: images(emulator) == dict.fromkeys(UNITS, "nginx:1.29"))
    calls = emulator.stats()
    assert calls.get("ecs:UpdateService") == len(UNITS)
    assert calls.get("ecs:RegisterTaskDefinition") == len(UNITS)
    assert "ecs:CreateService" not in calls
