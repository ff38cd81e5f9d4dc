"""The container image: lint-clean, non-root, no build tools, writes only to /data and /tmp."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.packaging.dockerfile import read_args, read_env, read_stages, substitute
from tests.packaging.tools import CHART, REPO_ROOT, describe, run_tool

DOCKERFILE = REPO_ROOT / "Dockerfile"
WRITABLE = ("/data", "/tmp")


def test_hadolint_finds_nothing_in_the_dockerfile_at_any_severity() -> None:
    result = run_tool("hadolint", "--no-color", "--failure-threshold", "style", str(DOCKERFILE))

    assert result.returncode == 0, describe(result)
    assert result.stdout.strip() == "", describe(result)


def test_hadolint_is_live_and_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /src && pip install .\n")

    result = run_tool("hadolint", "--no-color", str(bad))

    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_the_image_builds_a_wheel_first_and_installs_it_without_an_index() -> None:
    build, final = read_stages(DOCKERFILE)

    assert build.name == "build"
    assert any("pip wheel" in run.argument for run in build.all("RUN"))
    installs = [run.argument for run in final.all("RUN") if "pip install" in run.argument]
    assert len(installs) == 1
    assert "--no-index" in installs[0]
    assert "from=build" in installs[0]


def test_the_final_image_has_no_build_tools_on_a_slim_python_311() -> None:
    args = read_args(DOCKERFILE)
    final = read_stages(DOCKERFILE)[-1]

    base = substitute(final.base, args)
    assert base.startswith("python:3.11-slim"), base
    commands = " ".join(run.argument for run in final.all("RUN"))
    for tool in ("apt-get", "apk", "gcc", "build-essential", "pip wheel"):
        assert tool not in commands, f"the final stage runs {tool!r}"
    assert not final.all("COPY"), "the final stage copies files instead of installing the wheel"


def test_the_image_runs_reconciler_run_as_a_numeric_non_root_user() -> None:
    args = read_args(DOCKERFILE)
    final = read_stages(DOCKERFILE)[-1]

    (user,) = final.all("USER")
    uid, _, gid = substitute(user.argument, args).partition(":")
    assert uid.isdigit(), user.argument
    assert gid.isdigit(), user.argument
    assert int(uid) != 0
    assert int(gid) != 0
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint.argument) == ["reconciler", "run"]


def test_home_xdg_and_temp_folders_point_into_data_or_tmp() -> None:
    env = read_env(read_stages(DOCKERFILE)[-1])

    folders = {k: v for k, v in env.items() if k == "HOME" or k.startswith(("XDG_", "TMPDIR"))}
    assert set(folders) >= {"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "TMPDIR"}
    for name, folder in folders.items():
        assert folder.startswith(WRITABLE), f"{name}={folder} is outside /data and /tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_chart_runs_the_image_as_the_user_the_dockerfile_creates() -> None:
    uid = int(read_args(DOCKERFILE)["UID"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    assert values["podSecurityContext"]["runAsUser"] == uid
    assert values["podSecurityContext"]["runAsGroup"] == uid


def test_the_ports_the_image_exposes_are_the_charts() -> None:
    final = read_stages(DOCKERFILE)[-1]
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    (expose,) = final.all("EXPOSE")
    assert {int(port) for port in expose.argument.split()} == set(values["ports"].values())


def _ignored(path: str, patterns: list[str]) -> bool:
    # Docker's rule: the last pattern that matches decides; "!" re-includes.
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
            ignored = not negated
    return ignored


@pytest.mark.parametrize(
    "path",
    ["pyproject.toml", "README.md", "reconciler/cli/main.py", "reconciler/py.typed"],
    ids=lambda p: p,
)
def test_the_build_context_keeps_what_the_wheel_is_made_of(path: str) -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    assert (REPO_ROOT / path).exists()
    assert not _ignored(path, patterns)


@pytest.mark.parametrize(
    "path", [".venv/bin/python", ".tools/bin/helm", ".git/HEAD", "tests/conftest.py"], ids=str
)
def test_the_build_context_leaves_out_virtualenvs_tools_and_tests(path: str) -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    assert _ignored(path, patterns)


def test_the_command_line_starts_without_the_emulator_extra_the_image_leaves_out() -> None:
    # The image installs the wheel without extras: moto must not be needed to
    # build the parser (which imports every subcommand's module).
    script = (
        "import sys; sys.modules.update(moto=None, werkzeug=None)\n"
        "from reconciler.cli.main import main\n"
        "main(['--help'])\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "emulator" in result.stdout
