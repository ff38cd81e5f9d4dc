"""Bad units are refused with a message naming the unit, the file and the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.desired.config import COMPATIBLE_ECSPRESSO_VERSION
from reconciler.model import Severity
from tests.render.repos import CONFIG, TASK, render, unit_files, write_repo

JSONNET_CONFIG = CONFIG.replace("ecs-task-def.json", "td.jsonnet")
TEMPLATED_TASK = '{\n  "family": "api",\n  "containerDefinitions": [\n    {"image": "%s"}\n  ]\n}'

# (files over the base unit "api", file, line, field, words in the message)
CASES = [
    pytest.param(
        {"api/ecs-task-def.json": '{\n  "family": "api",\n  "cpu": 256,,\n}'},
        "api/ecs-task-def.json",
        3,
        None,
        "not valid JSON",
        id="broken-json",
    ),
    pytest.param(
        {"api/ecspresso.yml": JSONNET_CONFIG, "api/td.jsonnet": "{\n  family: 'api',,\n}"},
        "api/td.jsonnet",
        2,
        None,
        "Jsonnet syntax error",
        id="broken-jsonnet",
    ),
    pytest.param(
        {
            "api/ecspresso.yml": JSONNET_CONFIG,
            "api/td.jsonnet": "local c = import 'lib.libsonnet';\n{ containerDefinitions: [c] }",
            "api/lib.libsonnet": "{\n  name: 'app',\n  image: error 'no image yet',\n}",
        },
        "api/lib.libsonnet",
        3,
        None,
        "no image yet",
        id="jsonnet-error-in-an-import",
    ),
    pytest.param(
        {"api/ecspresso.yml": "region: us-east-1\ncluster: [prod\ntask_definition: x\n"},
        "api/ecspresso.yml",
        3,
        None,
        "not valid YAML",
        id="broken-yaml",
    ),
    pytest.param(
        {"api/ecs-task-def.json": TEMPLATED_TASK % "{{ image_of `app` }}"},
        "api/ecs-task-def.json",
        4,
        None,
        'function "image_of" is not defined',
        id="unknown-template-function",
    ),
    pytest.param(
        {"api/ecs-task-def.json": TEMPLATED_TASK % "app:{{ must_env `IMAGE_TAG` }}"},
        "api/ecs-task-def.json",
        4,
        None,
        "variable IMAGE_TAG is not set",
        id="missing-variable",
    ),
    pytest.param(
        {"api/ecs-task-def.json": TEMPLATED_TASK % "app:{{ must_env `IMAGE_TAG` }"},
        "api/ecs-task-def.json",
        4,
        None,
        "unterminated action",
        id="unterminated-action",
    ),
    pytest.param(
        {"api/ecs-task-def.json": TEMPLATED_TASK % "{{ if true }}x"},
        "api/ecs-task-def.json",
        4,
        None,
        "without a matching {{ end }}",
        id="if-without-end",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG.replace("ecs-task-def.json", "../../etc/passwd")},
        "api/ecspresso.yml",
        5,
        "task_definition",
        "leaves the repository",
        id="definition-path-escapes-the-repo",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG.replace("ecs-service-def.json", "service.json")},
        "api/service.json",
        None,
        None,
        "does not exist",
        id="missing-definition-file",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + "filter_command: peco\n"},
        "api/ecspresso.yml",
        6,
        "filter_command",
        "filter_command is refused",
        id="filter-command",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + "plugins:\n  - name: external\n    config: {}\n"},
        "api/ecspresso.yml",
        7,
        "plugins[0].name",
        "external plugin is refused",
        id="external-plugin",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + "plugins:\n  - name: vault\n"},
        "api/ecspresso.yml",
        7,
        "plugins[0].name",
        "unknown plugin 'vault'",
        id="unknown-plugin",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + "timeout: 10 minutes\n"},
        "api/ecspresso.yml",
        6,
        "timeout",
        "Go duration",
        id="bad-config-timeout",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + 'required_version: ">= 3.0"\n'},
        "api/ecspresso.yml",
        6,
        "required_version",
        COMPATIBLE_ECSPRESSO_VERSION,
        id="required-version-mismatch",
    ),
    pytest.param(
        {"api/ecspresso.yml": CONFIG + 'required_version: "about two"\n'},
        "api/ecspresso.yml",
        6,
        "required_version",
        "cannot read the version constraint",
        id="unreadable-required-version",
    ),
    pytest.param(
        {"api/ecspresso.yml": "region: us-east-1\nservice: api\ntask_definition: t.json\n"},
        "api/ecspresso.yml",
        None,
        "service_definition",
        "has no service_definition",
        id="service-without-definition",
    ),
    pytest.param(
        {"api/reconciler.yml": "sync: auto\nsynk: manual\n"},
        "api/reconciler.yml",
        2,
        "synk",
        "unknown policy key 'synk'",
        id="unknown-policy-key",
    ),
    pytest.param(
        {"api/reconciler.yml": "autoscaling:\n  min: 1\n  maximum: 4\n"},
        "api/reconciler.yml",
        3,
        "autoscaling.maximum",
        "unknown policy key",
        id="unknown-nested-policy-key",
    ),
    pytest.param(
        {"api/reconciler.yml": "wave: two\n"},
        "api/reconciler.yml",
        1,
        "wave",
        "must be a whole number",
        id="policy-wrong-type",
    ),
    pytest.param(
        {"api/reconciler.yml": "drift: sometimes\n"},
        "api/reconciler.yml",
        1,
        "drift",
        "alert, heal, ignore",
        id="policy-bad-choice",
    ),
    pytest.param(
        {"api/reconciler.yml": "vars:\n  REPLICAS: 3\n"},
        "api/reconciler.yml",
        2,
        "vars.REPLICAS",
        "must be a string",
        id="policy-var-not-a-string",
    ),
    pytest.param(
        {"api/reconciler.yml": "autoscaling: {min: 10, max: 2}\n"},
        "api/reconciler.yml",
        1,
        "autoscaling.min",
        "min <= max",
        id="autoscaling-min-above-max",
    ),
    pytest.param(
        {"reconciler.yml": "prune: yes please\n"},
        "reconciler.yml",
        1,
        "prune",
        "true or false",
        id="repo-wide-policy-wrong-type",
    ),
    pytest.param(
        {"api/reconciler.yml": "env_file: ../secrets.env\n", "secrets.env": "A=b\n"},
        "api/reconciler.yml",
        1,
        "env_file",
        "outside the unit's folder",
        id="env-file-outside-the-unit",
    ),
    pytest.param(
        {"api/reconciler.yml": "env_file: app.env\n", "api/app.env": "A=1\nnot a pair\n"},
        "api/app.env",
        2,
        None,
        "not a KEY=VALUE line",
        id="env-file-bad-line",
    ),
    pytest.param(
        {
            "api/ecspresso.yml": JSONNET_CONFIG,
            "api/td.jsonnet": "{\n  family: import '../../../outside.libsonnet',\n}",
        },
        "api/td.jsonnet",
        2,
        None,
        "leaves the repository",
        id="jsonnet-import-escapes-the-repo",
    ),
    pytest.param(
        {"api/ecspresso.yml": JSONNET_CONFIG, "api/td.jsonnet": "{ family: std.extVar('FAM') }"},
        "api/td.jsonnet",
        1,
        None,
        "undefined external variable: FAM",
        id="jsonnet-undefined-ext-var",
    ),
    pytest.param(
        {
            "api/ecspresso.yml": JSONNET_CONFIG,
            "api/td.jsonnet": "{ containerDefinitions: [{ name: 'app', image: '{{ nope }}' }] }",
        },
        "api/td.jsonnet",
        None,
        "containerDefinitions[app].image",
        '"nope" is not defined',
        id="template-error-in-jsonnet-output-names-the-field",
    ),
    pytest.param(
        {
            "api/ecspresso.yml": CONFIG + "plugins:\n  - name: tfstate\n"
            "    config: {path: ../../../terraform.tfstate}\n",
            "api/ecs-task-def.json": TEMPLATED_TASK % "{{ tfstate `aws_ecr.app.url` }}",
        },
        "api/ecspresso.yml",
        None,
        "plugins",
        "leaves the repository",
        id="tfstate-path-escapes-the-repo",
    ),
    pytest.param(
        {"api/ecs-task-def.json": json.dumps([TASK])},
        "api/ecs-task-def.json",
        None,
        None,
        "must be a JSON object",
        id="task-definition-not-an-object",
    ),
    pytest.param(
        {"api/ecs-task-def.json": json.dumps({"family": "api"})},
        "api/ecs-task-def.json",
        None,
        "containerDefinitions",
        "no containerDefinitions",
        id="task-definition-without-containers",
    ),
]


@pytest.mark.parametrize(("overrides", "file", "line", "field", "words"), CASES)
def test_a_bad_unit_is_refused_naming_unit_file_and_place(
    tmp_path: Path,
    overrides: dict[str, str],
    file: str,
    line: int | None,
    field: str | None,
    words: str,
) -> None:
    files = write_repo(tmp_path, {**unit_files("api"), **overrides, **unit_files("healthy")})

    results = render(files, env={})

    bad = results["api"]
    assert not bad.ok
    assert bad.unit is None
    [finding] = bad.findings
    assert finding.severity is Severity.ERROR
    assert (finding.unit, finding.file, finding.line, finding.field) == ("api", file, line, field)
    assert words in finding.message
    assert "api" in str(finding)
    assert file in str(finding)
    # The healthy unit next door renders regardless (unless the repo-wide file broke it).
    assert results["healthy"].ok or file == "reconciler.yml"
