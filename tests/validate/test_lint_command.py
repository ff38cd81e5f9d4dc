"""``reconciler lint`` end to end: the render stage, the emulator, the exit codes.

Needs the render stage (``reconciler.desired.render_units``) and the emulator
harness (the ``emulator`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"


@pytest.fixture
def seeded(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator holding what sample-repo looks up, and the CLI pointed at it."""
    emulator.seed(yaml.safe_load((SAMPLE_REPO / "emulator-seed.yml").read_text()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    return emulator


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of sample-repo a test may break."""
    copy = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, copy)
    return copy


def _lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["lint", *args])
    return code, capsys.readouterr().out


def test_the_sample_repo_lints_clean_even_when_strict(
    seeded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _lint(capsys, "--repo", str(SAMPLE_REPO), "--strict")

    assert out.splitlines() == [
        "api: ok",
        "batch: ok",
        "frontend: ok",
        "legacy: ok",
        "web: ok",
        "5 units linted: 0 failed, 0 errors, 0 warnings",
    ]
    assert code == EXIT_OK


def test_an_invalid_unit_fails_the_lint_and_the_others_are_still_reported(
    seeded: Any, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = repo / "frontend" / "ecs-task-def.json"
    task.write_text(task.read_text().replace('"cpu": 512,', '"cpu": 1024,'))

    code, out = _lint(capsys, "--repo", str(repo))

    assert code == EXIT_FAILED
    assert "frontend:\n  frontend/ecs-task-def.json: error: containers ask for 1024 cpu" in out
    assert "(at containerDefinitions[*].cpu)" in out
    assert "api: ok" in out
    assert "batch: ok" in out


def test_warnings_fail_only_a_strict_lint(
    seeded: Any, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = repo / "batch" / "ecs-service-def.json"
    service.write_text(service.read_text().replace('"rollback": true', '"rollback": false'))

    relaxed, out = _lint(capsys, "--repo", str(repo), "batch")
    strict, _ = _lint(capsys, "--repo", str(repo), "batch", "--strict")

    assert (relaxed, strict) == (EXIT_OK, EXIT_FAILED)
    assert "[circuit-breaker-no-rollback]" in out
    assert out.splitlines()[-1] == "1 unit linted: 0 failed, 0 errors, 1 warning"


def test_the_json_output_reports_each_unit(seeded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _lint(capsys, "--repo", str(SAMPLE_REPO), "--output", "json", "api")

    body = json.loads(out)
    assert code == EXIT_OK
    assert body["units"] == [{"unit": "api", "path": "api", "ok": True, "findings": []}]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["no-such-unit"], id="unknown-unit"),
        pytest.param(["--output", "yaml"], id="unknown-output-format"),
    ],
)
def test_a_usage_error_exits_64(
    args: list[str], seeded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["lint", "--repo", str(SAMPLE_REPO), *args])
    except SystemExit as exit:
        code = int(exit.code or 0)

    assert code == EXIT_USAGE
