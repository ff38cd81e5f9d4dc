"""``reconciler run`` as a process: the status API, SIGTERM mid-rollout, restart adopts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
from selenium.webdriver.common.by import By

from tests.conftest import DUMMY_ENV, EmulatorHandle
from tests.loop.test_daemon import Repo, repo  # noqa: F401 (fixture)
from tests.units import write_unit
from tests.web.browser import requested_urls, require_chromium, start_chromium


def start_run(
    emulator: EmulatorHandle, repo_url: str, data: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "run", "--repo", repo_url,
            "--data-dir", str(data), "--listen", "127.0.0.1:0", "--interval", "1s", *extra,
        ],
        env={**os.environ, **DUMMY_ENV, "AWS_ENDPOINT_URL": emulator.endpoint},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def status_url(process: subprocess.Popen[str]) -> str:
    """The status page's address, as the process announces it on stderr."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("status page: "):
            url = line.split(": ", 1)[1].strip()
            drain(process.stderr)
            return url
    raise AssertionError("reconciler run never said where its status page is")


def drain(stream: TextIO) -> None:
    """Keep reading a pipe in the background, so the process never blocks on it."""
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def wait_for(condition: object, attempts: int = 600) -> None:
    pause = threading.Event()
    for _ in range(attempts):
        if condition():  # type: ignore[operator]
            return
        pause.wait(0.05)
    raise AssertionError("the condition never held")


@pytest.fixture
def process_guard() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def test_sigterm_mid_rollout_and_a_restart_give_exactly_one_deployment(
    emulator: EmulatorHandle,
    repo: Repo,  # noqa: F811
    tmp_path: Path,
    process_guard: list[subprocess.Popen[str]],
) -> None:
    emulator.client("ecs").create_cluster(clusterName="prod")
    write_unit(repo.work, "api")
    revision = repo.commit("api")

    # The emulator's clock stands still: the rollout stays in progress.
    process = start_run(emulator, repo.url, tmp_path / "data")
    process_guard.append(process)
    url = status_url(process)
    wait_for(lambda: emulator.stats().get("ecs:CreateService") == 1)
    with urllib.request.urlopen(url + "api/status", timeout=10) as response:
        units = json.load(response)["units"]
    assert [u["unit"] for u in units] == ["api"]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0

    # The rollout finishes in AWS while no reconciler runs; a new one adopts it.
    emulator.tick(120)
    again = subprocess.run(
        [sys.executable, "-m", "reconciler", "run", "--repo", repo.url,
         "--data-dir", str(tmp_path / "data"), "--once"],
        env={**os.environ, **DUMMY_ENV, "AWS_ENDPOINT_URL": emulator.endpoint},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr

    calls = emulator.stats()
    assert calls.get("ecs:CreateService") == 1
    assert calls.get("ecs:RegisterTaskDefinition") == 1
    assert "ecs:UpdateService" not in calls
    notes = subprocess.run(
        ["git", "--git-dir", str(repo.bare), "notes", "--ref=ecs-status", "show", revision],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert '"success"' in notes.stdout, notes.stderr


def test_the_status_page_of_a_running_loop_shows_its_units_in_a_browser(
    emulator: EmulatorHandle,
    repo: Repo,  # noqa: F811
    tmp_path: Path,
    process_guard: list[subprocess.Popen[str]],
) -> None:
    require_chromium()
    emulator.client("ecs").create_cluster(clusterName="prod")
    emulator.control("POST", "clock/run", {"speed": 60})
    write_unit(repo.work, "api")
    write_unit(repo.work, "web")
    repo.commit("two services")
    process = start_run(emulator, repo.url, tmp_path / "data", "--drift-interval", "1h")
    process_guard.append(process)
    url = status_url(process)

    def in_sync() -> bool:
        with urllib.request.urlopen(url + "api/status", timeout=10) as response:
            units = json.load(response)["units"]
        return [(u["unit"], u["sync"]) for u in units] == [("api", "in_sync"), ("web", "in_sync")]

    wait_for(in_sync)
    driver = start_chromium(tmp_path / "profile")
    try:
        driver.get(url)
        rows = driver.find_elements(By.CSS_SELECTOR, "#units tr[data-unit]")
        assert [r.get_attribute("data-unit") for r in rows] == ["api", "web"]
        assert all("in_sync" in r.text or "in sync" in r.text for r in rows)
        foreign = [
            u
            for u in requested_urls(driver)
            if not u.startswith((url, "data:", "about:", "chrome:"))
        ]
        assert foreign == []
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
        emulator.control("POST", "clock/stop")


def test_a_webhook_with_a_bad_signature_is_refused_by_the_running_loop(
    emulator: EmulatorHandle,
    repo: Repo,  # noqa: F811
    tmp_path: Path,
    process_guard: list[subprocess.Popen[str]],
) -> None:
    write_unit(repo.work, "api")
    repo.commit("api")
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "run", "--repo", repo.url, "--read-only",
         "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
         "--webhook-listen", "127.0.0.1:0"],
        env={**os.environ, **DUMMY_ENV, "AWS_ENDPOINT_URL": emulator.endpoint,
             "WEBHOOK_SECRET": "s3cret"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process_guard.append(process)
    assert process.stderr is not None
    hook = None
    for line in process.stderr:
        if line.startswith("webhook: "):
            hook = line.split(": ", 1)[1].strip()
            break
    assert hook is not None
    drain(process.stderr)
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    request = urllib.request.Request(
        hook,
        data=body,
        method="POST",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
