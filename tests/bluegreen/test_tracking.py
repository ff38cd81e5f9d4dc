"""RolloutTracker on blue/green rollouts apply did not start: found by listing, read in batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.clock import EmulatorClock
from reconciler.model import OutcomeResult, Rollout, WaitMode
from reconciler.track import RolloutTracker
from tests.bluegreen.world import SampleWorld
from tests.conftest import EmulatorHandle, run_async

SERVICES = ("web", "shop")


@pytest.fixture
def world(emulator: EmulatorHandle, aws: Aws, tmp_path: Path) -> SampleWorld:
    world = SampleWorld.create(emulator, aws, tmp_path / "repo")
    assert world.apply("web")["web"].result is OutcomeResult.SUCCEEDED
    return world


def rollout(world: SampleWorld, service: str, arn: str | None) -> Rollout:
    now = world.emulator.now()
    return Rollout(
        unit=service,
        region="us-east-1",
        role_arn=None,
        external_id=None,
        cluster="prod",
        service=service,
        deployment_id="",
        task_definition_arn=str(world.service(service)["taskDefinition"]),
        started_at=now,
        deadline=now + 1800,
        wait=WaitMode.STABLE,
        strategy="BLUE_GREEN",
        service_deployment_arn=arn,
    )


def test_a_blue_green_rollout_without_its_arn_is_found_by_listing_and_followed_to_the_end(
    world: SampleWorld,
) -> None:
    ecs = world.emulator.client("ecs")
    ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)
    world.emulator.reset_stats()

    async def track() -> OutcomeResult:
        tracker = RolloutTracker(world.aws, EmulatorClock(world.emulator.endpoint))
        try:
            return (await tracker.track(rollout(world, "web", None))).result
        finally:
            await tracker.close()

    assert run_async(track()) is OutcomeResult.SUCCEEDED
    assert world.service_deployment("web")["status"] == "SUCCESSFUL"
    assert world.calls("ecs:ListServiceDeployments")["ecs:ListServiceDeployments"] == 1


def test_rollouts_in_one_region_are_read_in_one_call_per_round(world: SampleWorld) -> None:
    ecs = world.emulator.client("ecs")
    service = world.service("web")
    ecs.create_service(
        cluster="prod",
        serviceName="shop",
        taskDefinition=service["taskDefinition"],
        desiredCount=1,
        capacityProviderStrategy=service["capacityProviderStrategy"],
        networkConfiguration=service["networkConfiguration"],
        deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
        loadBalancers=service["loadBalancers"],
    )
    world.emulator.tick(600)
    for name in SERVICES:
        ecs.update_service(cluster="prod", service=name, forceNewDeployment=True)
    rollouts = [
        rollout(world, name, world.service(name)["currentServiceDeployment"]) for name in SERVICES
    ]
    world.emulator.reset_stats()
    rounds: dict[str, int] = {}

    async def track() -> list[OutcomeResult]:
        tracker = RolloutTracker(
            world.aws,
            EmulatorClock(world.emulator.endpoint),
            on_progress=lambda p: rounds.update({p.unit: rounds.get(p.unit, 0) + 1}),
        )
        try:
            outcomes = await asyncio.gather(*(tracker.track(r) for r in rollouts))
        finally:
            await tracker.close()
        return [o.result for o in outcomes]

    assert run_async(track()) == [OutcomeResult.SUCCEEDED, OutcomeResult.SUCCEEDED]
    stats = world.emulator.stats()
    # One call per round serves both: as many calls as the longer rollout had rounds.
    assert min(rounds.values()) > 1
    assert stats["ecs:DescribeServiceDeployments"] == max(rounds.values())
    assert "ecs:ListServiceDeployments" not in stats
    assert "ecs:DescribeServices" not in stats
