"""``reconciler appspec UNIT``: the AppSpec apply would hand CodeDeploy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.model import OutcomeResult
from tests.bluegreen.world import LEGACY_HOOK, SampleWorld
from tests.conftest import EmulatorHandle


@pytest.fixture
def world(
    emulator: EmulatorHandle, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SampleWorld:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    return SampleWorld.create(emulator, aws, tmp_path / "repo")


def appspec(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["appspec", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_before_the_first_apply_the_appspec_names_a_placeholder_and_says_so(
    world: SampleWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = appspec(capsys, "legacy", "--repo", str(world.repo.root))

    assert code == 0
    document = yaml.safe_load(out)
    properties = document["Resources"][0]["TargetService"]["Properties"]
    assert properties["TaskDefinition"] == "<TASK_DEFINITION>"
    assert "no ACTIVE revision of prod-legacy" in err
    assert properties["LoadBalancerInfo"] == {"ContainerName": "billing", "ContainerPort": 8080}
    assert properties["PlatformVersion"] == "LATEST"
    network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert len(network["Subnets"]) == 2
    assert network["AssignPublicIp"] == "DISABLED"
    assert [p["CapacityProvider"] for p in properties["CapacityProviderStrategy"]] == [
        "FARGATE",
        "FARGATE_SPOT",
    ]
    assert document["Hooks"] == [{"AfterAllowTestTraffic": LEGACY_HOOK}]


def test_after_an_apply_the_appspec_names_the_revision_that_runs(
    world: SampleWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.apply("legacy")["legacy"].result is OutcomeResult.SUCCEEDED

    code, out, err = appspec(capsys, "legacy", "--repo", str(world.repo.root))

    assert code == 0
    properties = yaml.safe_load(out)["Resources"][0]["TargetService"]["Properties"]
    assert properties["TaskDefinition"] == world.service("legacy")["taskDefinition"]
    assert err == ""


def test_hooks_on_an_event_codedeploy_does_not_know_are_refused_with_the_place(
    world: SampleWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.repo.replace("legacy/ecspresso.yml", "AfterAllowTestTraffic", "AfterTesting")
    world.repo.commit("legacy: a hook on a made-up event")

    code, out, err = appspec(capsys, "legacy", "--repo", str(world.repo.root))

    assert code == 1
    assert out == ""
    assert "appspec.Hooks[0]" in err
    assert "legacy/ecspresso.yml" in err
