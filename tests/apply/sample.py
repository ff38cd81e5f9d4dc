"""A throwaway git copy of sample-repo, and applying it on the emulator's clock."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pygit2

from reconciler.apply import ApplyOptions
from reconciler.aws import Aws
from reconciler.clock import EmulatorClock
from reconciler.loop.applying import ApplyReport, Callbacks, apply_revision
from reconciler.loop.planning import PlannedRevision, plan_revision
from reconciler.model import Outcome, WaitMode
from reconciler.source import open_repo_files
from tests.conftest import EmulatorHandle, run_async

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"
OWNER = "https://git.example.com/platform/deploy.git@main"
SIGNATURE = pygit2.Signature("Test", "test@example.com")


class GitRepo:
    """A git repository of units in a temporary folder, committed with pygit2."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = pygit2.init_repository(str(root), initial_head="main")

    @classmethod
    def sample(cls, root: Path) -> GitRepo:
        shutil.copytree(SAMPLE_REPO, root, dirs_exist_ok=True)
        repo = cls(root)
        repo.commit("sample-repo")
        return repo

    def write(self, path: str, text: str) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text)

    def replace(self, path: str, old: str, new: str) -> None:
        content = (self.root / path).read_text()
        assert old in content, f"{old!r} not in {path}"
        self.write(path, content.replace(old, new))

    def commit(self, message: str) -> str:
        index = self.repo.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        oid = self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)
        return str(oid)


def seed_sample(emulator: EmulatorHandle) -> None:
    emulator.seed((SAMPLE_REPO / "emulator-seed.yml").read_text())


def apply(
    emulator: EmulatorHandle,
    aws: Aws,
    repo: GitRepo,
    units: Sequence[str] | None = None,
    *,
    owner: str = OWNER,
    force: bool = False,
    wait: WaitMode | None = None,
    dry_run: bool = False,
    concurrency: int = 8,
    events: list[tuple[str, str]] | None = None,
    stages: list[tuple[str, str]] | None = None,
    on_event: Callable[[str, str], None] | None = None,
) -> ApplyReport:
    """Apply ``repo`` at HEAD, waiting on the emulator's clock."""
    files = open_repo_files(repo.root, "HEAD")
    callbacks = Callbacks(
        on_event=on_event or ((lambda u, m: events.append((u, m))) if events is not None else None),
        on_stage=(lambda u, s: stages.append((u, s))) if stages is not None else None,
    )
    return run_async(
        apply_revision(
            files,
            aws,
            EmulatorClock(emulator.endpoint),
            ApplyOptions(owner=owner, force=force, wait=wait),
            units,
            repo_path=str(repo.root),
            concurrency=concurrency,
            dry_run=dry_run,
            callbacks=callbacks,
        )
    )


def plan(aws: Aws, repo: GitRepo) -> PlannedRevision:
    files = open_repo_files(repo.root, "HEAD")
    return run_async(plan_revision(files, aws, repo_path=str(repo.root)))


def by_unit(report: ApplyReport) -> dict[str, Outcome]:
    return {o.unit: o for o in report.outcomes}


def describe(emulator: EmulatorHandle, *services: str) -> dict[str, Any]:
    response = emulator.client("ecs").describe_services(
        cluster="prod", services=list(services), include=["TAGS"]
    )
    return {s["serviceName"]: s for s in response["services"]}
