"""Units in every form ecspresso repositories use, rendered to what should run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.model import AutoScaling, DriftPolicy, Severity, Sync, WaitMode
from tests.render.repos import CONFIG, FIXTURES, SERVICE, TASK, render, unit_files, write_repo

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason="ecspresso fixtures are not in ../shared/reference"
)


def test_a_json_unit_renders_its_config_task_and_service(tmp_path: Path) -> None:
    files = write_repo(tmp_path, unit_files("api"))

    result = render(files)["api"]

    assert result.ok
    assert result.unit is not None
    assert result.unit.task_definition == TASK
    assert result.unit.service == SERVICE
    assert result.unit.config.cluster == "prod"
    assert result.unit.config.service == "api"
    assert result.unit.config.task_definition == "api/ecs-task-def.json"
    assert result.unit.is_service
    assert result.unit.files == (
        "api/ecspresso.yml",
        "api/ecs-task-def.json",
        "api/ecs-service-def.json",
    )


def test_a_unit_without_a_service_is_a_task_definition_alone(tmp_path: Path) -> None:
    config = "region: eu-west-1\ntask_definition: td.json\n"
    files = write_repo(tmp_path, {"batch/ecspresso.yml": config, "batch/td.json": json.dumps(TASK)})

    unit = render(files)["batch"].unit

    assert unit is not None
    assert unit.service is None
    assert not unit.is_service
    assert unit.config.cluster == "default"
    assert unit.config.region == "eu-west-1"


def test_jsonnet_definitions_import_libraries_and_read_committed_ext_vars(tmp_path: Path) -> None:
    files = write_repo(
        tmp_path,
        {
            "lib/container.libsonnet": "{ name: 'app', essential: true, cpu: 256 }",
            "api/ecspresso.yml": CONFIG.replace(".json", ".jsonnet"),
            "api/reconciler.yml": "vars:\n  TAG: '1.4.2'\n  FAMILY: api\n",
            "api/ecs-task-def.jsonnet": """
                local container = import '../lib/container.libsonnet';
                {
                  family: std.extVar('FAMILY'),
                  containerDefinitions: [
                    container { image: 'app:' + std.native('must_env')('TAG') },
                  ],
                }""",
            "api/ecs-service-def.jsonnet": "{ desiredCount: 1 + 1 }",
        },
    )

    result = render(files)["api"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition == {
        "family": "api",
        "containerDefinitions": [
            {"name": "app", "essential": True, "cpu": 256, "image": "app:1.4.2"}
        ],
    }
    assert result.unit.service == {"desiredCount": 2}
    assert "lib/container.libsonnet" in result.unit.files


def test_templates_run_on_jsonnet_output_as_ecspresso_does(tmp_path: Path) -> None:
    files = write_repo(
        tmp_path,
        {
            "api/ecspresso.jsonnet": "{ region: '{{ must_env `REGION` }}', "
            "task_definition: 'td.jsonnet' }",
            "api/reconciler.yml": "vars: {REGION: ap-northeast-1, TAG: v9}\n",
            "api/td.jsonnet": "{ containerDefinitions: [{ name: 'app', "
            "image: 'app:{{ env `TAG` `latest` }}' }] }",
        },
    )

    unit = render(files)["api"].unit

    assert unit is not None
    assert unit.config.region == "ap-northeast-1"
    assert unit.task_definition is not None
    assert unit.task_definition["containerDefinitions"][0]["image"] == "app:v9"


def test_capitalised_keys_are_accepted_but_user_data_keys_are_kept(tmp_path: Path) -> None:
    task = {
        "Family": "api",
        "ContainerDefinitions": [
            {
                "Name": "app",
                "Image": "nginx",
                "DockerLabels": {"Team": "web"},
                "LogConfiguration": {"LogDriver": "awslogs", "Options": {"Awslogs-Group": "g"}},
                "PortMappings": [{"ContainerPort": 80}],
            }
        ],
        "Volumes": [
            {
                "Name": "v",
                "DockerVolumeConfiguration": {"Labels": {"A": "b"}, "DriverOpts": {"X": "y"}},
            }
        ],
    }
    service = {"DesiredCount": 3, "DeploymentConfiguration": {"MinimumHealthyPercent": 50}}
    files = write_repo(tmp_path, unit_files("api", task=task, service=service))

    unit = render(files)["api"].unit

    assert unit is not None
    assert unit.task_definition == {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "nginx",
                "dockerLabels": {"Team": "web"},
                "logConfiguration": {"logDriver": "awslogs", "options": {"Awslogs-Group": "g"}},
                "portMappings": [{"containerPort": 80}],
            }
        ],
        "volumes": [
            {
                "name": "v",
                "dockerVolumeConfiguration": {"labels": {"A": "b"}, "driverOpts": {"X": "y"}},
            }
        ],
    }
    assert unit.service == {
        "desiredCount": 3,
        "deploymentConfiguration": {"minimumHealthyPercent": 50},
    }


def test_read_only_keys_are_dropped_with_a_warning_naming_them(tmp_path: Path) -> None:
    task = {**TASK, "revision": 7, "status": "ACTIVE", "taskDefinitionArn": "arn:x"}
    service = {**SERVICE, "serviceArn": "arn:s", "runningCount": 2, "events": []}
    files = write_repo(tmp_path, unit_files("api", task=task, service=service))

    result = render(files)["api"]

    assert result.ok
    assert result.unit is not None
    assert result.unit.task_definition == TASK
    assert result.unit.service == SERVICE
    messages = [(f.severity, f.file, f.message) for f in result.findings]
    assert (
        Severity.WARNING,
        "api/ecs-task-def.json",
        "read-only task definition keys dropped: revision, status, taskDefinitionArn",
    ) in messages
    assert any("serviceArn, runningCount, events" in m for _, _, m in messages)


def test_unknown_config_keys_warn_with_their_line(tmp_path: Path) -> None:
    files = write_repo(tmp_path, unit_files("api", config=CONFIG + "colour: blue\n"))

    result = render(files)["api"]

    assert result.ok
    [finding] = result.findings
    assert (finding.severity, finding.file, finding.line, finding.field) == (
        Severity.WARNING,
        "api/ecspresso.yml",
        6,
        "colour",
    )


def test_config_keys_follow_ecspresso_semantics(tmp_path: Path) -> None:
    config = """\
required_version: ">= 2.0, < 3"
cluster: prod
service: api
service_definition: ecs-service-def.json
task_definition: ecs-task-def.json
timeout: 1h2m3s
ignore:
  tags: [owner, cost-center]
appspec: {version: 0.0}
codedeploy: {application_name: app, deployment_group_name: dg}
plugins:
  - name: tfstate
    func_prefix: net_
    config: {path: ../infra/terraform.tfstate}
"""
    files = write_repo(tmp_path, unit_files("api", config=config))

    unit = render(files, env={"AWS_DEFAULT_REGION": "eu-central-1"})["api"].unit

    assert unit is not None
    assert unit.config.region == "eu-central-1"
    assert unit.unpinned_vars == {"AWS_DEFAULT_REGION"}
    assert unit.config.timeout == 3723.0
    assert unit.config.ignore_tags == ("owner", "cost-center")
    assert unit.config.codedeploy == {"application_name": "app", "deployment_group_name": "dg"}
    assert unit.config.required_version == ">= 2.0, < 3"
    assert unit.config.plugins[0]["func_prefix"] == "net_"


def test_committed_vars_and_the_env_file_come_before_the_environment(tmp_path: Path) -> None:
    task = {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "app:{{ must_env `TAG` }}",
                "environment": [
                    {"name": "LEVEL", "value": "{{ must_env `LEVEL` }}"},
                    {"name": "REGION", "value": "{{ env `FROM_ENV` `none` }}"},
                    {"name": "FILE", "value": "{{ must_env `ONLY_IN_FILE` }}"},
                ],
            }
        ],
    }
    files = write_repo(
        tmp_path,
        {
            **unit_files("api", task=task),
            "api/reconciler.yml": "env_file: app.env\nvars:\n  TAG: '2.0'\n  LEVEL: info\n",
            "api/app.env": "# committed\nexport LEVEL=debug\nONLY_IN_FILE='from file'\n\n",
        },
    )

    unit = render(files, env={"TAG": "ci-built", "FROM_ENV": "outside"})["api"].unit

    assert unit is not None
    assert unit.task_definition is not None
    container = unit.task_definition["containerDefinitions"][0]
    assert container["image"] == "app:2.0"
    assert [e["value"] for e in container["environment"]] == ["info", "outside", "from file"]
    assert unit.unpinned_vars == {"FROM_ENV"}
    assert "api/app.env" in unit.files


def test_policy_merges_repo_defaults_under_the_units_own(tmp_path: Path) -> None:
    files = write_repo(
        tmp_path,
        {
            **unit_files("api"),
            **unit_files("web"),
            "reconciler.yml": """\
sync: manual
drift: heal
timeout: 15m
aws: {role_arn: "arn:aws:iam::1:role/deployer", external_id: repo}
vars: {TAG: repo, REGION: us-east-1}
autoscaling: {min: 1, max: 2, suspend_during_rollout: false}
""",
            "api/reconciler.yml": """\
sync: auto
wait: deployed
wave: 2
depends_on: [web]
on_failure: revert
prune: true
aws: {external_id: api}
vars: {TAG: api}
autoscaling: {min: 5, max: 50}
""",
        },
    )

    results = render(files)
    api, web = results["api"].unit, results["web"].unit

    assert api is not None
    assert web is not None
    assert api.policy.sync is Sync.AUTO
    assert web.policy.sync is Sync.MANUAL
    assert api.policy.drift is DriftPolicy.HEAL
    assert api.policy.wait is WaitMode.DEPLOYED
    assert web.policy.wait is WaitMode.STABLE
    assert api.policy.timeout == 900.0
    assert (api.policy.wave, api.policy.depends_on) == (2, ("web",))
    assert api.policy.prune
    assert not web.policy.prune
    assert api.policy.aws.role_arn == "arn:aws:iam::1:role/deployer"
    assert api.policy.aws.external_id == "api"
    assert dict(api.policy.vars) == {"TAG": "api", "REGION": "us-east-1"}
    assert api.policy.autoscaling == AutoScaling(min=5, max=50, suspend_during_rollout=False)
    assert web.policy.autoscaling == AutoScaling(min=1, max=2, suspend_during_rollout=False)


def test_one_broken_unit_never_hides_the_others(tmp_path: Path) -> None:
    files = write_repo(
        tmp_path,
        {**unit_files("a"), **unit_files("b", task="{ not json"), **unit_files("c")},
    )

    results = render(files)

    assert [r.id for r in results.values()] == ["a", "b", "c"]
    assert [r.ok for r in results.values()] == [True, False, True]


def test_only_the_units_asked_for_are_rendered(tmp_path: Path) -> None:
    files = write_repo(tmp_path, {**unit_files("a"), **unit_files("b", task="{ broken")})

    assert list(render(files, units=["a"])) == ["a"]


# ecspresso's own fixtures, read as they are.


def copy_fixtures(target: Path, names: list[str]) -> None:
    for name in names:
        source = FIXTURES / name
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copyfile(source, destination)


TFSTATE = {
    "version": 4,
    "outputs": {"vpc": {"value": {"id": "vpc-1"}}},
    "resources": [
        {
            "mode": "managed",
            "type": "aws_ecr_repository",
            "name": "all",
            "each": "map",
            "instances": [
                {"index_key": "app", "attributes": {"repository_url": "1.dkr.ecr/app"}},
                {"index_key": "web", "attributes": {"repository_url": "1.dkr.ecr/web"}},
            ],
        },
        {
            "mode": "managed",
            "type": "aws_subnet",
            "name": "private-a",
            "instances": [{"attributes": {"id": "subnet-a"}}],
        },
        {
            "mode": "data",
            "type": "aws_security_group",
            "name": "default",
            "each": "map",
            "instances": [{"index_key": "first", "attributes": {"id": "sg-1"}}],
        },
    ],
}


@needs_fixtures
def test_ecspressos_templated_fixture_unit_renders_with_tfstate(tmp_path: Path) -> None:
    unit_folder = tmp_path / "legacy"
    copy_fixtures(unit_folder, ["ecspresso.yml", "ecs-task-def.json", "ecs-service-def.json"])
    (unit_folder / "terraform.tfstate").write_text(json.dumps(TFSTATE))
    (unit_folder / "reconciler.yml").write_text("vars: {TAG: v1, JSON: '{\"k\": 1}'}\n")

    result = render(write_repo(tmp_path, {}), env={"AWS_REGION": "us-west-2"})["legacy"]

    assert result.ok, result.findings
    assert result.unit is not None
    assert result.unit.task_definition is not None
    assert result.unit.service is not None
    container = result.unit.task_definition["containerDefinitions"][0]
    assert container["image"] == "1.dkr.ecr/app:v1"
    assert container["environment"] == [{"name": "JSON", "value": '{"k": 1}'}]
    network = result.unit.service["networkConfiguration"]["awsvpcConfiguration"]
    assert (network["subnets"], network["securityGroups"]) == (["subnet-a"], ["sg-1"])
    assert result.unit.config.timeout == 600.0
    assert result.unit.unpinned_vars == {"AWS_REGION"}
    assert "legacy/terraform.tfstate" in result.unit.files


@needs_fixtures
@pytest.mark.parametrize(
    ("task_file", "family"),
    [
        pytest.param("td.json", "katsubushi", id="wrapped-as-described"),
        pytest.param("td-plain-in-tags.json", "katsubushi", id="read-only-and-tags"),
        pytest.param("td.jsonnet", "katsubushi", id="jsonnet-import-ext-vars"),
    ],
)
def test_ecspressos_task_definition_fixtures_render(
    tmp_path: Path, task_file: str, family: str
) -> None:
    unit_folder = tmp_path / "katsu"
    copy_fixtures(unit_folder, [task_file, "libs", "sv.jsonnet"])
    (unit_folder / "ecspresso.yml").write_text(
        f"region: us-east-1\nservice: katsubushi\nservice_definition: sv.jsonnet\n"
        f"task_definition: {task_file}\n"
    )
    (unit_folder / "reconciler.yml").write_text(
        "vars: {EphemeralStorage: '25', WorkerID: '3', TAG: '1.0'}\n"
    )

    result = render(write_repo(tmp_path, {}))["katsu"]

    assert result.ok, result.findings
    assert result.unit is not None
    task = result.unit.task_definition
    assert task is not None
    assert task["family"] == family
    assert "revision" not in task
    assert "status" not in task
    container = task["containerDefinitions"][0]
    assert container["environment"] == [{"name": "worker_id", "value": "3"}]
    assert container["image"] in {"katsubushi/katsubushi:1.0", "katsubushi/katsubushi:latest"}
    assert result.unit.service is not None
    assert result.unit.service["deploymentConfiguration"]["alarms"]["enable"] is True


@needs_fixtures
@pytest.mark.parametrize("config", ["ecspresso.yml", "ecspresso.jsonnet", "config_codedeploy.yml"])
def test_ecspressos_config_fixtures_load(tmp_path: Path, config: str) -> None:
    unit_folder = tmp_path / "unit"
    copy_fixtures(unit_folder, [config, "ecs-service-def.json", "ecs-task-def.json"])
    if config == "config_codedeploy.yml":
        # That fixture declares no tfstate plugin: give it definitions without one.
        write_repo(unit_folder, unit_files(".", service={"desiredCount": 1}))
        (unit_folder / "ecspresso.yml").unlink()
    if config != "ecspresso.yml":
        (unit_folder / config).rename(unit_folder / f"ecspresso{Path(config).suffix}")
    (unit_folder / "terraform.tfstate").write_text(json.dumps(TFSTATE))
    (unit_folder / "reconciler.yml").write_text("vars: {TAG: v1, JSON: '[]'}\n")

    result = render(write_repo(tmp_path, {}), env={"AWS_REGION": "us-west-2"})["unit"]

    assert result.unit is not None, result.findings
    assert result.unit.config.service == "test"
    assert result.unit.config.region == "us-west-2"
    if config == "config_codedeploy.yml":
        assert result.unit.config.codedeploy == {
            "application_name": "myapp",
            "deployment_group_name": "mydeployment",
        }
