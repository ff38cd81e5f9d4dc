"""``reconciler apply`` and ``reconciler status`` as a user runs them.

The crash test runs the command as a separate process and kills it while the
emulator holds its UpdateService call, as a node failure would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.apply import owner_of
from reconciler.cli.main import main
from tests.apply.sample import GitRepo, apply, seed_sample
from tests.conftest import EmulatorHandle

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(emulator: EmulatorHandle, tmp_path: Path) -> GitRepo:
    seed_sample(emulator)
    return GitRepo.sample(tmp_path / "repo")


@pytest.fixture
def cli_env(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The command pointed at the emulator, on its clock."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    monkeypatch.setenv("RECONCILER_CLOCK", "emulator")
    return dict(os.environ)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dry_run_exits_2_and_writes_nothing(
    emulator: EmulatorHandle,
    repo: GitRepo,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, "apply", "--repo", str(repo.root), "--dry-run")

    assert code == 2
    assert "pending" in out
    assert "would register task definition, create service" in out
    stats = emulator.stats()
    assert not any(
        stats.get(name)
        for name in ("ecs:RegisterTaskDefinition", "ecs:CreateService", "ecs:UpdateService")
    )


def test_apply_exits_0_with_a_summary_and_1_when_a_rollout_fails(
    emulator: EmulatorHandle,
    repo: GitRepo,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "apply", "--repo", str(repo.root))
    assert code == 0, out
    assert "5 units: 5 succeeded" in out
    audit = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    # legacy starts on its CodeDeploy task set: no deployment to follow, no audit line.
    assert {line["unit"] for line in audit} == {"api", "batch", "frontend", "web"}
    assert all(line["result"] == "succeeded" for line in audit)
    assert all(line["deployment_id"].startswith("ecs-svc/") for line in audit)

    repo.replace("batch/reconciler.yml", 'IMAGE_TAG: "0.9.7"', 'IMAGE_TAG: "broken-1"')
    repo.commit("batch: broken image")
    code, out, _ = run_cli(capsys, "apply", "--repo", str(repo.root), "--output", "json")

    assert code == 1
    document = json.loads(out)
    units = {u["unit"]: u for u in document["units"]}
    assert units["batch"]["result"] == "failed"
    assert units["batch"]["reason"] == "ROLLOUT_FAILED"
    assert units["api"]["result"] == "in_sync"
    assert document["ok"] is False


def test_status_shows_revisions_deployments_scaling_events_and_tasks(
    emulator: EmulatorHandle,
    aws: Any,
    repo: GitRepo,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert apply(emulator, aws, repo).ok
    revision = str(repo.repo.head.target)

    code, out, _ = run_cli(
        capsys, "status", "--repo", str(repo.root), "--output", "json", "--tasks", "--events", "2"
    )

    assert code == 0
    units = {u["unit"]: u for u in json.loads(out)["units"]}
    api = units["api"]
    assert api["task_definition"] == "prod-api:1"
    assert api["applied_revision"] == revision
    assert [(d["status"], d["rollout_state"]) for d in api["deployments"]] == [
        ("PRIMARY", "COMPLETED")
    ]
    assert api["deployments"][0]["running"] == 5
    assert api["autoscaling"] == {"min": 5, "max": 50, "suspended": False}
    assert len(api["events"]) == 2
    assert "steady state" in api["events"][0]["message"]
    assert len(api["tasks"]) == 5
    assert {t["task_definition"] for t in api["tasks"]} == {"prod-api:1"}
    assert {t["status"] for t in api["tasks"]} == {"RUNNING"}

    code, out, _ = run_cli(capsys, "status", "batch", "--repo", str(repo.root))
    assert code == 0
    assert "batch (prod/batch-worker): prod-batch-worker:1, 1/1 running" in out
    assert "auto scaling: 1..10" in out


def run_apply(repo: GitRepo, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--repo", str(repo.root), "--output", "json"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_registration_and_update_does_not_register_twice(
    emulator: EmulatorHandle, aws: Any, repo: GitRepo, cli_env: dict[str, str]
) -> None:
    assert apply(emulator, aws, repo, owner=owner_of(str(repo.root))).ok
    repo.replace("api/reconciler.yml", 'IMAGE_TAG: "1.4.2"', 'IMAGE_TAG: "1.4.3"')
    repo.commit("api: 1.4.3")
    emulator.reset_stats()
    emulator.faults(operations=["ecs:UpdateService"], hold=True)

    # The first run registers, then hangs in UpdateService until it is killed.
    first = run_apply(repo, cli_env)
    try:
        while emulator.control("GET", "stats")["held"] != 1:
            with pytest.raises(subprocess.TimeoutExpired):
                first.wait(timeout=0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert emulator.release() == 1

    second = run_apply(repo, cli_env)
    out, err = second.communicate(timeout=90)

    assert second.returncode == 0, err
    api = {u["unit"]: u for u in json.loads(out)["units"]}["api"]
    assert api["result"] == "succeeded"
    assert api["task_definition"].endswith("prod-api:2")
    stats = emulator.stats()
    assert stats["ecs:RegisterTaskDefinition"] == 1
    assert stats["ecs:UpdateService"] == 1
