"""``reconciler set-image``: the image CI pushed, committed where the unit takes it."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

from reconciler.desired import render_units
from reconciler.source import open_repo_files
from tests.conftest import run_async
from tests.gitedit.repos import API_JSONNET, WEB, exit_code, head_text, make_repo


def image_at_head(root: Path, unit: str, container: str) -> str:
    files = open_repo_files(root, "HEAD")
    result = run_async(render_units(files, None, [unit], {}))[0]
    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    containers = result.unit.task_definition["containerDefinitions"]
    return str(next(c["image"] for c in containers if c["name"] == container))


def test_set_image_updates_the_committed_variable_the_image_is_templated_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)

    code = exit_code(["set-image", "web", "app", "ghcr.io/acme/web:2.1.0", "--repo", str(tmp_path)])

    assert code == 0
    # The variable's line alone changed, its comment and quoting kept.
    assert head_text(repo, "web/reconciler.yml") == WEB["web/reconciler.yml"].replace(
        'IMAGE_TAG: "2.0.1"  # bumped by CI', 'IMAGE_TAG: "2.1.0"  # bumped by CI'
    )
    assert head_text(repo, "web/ecs-task-def.json") == WEB["web/ecs-task-def.json"]
    assert image_at_head(tmp_path, "web", "app") == "ghcr.io/acme/web:2.1.0"
    message = repo.head.peel(pygit2.Commit).message
    assert message.startswith("web: set app image to ghcr.io/acme/web:2.1.0\n")
    assert "Changed: ghcr.io/acme/web:2.0.1 -> ghcr.io/acme/web:2.1.0" in message
    assert "Variable: IMAGE_TAG" in message
    # The same variable feeds APP_VERSION: the commit says so.
    assert "Also-Changed: taskDefinition.containerDefinitions[app].environment[APP_VERSION]" in (
        message
    )
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert "IMAGE_TAG in web/reconciler.yml" in out[0]
    assert repo.status() == {}


def test_set_image_updates_a_variable_committed_in_the_units_env_file(tmp_path: Path) -> None:
    files = dict(WEB)
    files["web/reconciler.yml"] = "env_file: release.env\n"
    files["web/release.env"] = "# written by CI\nIMAGE_TAG='2.0.1'\n"
    repo = make_repo(tmp_path, files)

    code = exit_code(["set-image", "web", "app", "ghcr.io/acme/web:2.2.0", "--repo", str(tmp_path)])

    assert code == 0
    assert head_text(repo, "web/release.env") == "# written by CI\nIMAGE_TAG='2.2.0'\n"
    assert image_at_head(tmp_path, "web", "app") == "ghcr.io/acme/web:2.2.0"


def test_set_image_through_a_jsonnet_variable_updates_the_variable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, API_JSONNET)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.5.0"

    assert exit_code(["set-image", "api", "app", image, "--repo", str(tmp_path)]) == 0

    assert head_text(repo, "api/reconciler.yml") == 'vars:\n  IMAGE_TAG: "1.5.0"\n'
    assert image_at_head(tmp_path, "api", "app") == image


@pytest.mark.parametrize(
    ("files", "unit", "path", "before", "after"),
    [
        pytest.param(
            WEB,
            "web",
            "web/ecs-task-def.json",
            '"image": "public.ecr.aws/nginx/nginx:1.27"',
            '"image": "public.ecr.aws/nginx/nginx:1.28"',
            id="json",
        ),
        pytest.param(
            {
                **API_JSONNET,
                "api/ecs-task-def.jsonnet": API_JSONNET["api/ecs-task-def.jsonnet"].replace(
                    "aws-otel-collector:v0.40.0", "nginx:1.27"
                ),
            },
            "api",
            "api/ecs-task-def.jsonnet",
            "'public.ecr.aws/aws-observability/nginx:1.27'",
            "'public.ecr.aws/nginx/nginx:1.28'",
            id="jsonnet",
        ),
    ],
)
def test_set_image_replaces_a_literal_image_in_place(
    tmp_path: Path, files: dict[str, str], unit: str, path: str, before: str, after: str
) -> None:
    container = "proxy" if unit == "web" else "otel"
    repo = make_repo(tmp_path, files)

    code = exit_code(
        ["set-image", unit, container, "public.ecr.aws/nginx/nginx:1.28", "--repo", str(tmp_path)]
    )

    assert code == 0
    assert head_text(repo, path) == files[path].replace(before, after)
    assert image_at_head(tmp_path, unit, container) == "public.ecr.aws/nginx/nginx:1.28"


def test_set_image_refuses_an_image_from_another_repository_than_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target

    code = exit_code(
        ["set-image", "web", "app", "docker.io/evil/web:2.1.0", "--repo", str(tmp_path)]
    )

    assert code == 1
    assert repo.head.target == head
    error = capsys.readouterr().err
    assert "does not fit the image template 'ghcr.io/acme/web:{{IMAGE_TAG}}'" in error


def test_set_image_refuses_a_variable_read_from_the_environment_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_TAG", "2.0.1")
    files = dict(WEB)
    files["web/reconciler.yml"] = "wave: 1\n"
    repo = make_repo(tmp_path, files)
    head = repo.head.target

    code = exit_code(["set-image", "web", "app", "ghcr.io/acme/web:2.1.0", "--repo", str(tmp_path)])

    assert code == 1
    assert repo.head.target == head
    error = capsys.readouterr().err
    assert "IMAGE_TAG is read from the reconciler's environment" in error
    assert "commit IMAGE_TAG in web/reconciler.yml vars" in error


def test_set_image_refuses_a_variable_shared_by_every_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(WEB)
    files["web/reconciler.yml"] = "wave: 1\n"
    files["reconciler.yml"] = 'vars:\n  IMAGE_TAG: "2.0.1"\n'
    make_repo(tmp_path, files)

    code = exit_code(["set-image", "web", "app", "ghcr.io/acme/web:2.1.0", "--repo", str(tmp_path)])

    assert code == 1
    assert "set for every unit in reconciler.yml" in capsys.readouterr().err


def test_set_image_refuses_a_computed_jsonnet_image_that_no_variable_drives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(API_JSONNET)
    files["api/ecs-task-def.jsonnet"] = files["api/ecs-task-def.jsonnet"].replace(
        "'public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0'",
        "'public.ecr.aws/aws-observability/' + 'aws-otel-collector:v0.40.0'",
    )
    make_repo(tmp_path, files)

    code = exit_code(["set-image", "api", "otel", "public.ecr.aws/x/y:1", "--repo", str(tmp_path)])

    assert code == 1
    assert "is not written as one string literal" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        pytest.param(["set-image", "nope", "app", "x:1"], "known units: web", id="unknown-unit"),
        pytest.param(
            ["set-image", "web", "db", "x:1"], "its containers: app, proxy", id="unknown-container"
        ),
        pytest.param(
            ["scale", "nope", "--tasks", "1"], "known units: web", id="scale-unknown-unit"
        ),
    ],
)
def test_an_unknown_unit_or_container_is_a_usage_error_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    make_repo(tmp_path, WEB)

    assert exit_code([*argv, "--repo", str(tmp_path)]) == 64

    assert named in capsys.readouterr().err


def test_set_image_json_output_is_a_stable_document_for_scripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)

    exit_code(
        [
            "set-image",
            "web",
            "app",
            "ghcr.io/acme/web:3.0.0",
            "--repo",
            str(tmp_path),
            "--output",
            "json",
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert document == {
        "unit": "web",
        "field": "containerDefinitions[app].image",
        "from": "ghcr.io/acme/web:2.0.1",
        "to": "ghcr.io/acme/web:3.0.0",
        "file": "web/reconciler.yml",
        "variable": "IMAGE_TAG",
        "commit": str(repo.head.target),
        "branch": "main",
        "author": "Dana Deployer <dana@example.com>",
        "alsoChanged": ["taskDefinition.containerDefinitions[app].environment[APP_VERSION]"],
    }


def test_setting_the_image_already_committed_commits_nothing_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, WEB)
    head = repo.head.target

    code = exit_code(["set-image", "web", "app", "ghcr.io/acme/web:2.0.1", "--repo", str(tmp_path)])

    assert code == 0
    assert repo.head.target == head
    assert capsys.readouterr().out.startswith("nothing to commit")
