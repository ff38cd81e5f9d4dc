"""``reconciler plan`` and ``reconciler init`` end to end, against the emulator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pygit2
import pytest

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.desired import render_units
from reconciler.diff import MASK
from reconciler.live import TaskDefinitionCache
from reconciler.loop.planning import plan_revision
from reconciler.model import TAG_DIGEST, TAG_REVISION, TAG_TASK_DEFINITION, PlanStatus
from reconciler.plan import desired_digest
from reconciler.source import open_repo_files
from tests.conftest import EmulatorHandle, run_async
from tests.units import write_unit


def deploy_as_applied(
    emulator: EmulatorHandle,
    root: Path,
    names: list[str],
    *,
    revision: str | None = None,
    digest_override: str | None = None,
) -> None:
    """Create services as apply would leave them: tagged with digest, ARN and revision."""
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    results = run_async(render_units(open_repo_files(root), None, names))
    for result in results:
        unit = result.unit
        assert unit is not None, result.findings
        assert unit.task_definition is not None
        assert unit.service is not None
        arn = ecs.register_task_definition(**unit.task_definition)["taskDefinition"][
            "taskDefinitionArn"
        ]
        tags = [
            {"key": TAG_DIGEST, "value": digest_override or desired_digest(unit) or ""},
            {"key": TAG_TASK_DEFINITION, "value": arn},
        ]
        if revision:
            tags.append({"key": TAG_REVISION, "value": revision})
        ecs.create_service(
            cluster="prod", serviceName=unit.id, taskDefinition=arn, tags=tags, **unit.service
        )


def test_planning_120_applied_services_stays_within_the_call_budget_cold_and_warm(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    names = [f"svc-{i:03d}" for i in range(120)]
    for name in names:
        write_unit(tmp_path, name)
    deploy_as_applied(emulator, tmp_path, names)
    budget = math.ceil(120 / 10) + math.ceil(120 / 50) + 2
    files = open_repo_files(tmp_path)
    cache = TaskDefinitionCache()

    emulator.reset_stats()
    cold = run_async(plan_revision(files, aws, cache=cache)).plan
    cold_calls = sum(emulator.stats().values())
    emulator.reset_stats()
    warm = run_async(plan_revision(files, aws, cache=cache)).plan
    warm_calls = sum(emulator.stats().values())

    assert {u.status for u in cold.units} == {PlanStatus.IN_SYNC}
    assert {u.status for u in warm.units} == {PlanStatus.IN_SYNC}
    assert cold_calls <= budget, emulator.stats()
    assert warm_calls <= budget


def test_a_new_digest_version_does_not_make_unchanged_units_plan_as_changed(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    names = ["api", "web"]
    for name in names:
        write_unit(tmp_path, name)
    deploy_as_applied(emulator, tmp_path, names, digest_override="v0:from-an-older-normaliser")

    plan = run_async(plan_revision(open_repo_files(tmp_path), aws)).plan

    assert [u.status for u in plan.units] == [PlanStatus.IN_SYNC, PlanStatus.IN_SYNC]
    # The tags could not vouch, so the task definitions were read and compared.
    assert emulator.stats()["ecs:DescribeTaskDefinition"] == 2


@pytest.fixture
def cli_env(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    return emulator


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_exits_0_in_sync_2_when_changes_are_pending_and_says_which(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(tmp_path, "api")
    deploy_as_applied(cli_env, tmp_path, ["api"])
    assert run_cli(capsys, "plan", "--repo", str(tmp_path))[0] == 0

    write_unit(tmp_path, "api", image="nginx:1.28")
    code, out, _ = run_cli(capsys, "plan", "--repo", str(tmp_path), "--output", "json")

    assert code == 2
    document = json.loads(out)
    (unit,) = document["units"]
    assert unit["status"] == "changed"
    assert unit["cause"] == "change"
    assert unit["changes"] == [
        {
            "resource": "task_definition",
            "path": "containerDefinitions[app].image",
            "live": "nginx:1.27",
            "desired": "nginx:1.28",
        }
    ]
    assert unit["steps"] == ["register_task_definition", "update_service"]


def test_an_invalid_unit_is_an_error_and_the_others_are_still_planned(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(tmp_path, "api")
    write_unit(tmp_path, "broken")
    (tmp_path / "broken" / "ecs-task-def.json").write_text('{"family": "broken",')
    cli_env.client("ecs").create_cluster(clusterName="prod")

    code, out, _ = run_cli(capsys, "plan", "--repo", str(tmp_path), "--output", "json")

    assert code == 1
    units = {u["unit"]: u for u in json.loads(out)["units"]}
    assert units["api"]["status"] == "missing"
    assert units["broken"]["status"] == "error"
    assert units["broken"]["error"]["file"] == "broken/ecs-task-def.json"
    assert units["broken"]["error"]["reason"]


def test_an_unknown_unit_is_a_usage_error(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(tmp_path, "api")
    code, _, err = run_cli(capsys, "plan", "--repo", str(tmp_path), "nope")
    assert code == 64
    assert "known units: api" in err


def commit_all(repo: pygit2.Repository, message: str) -> str:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    author = pygit2.Signature("Dev", "dev@example.com")
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", author, author, message, tree, parents))


def test_a_change_made_by_hand_plans_as_drift_and_a_new_commit_as_change_too(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = pygit2.init_repository(str(tmp_path))
    write_unit(tmp_path, "api")
    applied = commit_all(repo, "api at 1.27")
    deploy_as_applied(cli_env, tmp_path, ["api"], revision=applied)
    cli_env.client("ecs").update_service(cluster="prod", service="api", desiredCount=5)

    code, out, _ = run_cli(
        capsys, "plan", "--repo", str(tmp_path), "--revision", "HEAD", "--output", "json"
    )
    (unit,) = json.loads(out)["units"]
    assert (code, unit["cause"]) == (2, "drift")
    assert [(c["path"], c["live"], c["desired"]) for c in unit["changes"]] == [
        ("desiredCount", 5, 2)
    ]

    write_unit(tmp_path, "api", image="nginx:1.28")
    commit_all(repo, "api to 1.28")
    code, out, _ = run_cli(
        capsys, "plan", "--repo", str(tmp_path), "--revision", "HEAD", "--output", "json"
    )
    (unit,) = json.loads(out)["units"]
    assert unit["cause"] == "change+drift"
    assert {c["path"] for c in unit["changes"]} == {
        "desiredCount",
        "containerDefinitions[app].image",
    }


def test_secret_looking_values_are_masked_unless_asked(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(tmp_path, "api")
    deploy_as_applied(cli_env, tmp_path, ["api"])
    task = json.loads((tmp_path / "api" / "ecs-task-def.json").read_text())
    task["containerDefinitions"][0]["environment"] = [{"name": "API_TOKEN", "value": "s3cr3t"}]
    (tmp_path / "api" / "ecs-task-def.json").write_text(json.dumps(task))

    _, masked, _ = run_cli(capsys, "plan", "--repo", str(tmp_path))
    _, shown, _ = run_cli(capsys, "plan", "--repo", str(tmp_path), "--show-values")

    assert "s3cr3t" not in masked
    assert "s3cr3t" in shown


def create_live_service(emulator: EmulatorHandle, name: str, *, scaled: bool = False) -> None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="prod")
    arn = ecs.register_task_definition(
        family=name,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        executionRoleArn="arn:aws:iam::123456789012:role/exec",
        containerDefinitions=[
            {
                "name": "app",
                "image": f"ghcr.io/acme/{name}:3.1",
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "MODE", "value": "prod"}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="prod",
        serviceName=name,
        taskDefinition=arn,
        desiredCount=3,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0a"]}},
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        tags=[{"key": "team", "value": "payments"}],
    )
    if scaled:
        emulator.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/prod/{name}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=2,
            MaxCapacity=12,
        )


def test_init_writes_a_unit_that_plans_in_sync_right_away(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_live_service(cli_env, "payments")

    code, out, _ = run_cli(
        capsys,
        "init",
        "--cluster",
        "prod",
        "--service",
        "payments",
        "--region",
        "us-east-1",
        "--dir",
        str(tmp_path / "payments"),
    )

    assert code == 0, out
    task = json.loads((tmp_path / "payments" / "ecs-task-def.json").read_text())
    assert "revision" not in task
    assert "essential" not in task["containerDefinitions"][0]  # AWS's default, not the user's
    assert run_cli(capsys, "plan", "--repo", str(tmp_path))[0] == 0


def test_init_all_imports_every_service_and_hands_the_count_to_auto_scaling(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_live_service(cli_env, "orders", scaled=True)
    create_live_service(cli_env, "billing")

    code, _, _ = run_cli(
        capsys,
        "init",
        "--cluster",
        "prod",
        "--all",
        "--region",
        "us-east-1",
        "--dir",
        str(tmp_path),
    )

    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing", "orders"]
    orders_service = json.loads((tmp_path / "orders" / "ecs-service-def.json").read_text())
    assert "desiredCount" not in orders_service
    assert "min: 2" in (tmp_path / "orders" / "reconciler.yml").read_text()
    code, out, _ = run_cli(capsys, "plan", "--repo", str(tmp_path))
    assert code == 0, out


def test_init_refuses_to_overwrite_a_unit(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_live_service(cli_env, "payments")
    args = [
        "init",
        "--cluster",
        "prod",
        "--service",
        "payments",
        "--region",
        "us-east-1",
        "--dir",
        str(tmp_path),
    ]
    assert run_cli(capsys, *args)[0] == 0
    code, _, err = run_cli(capsys, *args)
    assert code == 64
    assert "--force" in err


def test_a_value_from_a_secure_parameter_is_masked_whatever_its_name(
    cli_env: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(tmp_path, "api")
    task = json.loads((tmp_path / "api" / "ecs-task-def.json").read_text())
    task["containerDefinitions"][0]["environment"] = [
        {"name": "DATABASE_URL", "value": "postgres://api:old@db/api"}
    ]
    (tmp_path / "api" / "ecs-task-def.json").write_text(json.dumps(task))
    deploy_as_applied(cli_env, tmp_path, ["api"])
    cli_env.client("ssm").put_parameter(
        Name="/prod/api/database-url", Value="postgres://api:pw@db/api", Type="SecureString"
    )
    task = json.loads((tmp_path / "api" / "ecs-task-def.json").read_text())
    task["containerDefinitions"][0]["environment"] = [
        {"name": "DATABASE_URL", "value": "{{ ssm `/prod/api/database-url` }}"}
    ]
    (tmp_path / "api" / "ecs-task-def.json").write_text(json.dumps(task))

    code, masked, _ = run_cli(capsys, "plan", "--repo", str(tmp_path), "--output", "json")
    _, shown, _ = run_cli(
        capsys, "plan", "--repo", str(tmp_path), "--output", "json", "--show-values"
    )

    assert code == 2, masked
    assert "postgres://" not in masked
    (change,) = json.loads(masked)["units"][0]["changes"]
    assert change["path"] == "containerDefinitions[app].environment[DATABASE_URL]"
    assert change["live"] == change["desired"] == MASK
    assert "postgres://api:pw@db/api" in shown
