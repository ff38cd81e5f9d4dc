"""The errors a user can see, and whether waiting helps.

Every failure carries a named :class:`Reason` and a message that says what to do.
The tree splits on one question, "will the same call work later?"::

    ReconcilerError
    ├── TransientError    throttling, 5xx, network, an unreachable remote:
    │                     retried after a delay, never reported as a failed unit
    └── PermanentError    an invalid unit, an AWS request AWS refuses, a failed
                          rollout: reported, retried only on a new revision

AWS errors are wrapped once, where boto3 is called (``reconciler.aws``), keeping
the service, the operation and AWS's error code.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why something failed, in words stable enough for alerts and dashboards."""

    INVALID_UNIT = "INVALID_UNIT"
    SOURCE_UNREACHABLE = "SOURCE_UNREACHABLE"
    AWS_THROTTLED = "AWS_THROTTLED"
    AWS_UNAVAILABLE = "AWS_UNAVAILABLE"
    AWS_REJECTED = "AWS_REJECTED"
    AWS_ACCESS_DENIED = "AWS_ACCESS_DENIED"
    AWS_NOT_FOUND = "AWS_NOT_FOUND"
    NOT_OWNER = "NOT_OWNER"
    ROLLOUT_FAILED = "ROLLOUT_FAILED"
    ROLLOUT_TIMEOUT = "ROLLOUT_TIMEOUT"
    USAGE = "USAGE"
    REVERT_REFUSED = "REVERT_REFUSED"
    REPORT_UNAVAILABLE = "REPORT_UNAVAILABLE"
    REPORT_REJECTED = "REPORT_REJECTED"
    REPORT_MISCONFIGURED = "REPORT_MISCONFIGURED"
    LEASE_UNAVAILABLE = "LEASE_UNAVAILABLE"
    LEASE_REJECTED = "LEASE_REJECTED"
    LEASE_CONFLICT = "LEASE_CONFLICT"


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose."""

    transient: bool = False

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


class TransientError(ReconcilerError):
    """The same call may work later: wait and retry, do not report a failed unit."""

    transient = True


class PermanentError(ReconcilerError):
    """Retrying the same input gives the same answer: report it and move on."""


class AwsError(ReconcilerError):
    """An AWS call failed. Names the service, the operation and AWS's error code."""

    def __init__(
        self, reason: Reason, service: str, operation: str, code: str, message: str
    ) -> None:
        super().__init__(reason, f"{service}:{operation} failed with {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.aws_message = message


class TransientAwsError(AwsError, TransientError):
    """Throttling, a 5xx or a network error from AWS."""


class PermanentAwsError(AwsError, PermanentError):
    """AWS refused the request as it stands (validation, access, not found)."""


class InvalidUnitError(PermanentError):
    """A unit cannot be read or rendered. Names the unit, the file and the place."""

    def __init__(
        self,
        message: str,
        *,
        unit: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = " ".join(p for p in (f"unit {unit}" if unit else "", where) if p)
        located = f"{prefix}: {message}" if prefix else message
        if field:
            located = f"{located} (at {field})"
        super().__init__(Reason.INVALID_UNIT, located)
        self.unit = unit
        self.file = file
        self.line = line
        self.field = field
        self.detail = message


class UsageError(PermanentError):
    """The command line asked for something that cannot be done as asked."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.USAGE, message)
