"""Lint warns about what would deploy but hurt later, and reports every unit."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.desired.lint import (
    format_finding,
    format_report,
    lint_unit,
    lint_units,
    report_to_json,
)
from reconciler.model import (
    DesiredUnit,
    Finding,
    JsonObject,
    RenderResult,
    Severity,
)
from tests.validate.conftest import API_SCALING, SERVICE_FILE, TASK_FILE, MakeUnit

Mutation = Callable[[JsonObject, JsonObject], None]


def _deployment(**changes: Any) -> Mutation:
    def mutate(task: JsonObject, service: JsonObject) -> None:
        service["deploymentConfiguration"].update(changes)

    return mutate


def _container(name: str, key: str) -> Mutation:
    def mutate(task: JsonObject, service: JsonObject) -> None:
        next(c for c in task["containerDefinitions"] if c["name"] == name).pop(key)

    return mutate


def _service(**changes: Any) -> Mutation:
    def mutate(task: JsonObject, service: JsonObject) -> None:
        service.update(changes)

    return mutate


def _no_deployment_configuration(task: JsonObject, service: JsonObject) -> None:
    del service["deploymentConfiguration"]


def _maximum_100_default_minimum(task: JsonObject, service: JsonObject) -> None:
    service["deploymentConfiguration"]["maximumPercent"] = 100
    del service["deploymentConfiguration"]["minimumHealthyPercent"]


WARNINGS = [
    pytest.param(
        _deployment(deploymentCircuitBreaker={"enable": False, "rollback": False}),
        "circuit-breaker-off",
        SERVICE_FILE,
        "deploymentConfiguration.deploymentCircuitBreaker",
        id="circuit-breaker-disabled",
    ),
    pytest.param(
        _no_deployment_configuration,
        "circuit-breaker-off",
        SERVICE_FILE,
        "deploymentConfiguration.deploymentCircuitBreaker",
        id="circuit-breaker-left-out",
    ),
    pytest.param(
        _deployment(deploymentCircuitBreaker={"enable": True, "rollback": False}),
        "circuit-breaker-no-rollback",
        SERVICE_FILE,
        "deploymentConfiguration.deploymentCircuitBreaker.rollback",
        id="circuit-breaker-without-rollback",
    ),
    pytest.param(
        _container("app", "healthCheck"),
        "no-health-check",
        TASK_FILE,
        "containerDefinitions[app].healthCheck",
        id="essential-container-without-health-check",
    ),
    pytest.param(
        _container("otel", "logConfiguration"),
        "no-log-configuration",
        TASK_FILE,
        "containerDefinitions[otel].logConfiguration",
        id="container-without-log-configuration",
    ),
    pytest.param(
        _deployment(minimumHealthyPercent=0),
        "min-healthy-zero",
        SERVICE_FILE,
        "deploymentConfiguration.minimumHealthyPercent",
        id="minimum-healthy-zero-on-a-replica-service",
    ),
    pytest.param(
        _service(desiredCount=3),
        "desired-count-with-autoscaling",
        SERVICE_FILE,
        "desiredCount",
        id="desired-count-fixed-while-auto-scaling-owns-it",
    ),
    pytest.param(
        _deployment(maximumPercent=150),
        "max-percent-blocks-rollout",
        SERVICE_FILE,
        "deploymentConfiguration.maximumPercent",
        id="maximum-below-200-with-minimum-100",
    ),
    pytest.param(
        _maximum_100_default_minimum,
        "max-percent-blocks-rollout",
        SERVICE_FILE,
        "deploymentConfiguration.maximumPercent",
        id="maximum-100-with-the-default-minimum",
    ),
]


@pytest.mark.parametrize(("mutate", "code", "file", "field"), WARNINGS)
def test_a_risky_practice_is_a_warning_with_a_code_and_a_hint(
    mutate: Mutation,
    code: str,
    file: str,
    field: str,
    make_unit: MakeUnit,
    clean_task: JsonObject,
    clean_service: JsonObject,
) -> None:
    mutate(clean_task, clean_service)

    findings = lint_unit(make_unit(task=clean_task, service=clean_service))

    assert [(f.code, f.unit, f.file, f.field) for f in findings] == [(code, "api", file, field)]
    assert findings[0].severity is Severity.WARNING
    assert findings[0].hint


def test_a_value_from_the_reconcilers_environment_warns_that_a_revert_cannot_restore_it(
    make_unit: MakeUnit,
) -> None:
    unit = make_unit(unpinned_vars=frozenset({"IMAGE_TAG", "BUILD_ID"}))

    findings = lint_unit(unit)

    assert [(f.code, f.file, f.severity) for f in findings] == [
        ("unpinned-variable", "api/ecspresso.yml", Severity.WARNING)
    ] * 2
    assert "BUILD_ID" in findings[0].message
    assert "IMAGE_TAG" in findings[1].message
    assert findings[1].hint == "commit it as vars: {IMAGE_TAG: ...} in api/reconciler.yml"


def test_a_clean_unit_has_no_lint_warnings(make_unit: MakeUnit) -> None:
    assert lint_unit(make_unit()) == []


@pytest.mark.parametrize(
    ("mutate", "autoscaling"),
    [
        pytest.param(
            _service(deploymentController={"type": "CODE_DEPLOY"}, deploymentConfiguration={}),
            True,
            id="no-circuit-breaker-under-codedeploy",
        ),
        pytest.param(
            _service(
                schedulingStrategy="DAEMON",
                deploymentConfiguration={
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                    "minimumHealthyPercent": 0,
                    "maximumPercent": 100,
                },
            ),
            True,
            id="minimum-zero-on-a-daemon-service",
        ),
        pytest.param(_service(desiredCount=3), False, id="desired-count-without-auto-scaling"),
        pytest.param(
            _deployment(maximumPercent=150, minimumHealthyPercent=50),
            True,
            id="maximum-below-200-with-a-lower-minimum",
        ),
    ],
)
def test_a_practice_that_does_not_apply_is_not_warned_about(
    mutate: Mutation,
    autoscaling: bool,
    make_unit: MakeUnit,
    clean_task: JsonObject,
    clean_service: JsonObject,
) -> None:
    mutate(clean_task, clean_service)
    scaling = API_SCALING if autoscaling else None
    unit = make_unit(task=clean_task, service=clean_service, autoscaling=scaling)

    assert lint_unit(unit) == []


def test_a_non_essential_sidecar_needs_no_health_check(
    make_unit: MakeUnit, clean_task: JsonObject
) -> None:
    sidecar = clean_task["containerDefinitions"][1]
    assert sidecar["essential"] is False
    assert "healthCheck" not in sidecar

    sidecar["essential"] = True

    codes = [f.code for f in lint_unit(make_unit(task=clean_task))]
    assert codes == ["no-health-check"]


# Reports across units ---------------------------------------------------------


def _rendered(unit: DesiredUnit, *findings: Finding) -> RenderResult:
    return RenderResult(unit.id, unit.path, unit, findings)


BROKEN = RenderResult(
    "worker",
    "worker",
    None,
    (
        Finding(
            Severity.ERROR,
            "unknown template function 'must_envv'",
            unit="worker",
            file="worker/ecs-task-def.json",
            line=12,
            hint="use must_env",
            code="template",
        ),
    ),
)


def test_a_unit_that_did_not_render_is_reported_and_does_not_hide_the_others(
    make_unit: MakeUnit,
) -> None:
    report = lint_units([_rendered(make_unit("api")), BROKEN, _rendered(make_unit("frontend"))])

    assert [(u.id, u.errors, u.warnings) for u in report.units] == [
        ("api", 0, 0),
        ("worker", 1, 0),
        ("frontend", 0, 0),
    ]
    assert report.failed()


def test_warnings_fail_the_lint_only_when_strict(
    make_unit: MakeUnit, clean_service: JsonObject
) -> None:
    clean_service["desiredCount"] = 5
    report = lint_units([_rendered(make_unit(service=clean_service))])

    assert (report.errors, report.warnings) == (0, 1)
    assert not report.failed()
    assert report.failed(strict=True)


def test_render_warnings_are_kept_once_even_when_both_result_and_unit_carry_them(
    make_unit: MakeUnit,
) -> None:
    dropped = Finding(
        Severity.WARNING,
        "read-only key 'revision' dropped",
        unit="api",
        file=TASK_FILE,
        field="revision",
        code="read-only-key",
    )
    unit = dataclasses.replace(make_unit(), findings=(dropped,))

    report = lint_units([_rendered(unit, dropped)])

    assert report.units[0].findings == (dropped,)


def test_two_units_claiming_one_service_fail_the_lint(make_unit: MakeUnit) -> None:
    report = lint_units(
        [_rendered(make_unit("api")), _rendered(make_unit("api-v2", service_name="api"))]
    )

    assert [u.errors for u in report.units] == [1, 1]
    assert "claimed by unit api-v2" in report.units[0].findings[0].message


def test_the_text_report_groups_findings_by_unit_and_ends_with_a_summary(
    make_unit: MakeUnit, clean_task: JsonObject
) -> None:
    clean_task["containerDefinitions"][0].pop("image")
    report = lint_units(
        [_rendered(make_unit(task=clean_task)), BROKEN, _rendered(make_unit("web"))]
    )

    assert format_report(report).splitlines() == [
        "api:",
        "  api/ecs-task-def.json: error: the container has no image "
        "(at containerDefinitions[app].image); set image, e.g. "
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0 [image-missing]",
        "worker:",
        "  worker/ecs-task-def.json:12: error: unknown template function 'must_envv'; "
        "use must_env [template]",
        "web: ok",
        "3 units linted: 2 failed, 2 errors, 0 warnings",
    ]


def test_a_finding_without_a_place_still_reads_as_one_line() -> None:
    assert format_finding(Finding(Severity.WARNING, "something odd")) == "warning: something odd"


def test_the_json_report_has_a_stable_shape(make_unit: MakeUnit) -> None:
    report = lint_units([_rendered(make_unit("api")), BROKEN])

    body = json.loads(report_to_json(report))

    assert body["summary"] == {"units": 2, "failed": 1, "errors": 1, "warnings": 0}
    assert body["units"][0] == {"unit": "api", "path": "api", "ok": True, "findings": []}
    assert body["units"][1]["findings"] == [
        {
            "severity": "error",
            "code": "template",
            "message": "unknown template function 'must_envv'",
            "file": "worker/ecs-task-def.json",
            "line": 12,
            "field": None,
            "hint": "use must_env",
        }
    ]
