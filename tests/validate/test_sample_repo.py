"""sample-repo is what a production team would write, and it lints clean.

Rendering needs the render stage and the emulator; here the template calls are
filled from the seed file with fixed ids instead, which also proves the seed
holds everything the units look up, and nothing they do not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _jsonnet
import pytest
import yaml

from reconciler.desired.lint import format_report, lint_units
from reconciler.model import AutoScaling, DesiredUnit, Policy, RenderResult, UnitConfig

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"
UNITS = ("frontend", "api", "batch", "web", "legacy")
ACCOUNT = "123456789012"

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_ARGUMENT = re.compile(r'`([^`]*)`|"((?:[^"\\]|\\.)*)"|(\d+)')
_SEED_REFERENCE = re.compile(r"\$\{(\w+)(?::([^}]+))?\}")


def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = yaml.safe_load((SAMPLE_REPO / "emulator-seed.yml").read_text())
    return seed


@dataclass
class Lookups:
    """Template functions answered from the seed, remembering what was asked."""

    seed: dict[str, Any]
    variables: dict[str, str]
    ssm_used: set[str] = field(default_factory=set)
    secrets_used: set[str] = field(default_factory=set)

    def resolve_seed(self, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            fake = {
                "account": ACCOUNT,
                "region": self.seed["region"],
                "subnet": f"subnet-{name}",
                "security_group": f"sg-{name}",
                "target_group": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:"
                f"targetgroup/{name}/0123456789abcdef",
                "rule": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:"
                f"listener-rule/app/{str(name).replace(':', '/')}",
            }
            assert kind in fake, f"seed refers to unknown kind {kind}"
            return fake[kind]

        return _SEED_REFERENCE.sub(one, value)

    def call(self, function: str, arguments: list[str | int]) -> str:
        if function == "must_env":
            name = str(arguments[0])
            assert name in self.variables, f"{name} is not committed in vars"
            return self.variables[name]
        if function == "ssm":
            path = str(arguments[0])
            params = {p["name"]: p for p in self.seed["ssm_parameters"]}
            assert path in params, f"the seed has no SSM parameter {path}"
            self.ssm_used.add(path)
            value = self.resolve_seed(params[path]["value"])
            if len(arguments) > 1:
                assert params[path]["type"] == "StringList"
                return value.split(",")[int(arguments[1])]
            return value
        if function == "secretsmanager_arn":
            name = str(arguments[0])
            assert name in {s["name"] for s in self.seed["secrets"]}, f"no secret {name}"
            self.secrets_used.add(name)
            return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf"
        raise AssertionError(f"unexpected template function {function}")

    def fill(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            assert "\\" not in match.group(1), f"escaped quote in {match.group(0)}"
            function, _, rest = match.group(1).partition(" ")
            arguments: list[str | int] = [
                int(number) if number else (backtick if backtick or not quoted else quoted)
                for backtick, quoted, number in _ARGUMENT.findall(rest)
            ]
            return self.call(function, arguments)

        return _ACTION.sub(one, text)

    def native_callbacks(self) -> dict[str, tuple[tuple[str, ...], Callable[..., str]]]:
        return {
            "must_env": (("name",), lambda name: self.call("must_env", [name])),
            "ssm": (("path",), lambda path: self.call("ssm", [path])),
        }


def _load_definition(unit: str, name: str, lookups: Lookups) -> dict[str, Any]:
    path = SAMPLE_REPO / unit / name
    text = path.read_text()
    # As ecspresso does: Jsonnet is evaluated first, and template calls are
    # filled in its JSON output, where a double quote would arrive escaped.
    if name.endswith(".jsonnet"):
        text = _jsonnet.evaluate_snippet(
            str(path), text, native_callbacks=lookups.native_callbacks()
        )
    text = lookups.fill(text)
    document: dict[str, Any] = json.loads(text)
    return document


def _policy(unit: str) -> tuple[Policy, dict[str, str]]:
    merged: dict[str, Any] = {}
    for path in (SAMPLE_REPO / "reconciler.yml", SAMPLE_REPO / unit / "reconciler.yml"):
        merged.update(yaml.safe_load(path.read_text()) or {})
    scaling = merged.get("autoscaling")
    variables = {k: str(v) for k, v in merged.get("vars", {}).items()}
    autoscaling = AutoScaling(scaling["min"], scaling["max"]) if scaling else None
    return Policy(autoscaling=autoscaling, vars=variables), variables


def _render_sample_unit(unit: str, lookups: Lookups | None = None) -> tuple[DesiredUnit, Lookups]:
    policy, variables = _policy(unit)
    lookups = lookups or Lookups(_seed(), variables)
    lookups.variables = variables
    config = yaml.safe_load(lookups.fill((SAMPLE_REPO / unit / "ecspresso.yml").read_text()))
    rendered = DesiredUnit(
        id=unit,
        revision=None,
        path=unit,
        config=UnitConfig(
            region=config["region"],
            cluster=config["cluster"],
            service=config.get("service"),
            service_definition=config.get("service_definition"),
            task_definition=config.get("task_definition"),
        ),
        policy=policy,
        task_definition=_load_definition(unit, config["task_definition"], lookups),
        service=_load_definition(unit, config["service_definition"], lookups)
        if config.get("service_definition")
        else None,
        files=tuple(
            f"{unit}/{name}"
            for name in ("ecspresso.yml", config["task_definition"], config["service_definition"])
        ),
    )
    return rendered, lookups


def _render_all() -> tuple[list[DesiredUnit], Lookups]:
    lookups = Lookups(_seed(), {})
    units = [_render_sample_unit(unit, lookups)[0] for unit in UNITS]
    return units, lookups


def test_the_sample_repo_lints_clean_with_no_warnings() -> None:
    units, _ = _render_all()

    report = lint_units([RenderResult(u.id, u.path, u) for u in units])

    assert [f for u in report.units for f in u.findings] == [], format_report(report)
    assert [u.id for u in report.units] == list(UNITS)


@pytest.mark.parametrize("unit", UNITS)
def test_each_sample_unit_shows_what_running_it_in_production_asks(unit: str) -> None:
    rendered, _ = _render_sample_unit(unit)
    task, service = rendered.task_definition, rendered.service
    assert task is not None
    assert service is not None

    strategy = {s["capacityProvider"]: s for s in service["capacityProviderStrategy"]}
    assert 1 <= strategy["FARGATE"].get("base", 0) <= 2
    assert strategy["FARGATE_SPOT"]["weight"] > 0
    assert "launchType" not in service
    if service.get("deploymentController", {}).get("type", "ECS") == "ECS":
        # CodeDeploy has no circuit breaker; it rolls back failed deployments itself.
        assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
            "enable": True,
            "rollback": True,
        }
    assert "desiredCount" not in service
    assert rendered.policy.autoscaling is not None
    assert set(service["networkConfiguration"]["awsvpcConfiguration"]) >= {
        "subnets",
        "securityGroups",
    }
    assert task["cpu"]
    assert task["memory"]
    for container in task["containerDefinitions"]:
        assert container["memoryReservation"] < container["memory"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
    app = task["containerDefinitions"][0]
    assert app["healthCheck"]["command"][0] == "CMD-SHELL"
    assert rendered.policy.vars["IMAGE_TAG"] in app["image"]
    assert (rendered.config.region, rendered.config.cluster) == ("us-east-1", "prod")


def test_the_api_unit_has_secrets_from_both_ssm_and_secrets_manager() -> None:
    rendered, _ = _render_sample_unit("api")
    assert rendered.task_definition is not None

    secrets = {
        s["name"]: s["valueFrom"]
        for s in rendered.task_definition["containerDefinitions"][0]["secrets"]
    }

    assert secrets["DB_PASSWORD"] == "/prod/api/db-password"
    assert secrets["DATABASE_URL"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert rendered.policy.autoscaling == AutoScaling(5, 50)


def test_the_seed_holds_exactly_what_the_units_look_up() -> None:
    units, lookups = _render_all()
    seed = lookups.seed
    referenced_parameters = {
        secret["valueFrom"]
        for unit in units
        for container in (unit.task_definition or {})["containerDefinitions"]
        for secret in container.get("secrets", [])
        if secret["valueFrom"].startswith("/")
    }
    log_groups = {
        container["logConfiguration"]["options"]["awslogs-group"]
        for unit in units
        for container in (unit.task_definition or {})["containerDefinitions"]
    }

    assert {p["name"] for p in seed["ssm_parameters"]} == lookups.ssm_used | referenced_parameters
    assert {s["name"] for s in seed["secrets"]} == lookups.secrets_used
    assert set(seed["log_groups"]) == log_groups
    assert seed["region"] == "us-east-1"
    assert seed["clusters"] == [{"name": "prod", "capacity_providers": ["FARGATE", "FARGATE_SPOT"]}]


def test_every_name_the_seed_refers_to_is_created_by_the_seed() -> None:
    seed = _seed()
    created = {
        "subnet": {s["name"] for v in seed["vpcs"] for s in v["subnets"]},
        "security_group": {g["name"] for v in seed["vpcs"] for g in v["security_groups"]},
        "target_group": {t["name"] for lb in seed["load_balancers"] for t in lb["target_groups"]},
        "vpc": {v["name"] for v in seed["vpcs"]},
        "rule": {
            f"{lb['name']}:{listener['port']}:{rule['priority']}"
            for lb in seed["load_balancers"]
            for listener in lb["listeners"]
            for rule in listener.get("rules") or ()
        },
    }

    referenced = [
        (match.group(1), match.group(2))
        for parameter in seed["ssm_parameters"]
        for match in _SEED_REFERENCE.finditer(parameter["value"])
        if match.group(2)
    ]

    assert referenced
    assert [(kind, name) for kind, name in referenced if name not in created[kind]] == []
    for balancer in seed["load_balancers"]:
        assert balancer["vpc"] in created["vpc"]
        assert set(balancer["subnets"]) <= created["subnet"]
        assert set(balancer["security_groups"]) <= created["security_group"]
        groups = {t["name"] for t in balancer["target_groups"]}
        assert {listener["default_target_group"] for listener in balancer["listeners"]} <= groups
