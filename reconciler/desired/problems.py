"""How rendering reports what is wrong: an error that becomes a Finding."""

from __future__ import annotations

from reconciler.errors import InvalidUnitError, ReconcilerError
from reconciler.model import Finding, Severity


class UnitError(InvalidUnitError):
    """A unit cannot be rendered. Names the unit, file, line or field, and a hint."""

    def __init__(
        self,
        message: str,
        *,
        unit: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        code: str = "render",
    ) -> None:
        super().__init__(
            f"{message}; {hint}" if hint else message, unit=unit, file=file, line=line, field=field
        )
        self.detail = message
        self.hint = hint
        self.code = code

    def to_finding(self) -> Finding:
        return Finding(
            severity=Severity.ERROR,
            message=self.detail,
            unit=self.unit,
            file=self.file,
            line=self.line,
            field=self.field,
            hint=self.hint,
            code=self.code,
        )


def finding_from_error(error: ReconcilerError, unit: str, file: str | None = None) -> Finding:
    """Any project error met while rendering ``unit``, as a Finding."""
    if isinstance(error, UnitError):
        return error.to_finding()
    if isinstance(error, InvalidUnitError):
        return Finding(
            severity=Severity.ERROR,
            message=error.detail,
            unit=error.unit or unit,
            file=error.file or file,
            line=error.line,
            field=error.field,
            code=str(error.reason),
        )
    return Finding(
        severity=Severity.ERROR,
        message=error.message,
        unit=unit,
        file=file,
        code=str(error.reason),
        hint="try again later" if error.transient else None,
    )


def warning(
    message: str,
    *,
    unit: str,
    file: str | None = None,
    line: int | None = None,
    field: str | None = None,
    hint: str | None = None,
    code: str = "render",
) -> Finding:
    return Finding(
        severity=Severity.WARNING,
        message=message,
        unit=unit,
        file=file,
        line=line,
        field=field,
        hint=hint,
        code=code,
    )
