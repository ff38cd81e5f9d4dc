"""The image's read-only claim, without Docker: the reconciler runs with the root
filesystem read-only and only /data and /tmp writable, in the environment the
Dockerfile sets, and no write it attempts is refused.

A private mount namespace (`unshare --mount`, as root) binds the host's folders
read-only into a fresh root with tmpfs /data and /tmp, and chroots there; strace
reports every file operation that fails with EROFS, which Python would otherwise
swallow (bytecode caches, for one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DUMMY_ENV, EmulatorHandle
from tests.packaging.dockerfile import read_env, read_stages
from tests.packaging.tools import REPO_ROOT

SANDBOX = Path(__file__).with_name("readonly_root.sh")

# Runs inside the sandbox, untraced: copies the repository into /data as the
# daemon's clone would be, runs the command under strace, and reports.
HARNESS = r"""
import json, os, shutil, subprocess, sys

sample, kept, *command = sys.argv[1:]
kept = set(kept.split(os.pathsep))
shutil.copytree(sample, "/data/repo")
if os.environ.get("SANDBOX_GIT_INIT"):
    # The daemon watches a git repository: make the copy one, untraced.
    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "units"]):
        subprocess.run(["git", *args], cwd="/data/repo", check=True, env={**os.environ, **who})
traced = subprocess.run(
    ["strace", "-f", "-qq", "-Z", "-e", "trace=%file", "-o", "/tmp/.strace", *command],
    capture_output=True, text=True,
)
with open("/tmp/.strace") as log:
    refused = [line.strip() for line in log if "EROFS" in line]
written = []
for top in ("/data", "/tmp"):
    for folder, dirs, files in os.walk(top):
        # Host folders bound in (a checkout that lives under /tmp) are not writes.
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in kept]
        written.extend(os.path.join(folder, name) for name in dirs + files)
written.sort()
print(json.dumps({
    "exit": traced.returncode, "stdout": traced.stdout, "stderr": traced.stderr,
    "refused": refused, "written": written,
}))
"""


def _image_env(endpoint: str) -> dict[str, str]:
    """The Dockerfile's environment, plus what points this run at the emulator."""
    env = read_env(read_stages(REPO_ROOT / "Dockerfile")[-1])
    return {
        **env,
        **DUMMY_ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        # The checkout's package, as the image has it installed.
        "PYTHONPATH": str(REPO_ROOT),
    }


def run_read_only(tmp_path: Path, env: dict[str, str], *command: str) -> dict[str, Any]:
    for needed in ("unshare", "chroot", "strace"):
        if shutil.which(needed) is None:
            pytest.fail(f"{needed} is missing: install util-linux, coreutils and strace")
    root = tmp_path / "root"
    root.mkdir()
    # Folders under /tmp would vanish under the sandbox's own /tmp.
    keep = {str(p.resolve()) for p in (REPO_ROOT, Path(sys.prefix), Path(sys.base_prefix))}
    python = sys.executable
    result = subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private",
            "bash", str(SANDBOX), str(root), *sorted(keep), "--",
            "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()),
            python, "-c", HARNESS, str(REPO_ROOT / "sample-repo"), os.pathsep.join(sorted(keep)),
            *command,
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"the sandbox failed:\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture
def seeded(emulator: EmulatorHandle) -> EmulatorHandle:
    emulator.seed(yaml.safe_load((REPO_ROOT / "sample-repo" / "emulator-seed.yml").read_text()))
    return emulator


def test_a_write_outside_data_and_tmp_is_refused_and_reported(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    # The detector itself: without it, a silent EROFS would pass the test below.
    script = "open('/data/ok', 'w').close(); open('/etc/not-ok', 'w')"

    report = run_read_only(tmp_path, _image_env(emulator.endpoint), sys.executable, "-c", script)

    assert report["exit"] != 0
    assert "Read-only file system" in report["stderr"]
    assert any("/etc/not-ok" in line for line in report["refused"]), report["refused"]
    assert "/data/ok" in report["written"]


def test_the_reconciler_plans_with_only_data_and_tmp_writable(
    tmp_path: Path, seeded: EmulatorHandle
) -> None:
    command = [sys.executable, "-m", "reconciler", "plan", "--repo", "/data/repo"]

    report = run_read_only(tmp_path, _image_env(seeded.endpoint), *command, "--output", "json")

    assert report["exit"] in (0, 2), report["stderr"]
    plan = json.loads(report["stdout"])
    assert {unit["unit"] for unit in plan["units"]} == {
        "api",
        "batch",
        "frontend",
        "legacy",
        "web",
    }
    assert report["refused"] == [], "writes outside /data and /tmp:\n" + "\n".join(
        report["refused"]
    )
    assert not [p for p in report["written"] if p.endswith(".pyc")]


def test_the_daemon_runs_a_cycle_with_only_data_and_tmp_writable(
    tmp_path: Path, seeded: EmulatorHandle
) -> None:
    # Its clone, its git notes and everything else it writes stay under /data.
    env = {**_image_env(seeded.endpoint), "SANDBOX_GIT_INIT": "1"}
    command = [
        sys.executable, "-m", "reconciler", "run", "--repo", "/data/repo",
        "--data-dir", "/data/state", "--once", "--read-only",
    ]  # fmt: skip

    report = run_read_only(tmp_path, env, *command)

    assert report["exit"] == 0, report["stderr"]
    assert report["refused"] == [], "writes outside /data and /tmp:\n" + "\n".join(
        report["refused"]
    )
    assert any(p.startswith("/data/state/mirrors/") for p in report["written"])
    assert not [p for p in report["written"] if p.endswith(".pyc")]
