"""``reconciler render``: JSON on stdout, findings on stderr, exit codes that mean something."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

from reconciler.cli.main import main
from reconciler.diff import MASK
from tests.conftest import EmulatorHandle
from tests.render.repos import SERVICE, TASK, unit_files, write_repo

SIGNATURE = pygit2.Signature("Test", "test@example.com", 1_700_000_000, 0)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_render_prints_one_object_per_unit_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(tmp_path, {**unit_files("api"), **unit_files("prod/web")})

    code, document, err = run_cli(capsys, "--repo", str(tmp_path))

    assert code == 0
    assert err == ""
    assert isinstance(document, list)
    assert [d["unit"] for d in document] == ["api", "prod/web"]
    api = document[0]
    assert set(api) >= {"unit", "path", "config", "policy", "taskDefinition", "service", "warnings"}
    assert api["taskDefinition"] == TASK
    assert api["service"] == SERVICE
    assert api["config"]["cluster"] == "prod"
    assert api["policy"]["sync"] == "auto"


def test_a_failed_unit_is_reported_on_stderr_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(tmp_path, {**unit_files("api", task="{\n  oops\n}"), **unit_files("web")})

    code, document, err = run_cli(capsys, "--repo", str(tmp_path))

    assert code == 1
    assert isinstance(document, list)
    assert [d["ok"] for d in document] == [False, True]
    assert "[api] api/ecs-task-def.json:2: not valid JSON" in err


def test_an_unknown_unit_is_a_usage_error_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(tmp_path, {**unit_files("api"), **unit_files("web")})

    code, document, err = run_cli(capsys, "--repo", str(tmp_path), "apj")

    assert code == 64
    assert document is None
    assert "no unit 'apj'" in err
    assert "known units: api, web" in err


def test_render_reads_a_git_revision_without_checking_it_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = pygit2.init_repository(str(tmp_path))
    write_repo(tmp_path, unit_files("api", service={"desiredCount": 1}))
    repo.index.add_all()
    repo.index.write()
    first = repo.create_commit("HEAD", SIGNATURE, SIGNATURE, "one", repo.index.write_tree(), [])
    # The working copy moves on; the revision must not see it.
    write_repo(tmp_path, unit_files("api", service={"desiredCount": 9}))

    code, document, _ = run_cli(capsys, "--repo", str(tmp_path), "--revision", str(first))

    assert code == 0
    assert isinstance(document, list)
    assert document[0]["service"] == {"desiredCount": 1}
    assert document[0]["revision"] == str(first)


def test_an_unknown_revision_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pygit2.init_repository(str(tmp_path))

    code, _, err = run_cli(capsys, "--repo", str(tmp_path), "--revision", "nope")

    assert code == 64
    assert "nope" in err


def test_secret_values_are_masked_unless_asked_for(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorHandle,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    emulator.client("ssm").put_parameter(
        Name="/db/password", Value="correct-horse", Type="SecureString"
    )
    task = {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "app:1",
                "environment": [{"name": "DB", "value": "{{ ssm `/db/password` }}"}],
            }
        ],
    }
    write_repo(tmp_path, unit_files("api", task=task))

    _, masked, _ = run_cli(capsys, "--repo", str(tmp_path))
    _, shown, _ = run_cli(capsys, "--repo", str(tmp_path), "--show-secrets")

    assert isinstance(masked, list)
    assert isinstance(shown, list)
    masked_env = masked[0]["taskDefinition"]["containerDefinitions"][0]["environment"]
    shown_env = shown[0]["taskDefinition"]["containerDefinitions"][0]["environment"]
    assert masked_env == [{"name": "DB", "value": MASK}]
    assert shown_env == [{"name": "DB", "value": "correct-horse"}]
    assert masked[0]["secretPaths"] == ["containerDefinitions[app].environment[DB]"]


def test_a_secret_in_a_log_option_is_masked_where_it_is(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorHandle,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    emulator.client("ssm").put_parameter(
        Name="/splunk/token", Value="tok-123456", Type="SecureString"
    )
    options = {"splunk-url": "https://splunk", "splunk-token": "{{ ssm `/splunk/token` }}"}
    task = {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "app:1",
                "logConfiguration": {"logDriver": "splunk", "options": options},
            }
        ],
    }
    write_repo(tmp_path, unit_files("api", task=task))

    _, document, _ = run_cli(capsys, "--repo", str(tmp_path))

    assert isinstance(document, list)
    shown = document[0]["taskDefinition"]["containerDefinitions"][0]["logConfiguration"]
    assert shown["options"] == {"splunk-url": "https://splunk", "splunk-token": MASK}
    assert document[0]["secretPaths"] == [
        "containerDefinitions[app].logConfiguration.options[splunk-token]"
    ]
