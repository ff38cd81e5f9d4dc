"""Applying DAEMON units: created with one task per instance, rolled out, then in sync."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.desired import render_units
from reconciler.desired.lint import lint_unit
from reconciler.desired.validate import validate_unit
from reconciler.model import OutcomeResult, PlanStatus, Severity
from reconciler.source import open_repo_files
from tests.apply.sample import GitRepo, apply, by_unit, plan
from tests.conftest import EmulatorHandle, run_async

DAEMON_FIXTURE = Path(
    "/work/shared/reference/ecspresso-fixtures/tests/ci/ecs-service-def-daemon.json"
)
INSTANCES = 3

CONFIG = """\
region: us-east-1
cluster: prod
service: log-router
service_definition: ecs-service-def.json
task_definition: ecs-task-def.json
timeout: 5m
"""


def task_definition(network_mode: str, image: str) -> dict[str, Any]:
    return {
        "family": "prod-log-router",
        "requiresCompatibilities": ["EC2"],
        "networkMode": network_mode,
        "containerDefinitions": [
            {
                "name": "router",
                "image": image,
                "essential": True,
                "cpu": 64,
                "memory": 128,
                "portMappings": [{"containerPort": 24224, "hostPort": 24224}],
            }
        ],
    }


def service_definition(network_mode: str, created: dict[str, str]) -> dict[str, Any]:
    service: dict[str, Any] = {
        "schedulingStrategy": "DAEMON",
        "launchType": "EC2",
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        "tags": [{"key": "team", "value": "platform"}],
    }
    if network_mode == "awsvpc":
        subnet, group = created["subnet:private-a"], created["security_group:agents"]
        service["networkConfiguration"] = {
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
        }
    return service


def seed(emulator: EmulatorHandle) -> dict[str, str]:
    # The cluster has a default capacity provider strategy, as sample-repo's does:
    # the unit must say EC2, or ECS refuses the daemon.
    return emulator.seed(
        {
            "clusters": [
                {"name": "prod", "capacity_providers": ["FARGATE"], "instances": INSTANCES}
            ],
            "vpcs": [
                {
                    "name": "prod",
                    "cidr": "10.0.0.0/16",
                    "subnets": [{"name": "private-a", "cidr": "10.0.1.0/24"}],
                    "security_groups": [{"name": "agents"}],
                }
            ],
        }
    )


def daemon_repo(root: Path, network_mode: str, created: dict[str, str]) -> GitRepo:
    repo = GitRepo(root)
    repo.write("log-router/ecspresso.yml", CONFIG)
    repo.write(
        "log-router/ecs-service-def.json",
        json.dumps(service_definition(network_mode, created), indent=2),
    )
    repo.write(
        "log-router/ecs-task-def.json",
        json.dumps(task_definition(network_mode, "fluent/fluent-bit:3.0"), indent=2),
    )
    repo.commit("log-router: a fluent-bit daemon on every instance")
    return repo


def describe_daemon(emulator: EmulatorHandle) -> dict[str, Any]:
    service: dict[str, Any] = emulator.client("ecs").describe_services(
        cluster="prod", services=["log-router"]
    )["services"][0]
    return service


def tasks_by_instance(emulator: EmulatorHandle) -> dict[str, str]:
    ecs = emulator.client("ecs")
    arns = ecs.list_tasks(cluster="prod", serviceName="log-router")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
    return {task["containerInstanceArn"]: task["taskDefinitionArn"] for task in tasks}


NETWORK_MODES = [pytest.param("bridge", id="bridge"), pytest.param("awsvpc", id="awsvpc")]


@pytest.mark.parametrize("network_mode", NETWORK_MODES)
def test_a_first_apply_creates_a_daemon_with_one_task_on_each_instance(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path, network_mode: str
) -> None:
    repo = daemon_repo(tmp_path / "repo", network_mode, seed(emulator))

    report = apply(emulator, aws, repo)

    assert by_unit(report)["log-router"].result is OutcomeResult.SUCCEEDED
    service = describe_daemon(emulator)
    assert service["schedulingStrategy"] == "DAEMON"
    assert (service["desiredCount"], service["runningCount"]) == (INSTANCES, INSTANCES)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    instances = emulator.client("ecs").list_container_instances(cluster="prod")
    placed = tasks_by_instance(emulator)
    assert sorted(placed) == sorted(instances["containerInstanceArns"])
    assert set(placed.values()) == {service["taskDefinition"]}
    assert "ecs:RegisterScalableTarget" not in emulator.stats()


@pytest.mark.parametrize("network_mode", NETWORK_MODES)
def test_an_image_bump_rolls_a_daemon_out_to_completed_and_plan_is_in_sync_after(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path, network_mode: str
) -> None:
    repo = daemon_repo(tmp_path / "repo", network_mode, seed(emulator))
    assert apply(emulator, aws, repo).ok
    repo.write(
        "log-router/ecs-task-def.json",
        json.dumps(task_definition(network_mode, "fluent/fluent-bit:3.1"), indent=2),
    )
    repo.commit("log-router: fluent-bit 3.1")

    report = apply(emulator, aws, repo)

    assert by_unit(report)["log-router"].result is OutcomeResult.SUCCEEDED
    service = describe_daemon(emulator)
    assert service["taskDefinition"].endswith("prod-log-router:2")
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert set(tasks_by_instance(emulator).values()) == {service["taskDefinition"]}
    assert len(tasks_by_instance(emulator)) == INSTANCES
    assert emulator.stats()["ecs:UpdateService"] == 1

    planned = plan(aws, repo)

    assert [(u.unit, u.status) for u in planned.plan.units] == [("log-router", PlanStatus.IN_SYNC)]


def test_applying_a_daemon_twice_changes_nothing_the_second_time(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    repo = daemon_repo(tmp_path / "repo", "bridge", seed(emulator))
    assert apply(emulator, aws, repo).ok
    emulator.reset_stats()

    report = apply(emulator, aws, repo)

    assert by_unit(report)["log-router"].result is OutcomeResult.IN_SYNC
    stats = emulator.stats()
    assert "ecs:RegisterTaskDefinition" not in stats
    assert "ecs:UpdateService" not in stats


def test_a_broken_daemon_image_is_rolled_back_and_reported_failed(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    repo = daemon_repo(tmp_path / "repo", "bridge", seed(emulator))
    assert apply(emulator, aws, repo).ok
    repo.write(
        "log-router/ecs-task-def.json",
        json.dumps(task_definition("bridge", "fluent/fluent-bit:broken-3.1"), indent=2),
    )
    repo.commit("log-router: a broken image")

    report = apply(emulator, aws, repo)

    outcome = by_unit(report)["log-router"]
    assert outcome.result is OutcomeResult.FAILED
    assert "Essential container in task exited" in outcome.message
    emulator.tick(60)
    service = describe_daemon(emulator)
    assert service["taskDefinition"].endswith("prod-log-router:1")
    assert service["runningCount"] == INSTANCES


def test_lint_and_validate_accept_ecspressos_daemon_service_fixture(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path
) -> None:
    repo = daemon_repo(tmp_path / "repo", "bridge", seed(emulator))
    shutil.copyfile(DAEMON_FIXTURE, repo.root / "log-router/ecs-service-def.json")
    repo.commit("log-router: ecspresso's daemon service definition")

    results = run_async(render_units(open_repo_files(repo.root, "HEAD"), aws))

    unit = results[0].unit
    assert unit is not None, results[0].findings
    assert unit.service == {"schedulingStrategy": "DAEMON"}
    findings = [*validate_unit(unit), *lint_unit(unit)]
    assert [f for f in findings if f.severity is Severity.ERROR] == []
    # The service file is only told what any service without a breaker is told.
    about_service = {f.code for f in findings if (f.file or "").endswith("ecs-service-def.json")}
    assert about_service == {"circuit-breaker-off"}


@pytest.mark.parametrize(
    ("extra", "code", "severity"),
    [
        pytest.param(
            {"placementStrategy": [{"type": "spread", "field": "instanceId"}]},
            "daemon-placement-strategy",
            Severity.ERROR,
            id="placement-strategy",
        ),
        pytest.param({"desiredCount": 3}, "daemon-desired-count", Severity.WARNING, id="count"),
    ],
)
def test_validate_names_what_ecs_would_refuse_or_ignore_in_a_daemon_service(
    emulator: EmulatorHandle,
    aws: Aws,
    tmp_path: Path,
    extra: dict[str, Any],
    code: str,
    severity: Severity,
) -> None:
    created = seed(emulator)
    repo = daemon_repo(tmp_path / "repo", "bridge", created)
    service = {**service_definition("bridge", created), **extra}
    repo.write("log-router/ecs-service-def.json", json.dumps(service))
    repo.commit("log-router: something a daemon does not take")

    results = run_async(render_units(open_repo_files(repo.root, "HEAD"), aws))

    unit = results[0].unit
    assert unit is not None, results[0].findings
    found = [f for f in validate_unit(unit) if f.code == code]
    assert [(f.severity, f.field, f.file) for f in found] == [
        (severity, next(iter(extra)), "log-router/ecs-service-def.json")
    ]
