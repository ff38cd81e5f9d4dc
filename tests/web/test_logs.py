"""Log lines: JSON off a terminal, human on one; the cycle and audit lines carry paths only."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.model import FieldChange, ResourceKind
from reconciler.report.logs import (
    HumanFormatter,
    JsonFormatter,
    configure_logging,
    log_rollout_audit,
    log_unit_cycle,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

SECRET_IMAGE = "registry.example/app:do-not-log-me"
SECRET_ENV = "hunter2-password-value"

CHANGES = (
    FieldChange(
        ResourceKind.TASK_DEFINITION, "containerDefinitions[app].image", "app:1", SECRET_IMAGE
    ),
    FieldChange(
        ResourceKind.TASK_DEFINITION,
        "containerDefinitions[app].environment[DB_PASSWORD]",
        None,
        SECRET_ENV,
    ),
    FieldChange(ResourceKind.SERVICE, "desiredCount", 2, 3),
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines to a buffer, as off a terminal."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.web.captured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_each_record_is_one_json_object_on_one_line_with_its_extra_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    logger.warning("drift found\non two lines", extra={"unit": "web", "count": 2})
    logger.info("second", extra={"paths": frozenset({"b", "a"})})

    first, second = _lines(stream)
    assert first["level"] == "WARNING"
    assert first["logger"] == "tests.web.captured"
    assert first["message"] == "drift found\non two lines"
    assert first["unit"] == "web"
    assert first["count"] == 2
    assert str(first["time"]).startswith("20")
    assert second["paths"] == ["a", "b"]


def test_an_exception_is_kept_inside_its_json_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise RuntimeError("fetch failed")
    except RuntimeError:
        logger.exception("git fetch failed", extra={"remote": "origin"})

    (line,) = _lines(stream)
    assert "RuntimeError: fetch failed" in str(line["exception"])
    assert line["remote"] == "origin"


def test_an_extra_field_named_like_a_core_field_does_not_replace_it(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("real message", extra={"level": "fake", "time": "then"})

    (line,) = _lines(stream)
    assert line["level"] == "INFO"
    assert line["extra_level"] == "fake"
    assert line["extra_time"] == "then"


def test_the_unit_cycle_line_has_every_field_and_paths_but_no_values(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    log_unit_cycle(
        unit="api",
        cluster="prod",
        service="api",
        revision="3f2a9c0",
        result="changed",
        reason=None,
        changes=CHANGES,
        duration=1.23456,
        logger=logger,
    )

    (line,) = _lines(stream)
    assert line["level"] == "INFO"
    assert line["message"] == "unit reconciled"
    assert {k: line[k] for k in ("unit", "cluster", "service", "revision", "result")} == {
        "unit": "api",
        "cluster": "prod",
        "service": "api",
        "revision": "3f2a9c0",
        "result": "changed",
    }
    assert line["reason"] is None
    assert line["duration"] == 1.235
    assert line["changed_paths"] == [
        "containerDefinitions[app].environment[DB_PASSWORD]",
        "containerDefinitions[app].image",
        "desiredCount",
    ]
    text = stream.getvalue()
    assert SECRET_IMAGE not in text
    assert SECRET_ENV not in text


def test_the_rollout_audit_line_names_who_what_where_and_how_it_ended(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    log_rollout_audit(
        unit="api",
        revision="3f2a9c0",
        author="Ada <ada@example.com>",
        task_definition="arn:aws:ecs:us-east-1:123456789012:task-definition/api:8",
        deployment_id="ecs-svc/123",
        changes=CHANGES,
        result="succeeded",
        logger=logger,
    )

    (line,) = _lines(stream)
    assert line["audit"] is True
    assert line["author"] == "Ada <ada@example.com>"
    assert line["task_definition"].endswith("task-definition/api:8")  # type: ignore[union-attr]
    assert line["deployment_id"] == "ecs-svc/123"
    assert line["result"] == "succeeded"
    assert "desiredCount" in line["changed_paths"]  # type: ignore[operator]
    assert SECRET_IMAGE not in stream.getvalue()
    assert SECRET_ENV not in stream.getvalue()


def test_the_audit_line_goes_to_its_own_logger_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="reconciler.audit"):
        log_rollout_audit(
            unit="api",
            revision="r",
            author=None,
            task_definition=None,
            deployment_id=None,
            changes=(),
            result="failed",
        )
    assert [r.name for r in caplog.records] == ["reconciler.audit"]


def test_on_a_terminal_a_record_is_one_readable_line_with_its_fields() -> None:
    record = logging.LogRecord(
        "reconciler.loop", logging.INFO, __file__, 1, "unit reconciled", None, None
    )
    record.unit = "web"
    record.changed_paths = ["desiredCount", "tags"]
    record.reason = None

    line = HumanFormatter().format(record)

    assert "\n" not in line
    assert " INFO reconciler.loop: unit reconciled unit=web changed_paths=desiredCount,tags" in line
    assert "reason=" not in line


@pytest.mark.parametrize(
    ("stream_kind", "json_expected"),
    [pytest.param(io.StringIO, True, id="pipe"), pytest.param(_Terminal, False, id="terminal")],
)
def test_configure_logging_chooses_json_off_a_terminal(
    stream_kind: type[io.StringIO], json_expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty root logger of our own, so basicConfig acts as it does in the CLI.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    stream = stream_kind()

    configure_logging(logging.INFO, stream)
    logging.getLogger("reconciler.loop").info("hello", extra={"unit": "web"})
    for handler in root.handlers:
        handler.flush()

    text = stream.getvalue()
    assert text.count("\n") == 1
    if json_expected:
        assert json.loads(text) | {"time": None} == {
            "time": None,
            "level": "INFO",
            "logger": "reconciler.loop",
            "message": "hello",
            "unit": "web",
        }
    else:
        assert "INFO reconciler.loop: hello unit=web" in text


def test_the_cli_logs_json_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "sample-repo", repo)
    # A unit that cannot render: lint logs it, before any AWS lookup could happen.
    (repo / "api" / "ecspresso.yml").write_text("nonsense: [\n")
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PYTHONPATH": str(REPO_ROOT)}

    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "-v", "lint", "--repo", str(repo), "api"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    invalid = [line for line in lines if line["message"] == "unit is invalid"]
    assert invalid, result.stderr
    assert invalid[0]["unit"] == "api"
    assert invalid[0]["logger"] == "reconciler.desired.render"
    assert invalid[0]["level"] == "INFO"
