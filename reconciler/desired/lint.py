"""``reconciler lint``: validation plus the practices of running services at scale.

Validation errors (:mod:`reconciler.desired.validate`) mean AWS would refuse the
unit or the reconciler could not own it. The warnings here mean it would deploy,
and someone would regret it later: a rollout nobody can stop, a task nobody can
see into, a revert that cannot bring the old image back. Each warning has a
stable code, so a team can search for it, and a hint that says what to write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from reconciler.desired.validate import (
    Place,
    config_file,
    definition_file,
    validate_units,
)
from reconciler.model import DesiredUnit, Finding, JsonObject, RenderResult, Severity

# Rolling updates stop only when ECS is told to: these are ECS's own defaults.
DEFAULT_MINIMUM_HEALTHY_PERCENT = 100
DEFAULT_MAXIMUM_PERCENT = 200


@dataclass(frozen=True, slots=True)
class UnitLint:
    """One unit's findings: from rendering, validation and linting, in that order."""

    id: str
    path: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)


@dataclass(frozen=True, slots=True)
class LintReport:
    """Every linted unit, in the order rendering returned them."""

    units: tuple[UnitLint, ...]

    @property
    def errors(self) -> int:
        return sum(u.errors for u in self.units)

    @property
    def warnings(self) -> int:
        return sum(u.warnings for u in self.units)

    def failed(self, *, strict: bool = False) -> bool:
        """Errors fail a lint; with ``strict``, warnings do too."""
        return self.errors > 0 or (strict and self.warnings > 0)


def lint_units(results: Sequence[RenderResult]) -> LintReport:
    """Validate and lint every rendered unit; a unit that did not render keeps its findings.

    Units that claim the same service are checked against each other, so pass
    every unit that should be compared in one call.
    """
    rendered = [r.unit for r in results if r.unit is not None]
    validated = validate_units(rendered)
    units = []
    for result in results:
        findings = [*result.findings]
        if result.unit is not None:
            findings += result.unit.findings
            findings += validated[result.unit.id]
            findings += lint_unit(result.unit)
        units.append(UnitLint(result.id, result.path, tuple(dict.fromkeys(findings))))
    return LintReport(tuple(units))


def lint_unit(unit: DesiredUnit) -> list[Finding]:
    """The practice warnings for one rendered unit (validation is separate)."""
    findings = list(_lint_unpinned_vars(unit))
    task_place = Place(unit.id, definition_file(unit, unit.config.task_definition))
    service_place = Place(unit.id, definition_file(unit, unit.config.service_definition))
    if unit.task_definition is not None:
        findings.extend(_lint_containers(unit.task_definition, task_place))
    if unit.service is not None:
        findings.extend(_lint_deployment(unit.service, service_place))
        if unit.policy.autoscaling is not None and "desiredCount" in unit.service:
            findings.append(
                service_place.finding(
                    "desired-count-with-autoscaling",
                    f"desiredCount is fixed at {unit.service['desiredCount']} while auto scaling "
                    f"owns it ({unit.policy.autoscaling.min}..{unit.policy.autoscaling.max})",
                    field="desiredCount",
                    hint="remove desiredCount; the autoscaling min/max in reconciler.yml decide it",
                    severity=Severity.WARNING,
                )
            )
    return findings


def _lint_unpinned_vars(unit: DesiredUnit) -> Iterator[Finding]:
    for name in sorted(unit.unpinned_vars):
        yield Finding(
            severity=Severity.WARNING,
            message=f"rendered with {name} from the reconciler's environment, not from git: "
            "a revert could not bring the value back",
            unit=unit.id,
            file=config_file(unit),
            hint=f"commit it as vars: {{{name}: ...}} in {unit.path}/reconciler.yml",
            code="unpinned-variable",
        )


def _lint_containers(task: JsonObject, place: Place) -> Iterator[Finding]:
    containers = task.get("containerDefinitions")
    if not isinstance(containers, list):
        return
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        name = container.get("name")
        label = name if isinstance(name, str) and name else str(index)
        if container.get("essential", True) is not False and not container.get("healthCheck"):
            yield place.finding(
                "no-health-check",
                f"essential container {label!r} has no health check: ECS counts it healthy "
                "as soon as it starts",
                field=f"containerDefinitions[{label}].healthCheck",
                hint='add a healthCheck, e.g. {"command": ["CMD-SHELL", "curl -f '
                'localhost:8080/healthz || exit 1"]}',
                severity=Severity.WARNING,
            )
        if not container.get("logConfiguration"):
            yield place.finding(
                "no-log-configuration",
                f"container {label!r} has no log configuration: its output is lost",
                field=f"containerDefinitions[{label}].logConfiguration",
                hint='add a logConfiguration, e.g. {"logDriver": "awslogs", "options": {...}}',
                severity=Severity.WARNING,
            )


def _lint_deployment(service: JsonObject, place: Place) -> Iterator[Finding]:
    controller = service.get("deploymentController")
    controller_type = controller.get("type", "ECS") if isinstance(controller, dict) else "ECS"
    config = service.get("deploymentConfiguration")
    config = config if isinstance(config, dict) else {}
    breaker = config.get("deploymentCircuitBreaker")
    breaker = breaker if isinstance(breaker, dict) else {}

    # The circuit breaker only exists for ECS-controlled deployments.
    if controller_type == "ECS":
        if not breaker.get("enable"):
            yield place.finding(
                "circuit-breaker-off",
                "the deployment circuit breaker is off: a broken image keeps replacing "
                "tasks until the timeout",
                field="deploymentConfiguration.deploymentCircuitBreaker",
                hint='set "deploymentCircuitBreaker": {"enable": true, "rollback": true}',
                severity=Severity.WARNING,
            )
        elif not breaker.get("rollback"):
            yield place.finding(
                "circuit-breaker-no-rollback",
                "the circuit breaker stops a failed deployment but leaves it broken",
                field="deploymentConfiguration.deploymentCircuitBreaker.rollback",
                hint='set "rollback": true',
                severity=Severity.WARNING,
            )

    replica = service.get("schedulingStrategy", "REPLICA") == "REPLICA"
    minimum = config.get("minimumHealthyPercent", DEFAULT_MINIMUM_HEALTHY_PERCENT)
    maximum = config.get("maximumPercent", DEFAULT_MAXIMUM_PERCENT)
    if replica and minimum == 0:
        yield place.finding(
            "min-healthy-zero",
            "minimumHealthyPercent 0 lets a deployment stop every running task first",
            field="deploymentConfiguration.minimumHealthyPercent",
            hint="use 50 or 100 so some tasks keep serving during a rollout",
            severity=Severity.WARNING,
        )
    if (
        isinstance(maximum, int)
        and maximum < DEFAULT_MAXIMUM_PERCENT
        and minimum == DEFAULT_MINIMUM_HEALTHY_PERCENT
    ):
        yield place.finding(
            "max-percent-blocks-rollout",
            f"maximumPercent {maximum} with minimumHealthyPercent 100 leaves little or no "
            "room to start new tasks before old ones stop",
            field="deploymentConfiguration.maximumPercent",
            hint="use maximumPercent 200, or lower minimumHealthyPercent",
            severity=Severity.WARNING,
        )


# Output -----------------------------------------------------------------------


def format_finding(finding: Finding) -> str:
    """``file:line: severity: message (at field); hint [code]`` on one line."""
    where = ":".join(str(p) for p in (finding.file, finding.line) if p is not None)
    text = f"{finding.severity}: {finding.message}"
    if where:
        text = f"{where}: {text}"
    if finding.field:
        text += f" (at {finding.field})"
    if finding.hint:
        text += f"; {finding.hint}"
    if finding.code:
        text += f" [{finding.code}]"
    return text


def format_report(report: LintReport) -> str:
    """The report as a person reads it: findings grouped by unit, then a summary."""
    lines: list[str] = []
    for unit in report.units:
        if not unit.findings:
            lines.append(f"{unit.id}: ok")
            continue
        lines.append(f"{unit.id}:")
        lines.extend(f"  {format_finding(f)}" for f in unit.findings)
    lines.append(summarise(report))
    return "\n".join(lines)


def summarise(report: LintReport) -> str:
    units = len(report.units)
    failed = sum(1 for u in report.units if u.errors)
    return (
        f"{units} unit{'s' if units != 1 else ''} linted: {failed} failed, "
        f"{report.errors} error{'s' if report.errors != 1 else ''}, "
        f"{report.warnings} warning{'s' if report.warnings != 1 else ''}"
    )


def report_to_json(report: LintReport) -> str:
    """The stable shape scripts read with ``--output json``."""
    body = {
        "units": [
            {
                "unit": unit.id,
                "path": unit.path,
                "ok": unit.errors == 0,
                "findings": [
                    {
                        "severity": str(f.severity),
                        "code": f.code,
                        "message": f.message,
                        "file": f.file,
                        "line": f.line,
                        "field": f.field,
                        "hint": f.hint,
                    }
                    for f in unit.findings
                ],
            }
            for unit in report.units
        ],
        "summary": {
            "units": len(report.units),
            "failed": sum(1 for u in report.units if u.errors),
            "errors": report.errors,
            "warnings": report.warnings,
        },
    }
    return json.dumps(body, indent=2)
