"""The render cache: a unit is rendered again exactly when something it read changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import pytest

from reconciler.aws import Aws
from reconciler.desired import render_units
from reconciler.desired.render_cache import RenderCache
from reconciler.loop.planning import PlanningCache
from reconciler.model import LiveUnit, PlanStatus, RenderResult
from reconciler.source import open_repo_files
from tests.conftest import run_async
from tests.units import write_unit

AUTHOR = pygit2.Signature("Bench Tester", "bench@example.com")


def commit(root: Path, message: str = "change") -> str:
    """Commit everything under ``root`` (a repository is made the first time)."""
    repo = (
        pygit2.Repository(str(root))
        if (root / ".git").exists()
        else pygit2.init_repository(str(root))
    )
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", AUTHOR, AUTHOR, message, tree, parents))


def render(
    root: Path,
    revision: str | None,
    cache: RenderCache,
    env: dict[str, str] | None = None,
    aws: Aws | None = None,
) -> dict[str, RenderResult]:
    files = open_repo_files(root, revision)
    results = run_async(render_units(files, aws, None, env or {}, cache=cache))
    return {r.id: r for r in results}


def image(result: RenderResult) -> Any:
    assert result.unit is not None
    assert result.unit.task_definition is not None
    return result.unit.task_definition["containerDefinitions"][0]["image"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("api", "web", "worker"):
        write_unit(tmp_path, name)
    return tmp_path


def test_an_unchanged_commit_is_not_rendered_again(repo: Path) -> None:
    cache = RenderCache()
    revision = commit(repo)
    first = render(repo, revision, cache)
    second = render(repo, revision, cache)
    assert (cache.misses, cache.hits) == (3, 3)
    assert all(second[u] is first[u] for u in first)


def test_a_commit_that_touches_one_unit_renders_only_that_unit_and_sees_its_change(
    repo: Path,
) -> None:
    cache = RenderCache()
    render(repo, commit(repo), cache)
    write_unit(repo, "web", image="nginx:1.29")
    revision = commit(repo, "bump web")
    results = render(repo, revision, cache)
    assert (cache.misses, cache.hits) == (4, 2)
    assert image(results["web"]) == "nginx:1.29"
    # Units served from the cache speak for the commit they were asked at.
    assert {r.unit.revision for r in results.values() if r.unit} == {revision}


def test_a_shared_file_outside_the_unit_renders_its_readers_again(repo: Path) -> None:
    (repo / "shared").mkdir()
    (repo / "shared" / "image.libsonnet").write_text('"nginx:1.27"')
    (repo / "web" / "ecs-task-def.jsonnet").write_text(
        json.dumps(
            {
                "family": "web",
                "containerDefinitions": [{"name": "app", "image": "IMAGE"}],
            }
        ).replace('"IMAGE"', "import '../shared/image.libsonnet'")
    )
    (repo / "web" / "ecspresso.yml").write_text(
        (repo / "web" / "ecspresso.yml").read_text().replace("task-def.json", "task-def.jsonnet")
    )
    cache = RenderCache()
    first = render(repo, commit(repo), cache)
    assert image(first["web"]) == "nginx:1.27", first["web"].findings
    (repo / "shared" / "image.libsonnet").write_text('"nginx:1.29"')
    results = render(repo, commit(repo, "shared image"), cache)
    assert image(results["web"]) == "nginx:1.29"
    assert (cache.misses, cache.hits) == (4, 2)


def test_a_new_repo_wide_policy_file_renders_every_unit_again(repo: Path) -> None:
    cache = RenderCache()
    render(repo, commit(repo), cache)
    (repo / "reconciler.yml").write_text("sync: manual\n")
    results = render(repo, commit(repo, "manual sync everywhere"), cache)
    assert cache.hits == 0
    assert {r.unit.policy.sync.value for r in results.values() if r.unit} == {"manual"}


@pytest.mark.parametrize(
    ("before", "after", "renders_again"),
    [
        pytest.param({"TAG": "1.27"}, {"TAG": "1.27"}, False, id="same-value"),
        pytest.param({"TAG": "1.27"}, {"TAG": "1.29"}, True, id="changed-value"),
        pytest.param({}, {"TAG": "1.29"}, True, id="newly-set-over-a-default"),
    ],
)
def test_a_variable_read_from_the_environment_keys_the_render(
    repo: Path, before: dict[str, str], after: dict[str, str], renders_again: bool
) -> None:
    task = json.loads((repo / "web" / "ecs-task-def.json").read_text())
    task["containerDefinitions"][0]["image"] = "nginx:{{ env `TAG` `1.27` }}"
    (repo / "web" / "ecs-task-def.json").write_text(json.dumps(task))
    cache = RenderCache()
    revision = commit(repo)
    render(repo, revision, cache, before)
    results = render(repo, revision, cache, after)
    assert (cache.misses == 4) is renders_again
    assert image(results["web"]) == f"nginx:{after.get('TAG', '1.27')}"


def test_a_plain_folder_is_always_rendered(repo: Path) -> None:
    cache = RenderCache()
    render(repo, None, cache)
    write_unit(repo, "web", image="nginx:1.29")
    results = render(repo, None, cache)
    assert cache.hits == 0
    assert image(results["web"]) == "nginx:1.29"


def test_a_unit_that_looks_up_ssm_is_rendered_every_time_so_a_new_value_is_seen(
    repo: Path, aws: Aws, emulator: Any
) -> None:
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/web/tag", Value="1.27", Type="String")
    task = json.loads((repo / "web" / "ecs-task-def.json").read_text())
    task["containerDefinitions"][0]["image"] = "nginx:{{ ssm `/web/tag` }}"
    (repo / "web" / "ecs-task-def.json").write_text(json.dumps(task))
    cache = RenderCache()
    revision = commit(repo)
    assert image(render(repo, revision, cache, aws=aws)["web"]) == "nginx:1.27"
    ssm.put_parameter(Name="/web/tag", Value="1.29", Type="String", Overwrite=True)
    results = render(repo, revision, cache, aws=aws)
    assert image(results["web"]) == "nginx:1.29"
    assert cache.hits == 2


def test_a_unit_that_failed_to_render_is_rendered_again(repo: Path) -> None:
    (repo / "web" / "ecs-task-def.json").write_text("{ not json")
    cache = RenderCache()
    revision = commit(repo)
    render(repo, revision, cache)
    results = render(repo, revision, cache)
    assert not results["web"].ok
    assert (cache.misses, cache.hits) == (4, 2)


def test_a_unit_is_planned_again_only_when_its_live_state_or_render_changed(repo: Path) -> None:
    planning = PlanningCache()
    revision = commit(repo)
    web = render(repo, revision, planning.renders)["web"].unit
    assert web is not None
    missing = LiveUnit("web", None, {}, None, None, False, None)
    first = planning.plan(web, missing, None)
    again = planning.plan(web, LiveUnit("web", None, {}, None, None, False, None), None)
    assert again is first
    assert first.status is PlanStatus.MISSING
    assert planning.plans_reused == 1

    running = LiveUnit(
        "web", {"serviceName": "web", "status": "ACTIVE"}, {}, None, None, False, None
    )
    assert planning.plan(web, running, None).status is not PlanStatus.MISSING
    write_unit(repo, "web", image="nginx:1.29")
    bumped = render(repo, commit(repo), planning.renders)["web"].unit
    assert bumped is not None
    assert planning.digest(bumped) != planning.digest(web)
    assert planning.plans_reused == 1


def test_a_unit_added_by_a_later_commit_is_found_and_rendered(repo: Path) -> None:
    cache = RenderCache()
    revision = commit(repo)
    assert sorted(render(repo, revision, cache)) == ["api", "web", "worker"]
    assert sorted(render(repo, revision, cache)) == ["api", "web", "worker"]
    write_unit(repo, "billing")
    results = render(repo, commit(repo, "add billing"), cache)
    assert sorted(results) == ["api", "billing", "web", "worker"]
    assert results["billing"].ok
