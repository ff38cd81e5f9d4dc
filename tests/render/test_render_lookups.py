"""Lookups from templates and Jsonnet, served by the emulator over HTTP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.diff import diff_unit, mask_changes
from tests.conftest import EmulatorHandle
from tests.render.repos import FIXTURES, render, unit_files, write_repo

STACK_TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "events"}}},
    "Outputs": {
        "TargetGroup": {"Value": "arn:aws:elasticloadbalancing:tg/web"},
        "Cluster": {"Value": "prod-cluster", "Export": {"Name": "shared-cluster"}},
    },
}


def task_with(environment: dict[str, str]) -> dict[str, object]:
    return {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "nginx",
                "environment": [{"name": k, "value": v} for k, v in environment.items()],
            }
        ],
    }


def test_ssm_secretsmanager_and_cloudformation_lookups_fill_the_definition(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/prod/level", Value="info", Type="String")
    ssm.put_parameter(Name="/prod/db-password", Value="hunter2-long", Type="SecureString")
    ssm.put_parameter(Name="/prod/subnets", Value="subnet-a,subnet-b", Type="StringList")
    arn = emulator.client("secretsmanager").create_secret(Name="prod/api", SecretString="x")["ARN"]
    emulator.client("cloudformation").create_stack(
        StackName="web", TemplateBody=json.dumps(STACK_TEMPLATE)
    )
    config = "region: us-east-1\ntask_definition: td.json\nplugins:\n  - name: cloudformation\n"
    task = task_with(
        {
            "LEVEL": "{{ ssm `/prod/level` }}",
            "DB_PASSWORD": "{{ ssm `/prod/db-password` }}",
            "SUBNET": "{{ ssm `/prod/subnets` 1 }}",
            "API_SECRET": "{{ secretsmanager_arn `prod/api` }}",
            "TG": "{{ cfn_output `web` `TargetGroup` }}",
            "CLUSTER": "{{ cfn_export `shared-cluster` }}",
        }
    )
    files = write_repo(tmp_path, {"api/ecspresso.yml": config, "api/td.json": json.dumps(task)})

    result = render(files, aws=aws)["api"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    environment = result.unit.task_definition["containerDefinitions"][0]["environment"]
    assert {e["name"]: e["value"] for e in environment} == {
        "LEVEL": "info",
        "DB_PASSWORD": "hunter2-long",
        "SUBNET": "subnet-b",
        "API_SECRET": arn,
        "TG": "arn:aws:elasticloadbalancing:tg/web",
        "CLUSTER": "prod-cluster",
    }
    # Named as the diff stage names its changes, so it masks them.
    assert result.unit.secret_paths == {
        "containerDefinitions[app].environment[DB_PASSWORD]",
        "containerDefinitions[app].environment[API_SECRET]",
    }


def test_a_value_many_units_read_is_looked_up_once(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm").put_parameter(Name="/shared/tag", Value="v7", Type="String")
    task = task_with({"TAG": "{{ ssm `/shared/tag` }}"})
    files = write_repo(
        tmp_path,
        {**unit_files("a", task=task), **unit_files("b", task=task), **unit_files("c", task=task)},
    )

    results = render(files, aws=aws)

    assert all(r.ok for r in results.values())
    assert aws.calls["ssm:GetParameter"] == 1


def test_tfstate_from_s3_with_a_func_prefix(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="states")
    state = {
        "version": 4,
        "resources": [
            {
                "module": "module.network",
                "mode": "managed",
                "type": "aws_subnet",
                "name": "private",
                "each": "list",
                "instances": [
                    {"index_key": 0, "attributes": {"id": "subnet-0"}},
                    {"index_key": 1, "attributes": {"id": "subnet-1", "tags": {"Name": "b"}}},
                ],
            }
        ],
    }
    s3.put_object(Bucket="states", Key="net.tfstate", Body=json.dumps(state).encode())
    config = (
        "region: us-east-1\ntask_definition: td.json\nplugins:\n"
        "  - name: tfstate\n    func_prefix: net_\n"
        "    config: {url: 's3://states/net.tfstate'}\n"
    )
    task = task_with(
        {
            "FIRST": "{{ net_tfstate `module.network.aws_subnet.private[0].id` }}",
            "SECOND": "{{ net_tfstatef `module.network.aws_subnet.private[%s].tags.Name` `1` }}",
        }
    )
    files = write_repo(tmp_path, {"api/ecspresso.yml": config, "api/td.json": json.dumps(task)})

    result = render(files, aws=aws)["api"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    environment = result.unit.task_definition["containerDefinitions"][0]["environment"]
    assert [e["value"] for e in environment] == ["subnet-0", "b"]


def test_jsonnet_native_functions_look_values_up(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm").put_parameter(Name="/net/sg", Value="sg-1,sg-2", Type="StringList")
    files = write_repo(
        tmp_path,
        {
            "api/ecspresso.yml": "region: us-east-1\ntask_definition: td.jsonnet\n",
            "api/reconciler.yml": "vars: {TAG: v3}\n",
            "api/td.jsonnet": """
                local env = std.native('env');
                {
                  family: 'api',
                  containerDefinitions: [{
                    name: 'app',
                    image: 'app:' + env('TAG', 'latest'),
                    environment: [
                      { name: 'SG', value: std.native('ssm_list')('/net/sg', 1) },
                      { name: 'ALL', value: std.native('ssm')('/net/sg') },
                    ],
                  }],
                }""",
        },
    )

    result = render(files, aws=aws)["api"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    container = result.unit.task_definition["containerDefinitions"][0]
    assert container["image"] == "app:v3"
    assert [e["value"] for e in container["environment"]] == ["sg-2", "sg-1,sg-2"]


def test_a_parameter_that_does_not_exist_is_an_error_at_its_line(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    task = (
        '{\n  "family": "api",\n  "cpu": "{{ ssm `/missing` }}",\n  "containerDefinitions": []\n}'
    )
    files = write_repo(tmp_path, unit_files("api", task=task))

    [finding] = render(files, aws=aws)["api"].findings

    assert (finding.unit, finding.file, finding.line) == ("api", "api/ecs-task-def.json", 3)
    assert "ParameterNotFound" in finding.message


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="ecspresso fixtures are not available")
def test_ecspressos_ci_fixture_renders_against_the_emulator(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm", "ap-northeast-1").put_parameter(
        Name="/ecspresso-test/foo", Value="foo-value", Type="String"
    )
    secrets = emulator.client("secretsmanager", "ap-northeast-1")
    baz = secrets.create_secret(Name="ecspresso-test/baz", SecretString="b")["ARN"]
    secrets.create_secret(Name="ecspresso-test/json", SecretString="{}")
    shutil.copytree(FIXTURES / "ci", tmp_path / "ci")
    (tmp_path / "ci" / "reconciler.yml").write_text(
        "vars: {SERVICE: nginx, AWS_ACCOUNT_ID: '123456789012', DEPLOYMENT_CONTROLLER: ECS}\n"
    )

    result = render(write_repo(tmp_path, {}), aws=aws)["ci"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.config.service == "nginx"
    assert result.unit.config.plugins == ()
    assert result.unit.task_definition is not None
    nginx = result.unit.task_definition["containerDefinitions"][0]
    values = {e["name"]: e["value"] for e in nginx["environment"]}
    assert values == {"FOO_ENV": "foo-value", "BAZ_ARN": baz}
    assert result.unit.service is not None
    assert result.unit.service["deploymentController"] == {"type": "ECS"}


def test_plugin_func_prefixes_name_their_functions(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm").put_parameter(Name="/p", Value="from-ssm", Type="String")
    emulator.client("cloudformation").create_stack(
        StackName="web", TemplateBody=json.dumps(STACK_TEMPLATE)
    )
    config = (
        "region: us-east-1\ntask_definition: td.json\nplugins:\n"
        "  - {name: cloudformation, func_prefix: infra_}\n"
        "  - {name: ssm, func_prefix: param_}\n"
    )
    task = task_with(
        {
            "TG": "{{ infra_cfn_output `web` `TargetGroup` }}",
            "P": "{{ param_ssm `/p` }}",
            "PLAIN": "{{ ssm `/p` }}",
        }
    )
    files = write_repo(tmp_path, {"api/ecspresso.yml": config, "api/td.json": json.dumps(task)})

    result = render(files, aws=aws)["api"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    environment = result.unit.task_definition["containerDefinitions"][0]["environment"]
    assert [e["value"] for e in environment] == [
        "arn:aws:elasticloadbalancing:tg/web",
        "from-ssm",
        "from-ssm",
    ]


def test_a_cloudformation_function_needs_its_plugin(tmp_path: Path, aws: Aws) -> None:
    task = '{"family": "a",\n "cpu": "{{ cfn_export `x` }}", "containerDefinitions": []}'
    files = write_repo(tmp_path, unit_files("api", task=task))

    [finding] = render(files, aws=aws)["api"].findings

    assert (finding.file, finding.line) == ("api/ecs-task-def.json", 2)
    assert 'function "cfn_export" is not defined' in finding.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("{{ ssm `/plain` 0 }}", "needs a StringList parameter", id="index-on-string"),
        pytest.param("{{ ssm `/list` 5 }}", "out of range", id="index-out-of-range"),
        pytest.param("{{ tfstate `aws_lb.web.arn` }}", "not in the repository", id="no-state-file"),
    ],
)
def test_lookups_that_cannot_answer_name_the_line(
    tmp_path: Path,
    aws: Aws,
    emulator: EmulatorHandle,
    value: str,
    words: str,
) -> None:
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/plain", Value="x", Type="String")
    ssm.put_parameter(Name="/list", Value="a,b", Type="StringList")
    config = (
        "region: us-east-1\ntask_definition: td.json\n"
        "plugins:\n  - {name: tfstate, config: {path: missing.tfstate}}\n"
    )
    task = '{\n  "family": "api",\n  "cpu": "' + value + '",\n  "containerDefinitions": []\n}'
    files = write_repo(tmp_path, {"api/ecspresso.yml": config, "api/td.json": task})

    [finding] = render(files, aws=aws)["api"].findings

    assert (finding.unit, finding.file, finding.line) == ("api", "api/td.json", 3)
    assert words in finding.message


def test_many_jsonnet_units_with_lookups_render_together(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm").put_parameter(Name="/img", Value="app:5", Type="String")
    units: dict[str, str] = {}
    for number in range(40):
        units[f"svc{number:02}/ecspresso.yml"] = "region: us-east-1\ntask_definition: td.jsonnet\n"
        units[f"svc{number:02}/td.jsonnet"] = (
            f"{{ family: 'svc{number}', containerDefinitions: "
            "[{ name: 'app', image: std.native('ssm')('/img') }] }"
        )
    files = write_repo(tmp_path, units)

    results = render(files, aws=aws)

    assert len(results) == 40
    assert all(r.ok for r in results.values())
    images = {
        r.unit.task_definition["containerDefinitions"][0]["image"]
        for r in results.values()
        if r.unit is not None and r.unit.task_definition is not None
    }
    assert images == {"app:5"}


def test_the_diff_stage_masks_the_secret_paths_render_records(
    tmp_path: Path, aws: Aws, emulator: EmulatorHandle
) -> None:
    emulator.client("ssm").put_parameter(Name="/db", Value="pa55word-xyz", Type="SecureString")
    task = task_with({"DB_URL": "postgres://app:{{ ssm `/db` }}@db", "MODE": "live"})
    files = write_repo(tmp_path, unit_files("api", task=task))
    unit = render(files, aws=aws)["api"].unit
    assert unit is not None
    assert unit.task_definition is not None
    live = json.loads(json.dumps(unit.task_definition))
    live["containerDefinitions"][0]["environment"] = [
        {"name": "DB_URL", "value": "postgres://app:old@db"},
        {"name": "MODE", "value": "test"},
    ]

    changes = diff_unit(unit, live_task_definition=live, live_service=None).changes
    shown = {c.path: c.desired for c in mask_changes(changes, unit.secret_paths)}

    assert shown["containerDefinitions[app].environment[DB_URL]"] == "(masked)"
    assert shown["containerDefinitions[app].environment[MODE]"] == "live"
