"""The rollout tracker against services made with plain boto3 on the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.clock import EmulatorClock
from reconciler.errors import Reason
from reconciler.model import Outcome, OutcomeResult, Rollout, WaitMode
from reconciler.track import Progress, RolloutTracker
from tests.conftest import EmulatorHandle, run_async

SEED = {
    "region": "us-east-1",
    "clusters": [{"name": "prod", "capacity_providers": ["FARGATE"]}],
    "vpcs": [
        {
            "name": "prod",
            "cidr": "10.0.0.0/16",
            "subnets": [{"name": "a", "cidr": "10.0.1.0/24", "availability_zone": "us-east-1a"}],
        }
    ],
}


def register(ecs: Any, image: str) -> str:
    response = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": image}],
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])


@pytest.fixture
def ecs(emulator: EmulatorHandle) -> Any:
    created = emulator.seed(SEED)
    client = emulator.client("ecs")
    client.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=register(client, "nginx:1.27"),
        desiredCount=3,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [created["subnet:a"]]}},
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
    )
    emulator.tick(120)
    return client


def update(ecs: Any, emulator: EmulatorHandle, image: str, wait: WaitMode) -> Rollout:
    arn = register(ecs, image)
    service = ecs.update_service(cluster="prod", service="web", taskDefinition=arn)["service"]
    now = emulator.now()
    return Rollout(
        unit="web",
        region="us-east-1",
        role_arn=None,
        external_id=None,
        cluster="prod",
        service="web",
        deployment_id=service["deployments"][0]["id"],
        task_definition_arn=arn,
        started_at=now,
        deadline=now + 600,
        wait=wait,
    )


def track(
    aws: Aws,
    emulator: EmulatorHandle,
    rollout: Rollout,
    events: list[str] | None = None,
    progress: list[Progress] | None = None,
) -> Outcome:
    async def run() -> Outcome:
        tracker = RolloutTracker(
            aws,
            EmulatorClock(emulator.endpoint),
            on_event=(lambda unit, message: events.append(message)) if events is not None else None,
            on_progress=progress.append if progress is not None else None,
        )
        try:
            return await tracker.track(rollout)
        finally:
            await tracker.close()

    return run_async(run())


@pytest.mark.parametrize("wait", [WaitMode.DEPLOYED, WaitMode.STABLE], ids=["deployed", "stable"])
def test_a_good_image_is_tracked_until_the_service_says_it_is_done(
    emulator: EmulatorHandle, aws: Aws, ecs: Any, wait: WaitMode
) -> None:
    rollout = update(ecs, emulator, "nginx:1.28", wait)

    outcome = track(aws, emulator, rollout)

    assert outcome.result is OutcomeResult.SUCCEEDED
    service = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    if wait is WaitMode.STABLE:
        assert len(service["deployments"]) == 1
        assert service["runningCount"] == 3


def test_stable_waits_longer_than_deployed_for_old_tasks_to_drain(
    emulator: EmulatorHandle, aws: Aws, ecs: Any
) -> None:
    started = emulator.now()
    track(aws, emulator, update(ecs, emulator, "nginx:1.28", WaitMode.DEPLOYED))
    deployed = emulator.now() - started
    started = emulator.now()
    track(aws, emulator, update(ecs, emulator, "nginx:1.29", WaitMode.STABLE))
    stable = emulator.now() - started

    assert stable >= deployed


def test_wait_none_returns_at_once_without_asking_ecs(
    emulator: EmulatorHandle, aws: Aws, ecs: Any
) -> None:
    rollout = update(ecs, emulator, "nginx:1.28", WaitMode.NONE)
    emulator.reset_stats()

    outcome = track(aws, emulator, rollout)

    assert outcome.result is OutcomeResult.STARTED
    assert emulator.stats() == {}


def test_only_events_of_this_rollout_are_reported_and_each_once(
    emulator: EmulatorHandle, aws: Aws, ecs: Any
) -> None:
    events: list[str] = []
    progress: list[Progress] = []
    before = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    creation = before["deployments"][0]["id"]
    rollout = update(ecs, emulator, "nginx:1.28", WaitMode.STABLE)

    track(aws, emulator, rollout, events, progress)

    assert len(events) == len(set(events))
    assert any(rollout.deployment_id in e and "completed" in e for e in events)
    # The creation's events, from before this rollout, are not news.
    assert not any(f"(deployment {creation}) deployment completed" in e for e in events)
    assert sum("steady state" in e for e in events) == 1
    assert progress
    assert progress[-1].desired == 3


def test_a_failing_image_is_reported_with_the_reason_ecs_gave(
    emulator: EmulatorHandle, aws: Aws, ecs: Any
) -> None:
    rollout = update(ecs, emulator, "nginx:broken", WaitMode.STABLE)

    outcome = track(aws, emulator, rollout)

    assert outcome.result is OutcomeResult.FAILED
    assert outcome.reason == str(Reason.ROLLOUT_FAILED)
    assert outcome.message.startswith("ECS deployment circuit breaker: tasks failed to start")
    assert "task stopped: Essential container in task exited" in outcome.message
