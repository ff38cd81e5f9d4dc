"""``reconciler scale``: a new desired count committed where the unit writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

from reconciler.cli.main import main
from reconciler.desired import render_units
from reconciler.source import open_repo_files
from tests.conftest import EmulatorHandle, run_async
from tests.gitedit.repos import API_JSONNET, AUTHOR, WEB, exit_code, head_text, make_repo


def rendered(root: Path, unit: str, env: dict[str, str] | None = None) -> object:
    """The unit as committed at HEAD, rendered as the loop would read it."""
    files = open_repo_files(root, "HEAD")
    results = run_async(render_units(files, None, [unit], env or {}))
    assert results[0].ok, results[0].findings
    return results[0].unit


def test_scale_commits_the_new_count_on_the_branch_with_what_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)
    parent = repo.head.target

    code = main(["scale", "web", "--tasks", "7", "--repo", str(tmp_path), "-m", "launch day"])

    assert code == 0
    commit = repo.head.peel(pygit2.Commit)
    assert commit.parents[0].id == parent
    assert repo.head.shorthand == "main"
    assert (commit.author.name, commit.author.email) == (AUTHOR.name, AUTHOR.email)
    assert commit.message.splitlines()[0] == "web: scale to 7 tasks (was 3)"
    assert "launch day" in commit.message
    assert "Changed: 3 -> 7" in commit.message
    # Only the count's line changed; the working copy is the commit.
    before = WEB["web/ecs-service-def.json"]
    assert head_text(repo, "web/ecs-service-def.json") == before.replace(
        '"desiredCount": 3', '"desiredCount": 7'
    )
    assert (tmp_path / "web/ecs-service-def.json").read_text() == head_text(
        repo, "web/ecs-service-def.json"
    )
    assert repo.status() == {}
    assert rendered(tmp_path, "web").service["desiredCount"] == 7  # type: ignore[attr-defined]
    assert capsys.readouterr().out.startswith(f"committed {str(commit.id)[:12]} on main: web")


def test_scale_changes_a_plain_number_in_jsonnet_and_keeps_the_comment(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, API_JSONNET)

    assert main(["scale", "api", "--tasks", "9", "--repo", str(tmp_path)]) == 0

    text = head_text(repo, "api/ecs-service-def.jsonnet")
    assert text == API_JSONNET["api/ecs-service-def.jsonnet"].replace(
        "desiredCount: 4", "desiredCount: 9"
    )
    assert rendered(tmp_path, "api").service["desiredCount"] == 9  # type: ignore[attr-defined]


def test_scale_adds_the_count_a_json_definition_leaves_out(tmp_path: Path) -> None:
    files = dict(WEB)
    files["web/ecs-service-def.json"] = files["web/ecs-service-def.json"].replace(
        '  "desiredCount": 3,\n', ""
    )
    repo = make_repo(tmp_path, files)

    assert main(["scale", "web", "--tasks", "2", "--repo", str(tmp_path)]) == 0

    assert '{\n  "desiredCount": 2,\n  "launchType"' in head_text(repo, "web/ecs-service-def.json")
    assert "(was unset)" in repo.head.peel(pygit2.Commit).message


def test_scale_to_the_count_already_committed_commits_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target

    assert main(["scale", "web", "--tasks", "3", "--repo", str(tmp_path)]) == 0

    assert repo.head.target == head
    assert "nothing to commit" in capsys.readouterr().out


def with_autoscaling(files: dict[str, str]) -> dict[str, str]:
    edited = dict(files)
    edited["web/reconciler.yml"] += "autoscaling:\n  min: 2  # never fewer\n  max: 10\n"
    return edited


def test_scale_refuses_a_count_that_auto_scaling_owns_and_says_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, with_autoscaling(WEB))
    head = repo.head.target

    code = main(["scale", "web", "--tasks", "5", "--repo", str(tmp_path)])

    assert code == 1
    assert repo.head.target == head
    error = capsys.readouterr().err
    assert "auto scaling owns the desired count of unit web" in error
    assert "--min N --max N" in error


def test_min_and_max_commit_autoscaling_into_the_units_policy_keeping_its_comments(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path, with_autoscaling(WEB))

    assert main(["scale", "web", "--max", "20", "--repo", str(tmp_path)]) == 0

    text = head_text(repo, "web/reconciler.yml")
    assert text == with_autoscaling(WEB)["web/reconciler.yml"].replace("max: 10", "max: 20")
    assert "was 2 to 10" in repo.head.peel(pygit2.Commit).message
    assert rendered(tmp_path, "web").policy.autoscaling.max == 20  # type: ignore[attr-defined]


def test_min_and_max_create_the_units_policy_file_when_it_has_none(tmp_path: Path) -> None:
    files = {k: v for k, v in WEB.items() if k != "web/reconciler.yml"}
    files["web/ecs-task-def.json"] = files["web/ecs-task-def.json"].replace(
        "{{ must_env `IMAGE_TAG` }}", "2.0.1"
    )
    repo = make_repo(tmp_path, files)

    assert main(["scale", "web", "--min", "1", "--max", "4", "--repo", str(tmp_path)]) == 0

    assert head_text(repo, "web/reconciler.yml") == "autoscaling:\n  min: 1\n  max: 4\n"
    assert repo.status() == {}


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--min", "3"], id="min-alone-without-autoscaling"),
        pytest.param(["--min", "5", "--max", "2"], id="min-above-max"),
        pytest.param(["--tasks", "2", "--max", "4"], id="tasks-and-bounds"),
        pytest.param([], id="nothing-to-change"),
        pytest.param(["--tasks", "-1"], id="negative-count"),
    ],
)
def test_contradictory_scale_arguments_are_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target

    assert exit_code(["scale", "web", *argv, "--repo", str(tmp_path)]) == 64

    assert repo.head.target == head


def templated_count(files: dict[str, str]) -> dict[str, str]:
    edited = dict(files)
    edited["web/ecs-service-def.json"] = edited["web/ecs-service-def.json"].replace(
        '"desiredCount": 3', '"desiredCount": {{ must_env `COUNT` }}'
    )
    return edited


def test_a_count_from_the_environment_is_refused_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNT", "3")
    repo = make_repo(tmp_path, templated_count(WEB))
    head = repo.head.target

    assert main(["scale", "web", "--tasks", "5", "--repo", str(tmp_path)]) == 1

    assert repo.head.target == head
    error = capsys.readouterr().err
    assert "comes from the variable COUNT" in error
    assert "environment" in error


def test_a_count_from_a_committed_variable_is_changed_in_that_variable(tmp_path: Path) -> None:
    files = templated_count(WEB)
    files["web/reconciler.yml"] += '  COUNT: "3"\n'
    repo = make_repo(tmp_path, files)

    assert main(["scale", "web", "--tasks", "6", "--repo", str(tmp_path)]) == 0

    assert head_text(repo, "web/reconciler.yml") == files["web/reconciler.yml"].replace(
        'COUNT: "3"', 'COUNT: "6"'
    )
    assert "Variable: COUNT" in repo.head.peel(pygit2.Commit).message
    assert rendered(tmp_path, "web").service["desiredCount"] == 6  # type: ignore[attr-defined]


def test_a_committed_variable_that_also_feeds_other_fields_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = templated_count(WEB)
    files["web/reconciler.yml"] += '  COUNT: "3"\n'
    files["web/ecs-task-def.json"] = files["web/ecs-task-def.json"].replace(
        '"essential": true,\n      "environment": [',
        '"essential": true,\n      "environment": ['
        '{"name": "PEERS", "value": "{{ must_env `COUNT` }}"}, ',
    )
    repo = make_repo(tmp_path, files)
    head = repo.head.target

    assert main(["scale", "web", "--tasks", "6", "--repo", str(tmp_path)]) == 1

    assert repo.head.target == head
    error = capsys.readouterr().err
    assert "the variable COUNT would also change" in error
    assert "environment[PEERS]" in error


def test_a_computed_jsonnet_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(API_JSONNET)
    files["api/ecs-service-def.jsonnet"] = "{ launchType: 'FARGATE', desiredCount: 2 * 2 }\n"
    make_repo(tmp_path, files)

    assert main(["scale", "api", "--tasks", "6", "--repo", str(tmp_path)]) == 1

    assert "cannot be changed safely" in capsys.readouterr().err


def test_live_scale_changes_only_ecs_and_leaves_git_untouched(
    tmp_path: Path,
    emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="prod-web",
        containerDefinitions=[{"name": "app", "image": "ghcr.io/acme/web:2.0.1", "memory": 512}],
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="prod-web", desiredCount=3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target

    code = main(["scale", "web", "--tasks", "8", "--live", "--repo", str(tmp_path)])

    assert code == 0
    service = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert service["desiredCount"] == 8
    assert repo.head.target == head
    assert repo.status() == {}
    assert "drift will be reported until git agrees" in capsys.readouterr().out


def test_live_scale_json_output_says_what_changed(
    tmp_path: Path,
    emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="prod-web",
        containerDefinitions=[{"name": "app", "image": "ghcr.io/acme/web:2.0.1", "memory": 512}],
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="prod-web", desiredCount=3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    make_repo(tmp_path, WEB)

    main(["scale", "web", "--tasks", "1", "--live", "--repo", str(tmp_path), "--output", "json"])

    document = json.loads(capsys.readouterr().out)
    assert (document["unit"], document["from"], document["to"], document["commit"]) == (
        "web",
        3,
        1,
        None,
    )
