"""Log lines a person can follow and a machine can read.

On a terminal each record is one human line; anywhere else (a container, a
pipe, a file) it is one JSON object per line with ``time``, ``level``,
``logger``, ``message`` and the fields passed as ``extra``.

Two helpers write the lines the design promises: one INFO line per unit per
cycle (:func:`log_unit_cycle`) and one audit line per rollout
(:func:`log_rollout_audit`). Both take field paths, or changes they reduce to
paths: a value (an image tag, an environment variable) never reaches a log.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from reconciler.model import FieldChange

log = logging.getLogger(__name__)
audit_log = logging.getLogger("reconciler.audit")

UNIT_CYCLE_MESSAGE = "unit reconciled"
ROLLOUT_AUDIT_MESSAGE = "rollout"

# What every LogRecord carries; anything else on a record came in through ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("name", logging.INFO, "path", 1, "msg", None, None))
) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with ``extra=``, in the order they were given."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


def _json_value(value: Any) -> Any:
    # Sets and frozensets (changed paths, causes) log as sorted lists; the rest as text.
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            # A field must not replace the four above: it is kept under another name.
            line[name if name not in line else f"extra_{name}"] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=_json_value, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``12:00:01 INFO reconciler.loop: unit reconciled unit=web result=in_sync``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        parts = [f"{when} {record.levelname} {record.name}: {record.getMessage()}"]
        for name, value in extra_fields(record).items():
            if value is None or value == () or value == []:
                continue
            if isinstance(value, list | tuple | set | frozenset):
                value = ",".join(str(v) for v in value)
            parts.append(f"{name}={value}")
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(level: int, stream: IO[str]) -> None:
    """Send the reconciler's logs to ``stream``: JSON lines unless it is a terminal.

    Like :func:`logging.basicConfig`, it leaves logging alone when the root
    logger already has handlers (a test harness, or a program embedding us).
    """
    handler = logging.StreamHandler(stream)
    is_terminal = getattr(stream, "isatty", lambda: False)()
    handler.setFormatter(HumanFormatter() if is_terminal else JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler])


@contextlib.contextmanager
def audit_lines_to(stream: IO[str]) -> Iterator[None]:
    """Audit lines as JSON on ``stream`` whatever the log level: they are the record."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    level, propagate = audit_log.level, audit_log.propagate
    audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)
    audit_log.propagate = False
    try:
        yield
    finally:
        audit_log.removeHandler(handler)
        audit_log.setLevel(level)
        audit_log.propagate = propagate


def changed_paths(changes: Iterable[FieldChange | str]) -> list[str]:
    """The field paths of ``changes``, sorted and without duplicates; never values."""
    return sorted({c.path if isinstance(c, FieldChange) else c for c in changes})


def log_unit_cycle(
    *,
    unit: str,
    cluster: str | None,
    service: str | None,
    revision: str | None,
    result: str,
    reason: str | None,
    changes: Iterable[FieldChange | str],
    duration: float,
    logger: logging.Logger = log,
) -> None:
    """The one INFO line per unit per cycle."""
    logger.info(
        UNIT_CYCLE_MESSAGE,
        extra={
            "unit": unit,
            "cluster": cluster,
            "service": service,
            "revision": revision,
            "result": str(result),
            "reason": None if reason is None else str(reason),
            "changed_paths": changed_paths(changes),
            "duration": round(duration, 3),
        },
    )


def log_rollout_audit(
    *,
    unit: str,
    revision: str,
    author: str | None,
    task_definition: str | None,
    deployment_id: str | None,
    changes: Iterable[FieldChange | str],
    result: str,
    logger: logging.Logger = audit_log,
) -> None:
    """The one audit line per rollout: who changed what, where it went, how it ended."""
    logger.info(
        ROLLOUT_AUDIT_MESSAGE,
        extra={
            "audit": True,
            "unit": unit,
            "revision": revision,
            "author": author,
            "task_definition": task_definition,
            "deployment_id": deployment_id,
            "changed_paths": changed_paths(changes),
            "result": str(result),
        },
    )
