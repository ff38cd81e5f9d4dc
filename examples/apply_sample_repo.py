"""``make demo``: deploy sample-repo with ``reconciler apply`` on the embedded emulator.

Starts the emulator on a free loopback port and seeds it from
sample-repo/emulator-seed.yml, copies sample-repo into a throwaway git
repository, then runs the real command line against it, as a user would:

1. the first ``apply`` creates every service, ``api`` before ``frontend``;
2. a commit bumps the api image: ``apply`` rolls it out;
3. a commit ships a broken batch image: the circuit breaker rolls it back and
   ``apply`` exits 1 with ECS's reason;
4. ``status`` shows what runs.

The reconciler takes its time from the emulator (``RECONCILER_CLOCK=emulator``),
so the rollouts' simulated minutes take a few seconds of wall time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pygit2

from reconciler.emulator.app import Emulator, load_seed_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_REPO = ROOT / "sample-repo"
AUTHOR = pygit2.Signature("Demo", "demo@example.com")


def say(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def commit(repo: pygit2.Repository, message: str) -> str:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", AUTHOR, AUTHOR, message, tree, parents))[:12]


def bump(folder: Path, unit: str, old: str, new: str) -> None:
    path = folder / unit / "reconciler.yml"
    path.write_text(path.read_text().replace(f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"'))


def reconciler(env: dict[str, str], *args: str) -> int:
    command = [sys.executable, "-m", "reconciler", *args]
    print("$ reconciler " + " ".join(args), flush=True)
    return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode


def main() -> int:
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        emulator.apply_seed(load_seed_file(SAMPLE_REPO / "emulator-seed.yml"))
        folder = workdir / "deploy"
        shutil.copytree(SAMPLE_REPO, folder)
        repo = pygit2.init_repository(str(folder), initial_head="main")
        revision = commit(repo, "Three services in ecspresso's layout")
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "RECONCILER_CLOCK": "emulator",
            "PYTHONPATH": str(ROOT),
        }
        print(f"emulator at {emulator.endpoint}; repository {folder}", flush=True)

        say(f"1. first apply of {revision}: every service is created")
        first = reconciler(env, "apply", "--repo", str(folder))

        bump(folder, "api", "1.4.2", "1.4.3")
        revision = commit(repo, "api: 1.4.3")
        say(f"2. {revision} bumps the api image: one rolling update")
        second = reconciler(env, "apply", "--repo", str(folder))

        bump(folder, "batch", "0.9.7", "broken-0.9.8")
        revision = commit(repo, "batch: 0.9.8 (broken)")
        say(f"3. {revision} ships a batch image that cannot start")
        third = reconciler(env, "apply", "--repo", str(folder))

        say("4. what runs now")
        reconciler(env, "status", "--repo", str(folder), "--events", "2")

        expected = (0, 0, 1)
        if (first, second, third) != expected:
            print(f"\nunexpected exit codes {(first, second, third)}; wanted {expected}")
            return 1
        print("\nexit codes 0, 0, 1 as expected: the broken image was rolled back by ECS.")
        return 0
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
