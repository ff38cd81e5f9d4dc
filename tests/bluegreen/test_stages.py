"""What a live view and a commit status say about a rollout, from the AWS payload."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.track import describe_code_deploy, describe_service_deployment


def service_deployment(strategy: str, stage: str, **extra: Any) -> dict[str, Any]:
    configuration = {"strategy": strategy, "bakeTimeInMinutes": 15}
    return {
        "status": "IN_PROGRESS",
        "lifecycleStage": stage,
        "deploymentConfiguration": configuration,
        **extra,
    }


@pytest.mark.parametrize(
    ("deployment", "stage_seconds", "text"),
    [
        pytest.param(
            service_deployment("BLUE_GREEN", "BAKE_TIME"),
            180.0,
            "blue/green: bake time, 12 min left",
            id="bake-time-left",
        ),
        pytest.param(
            service_deployment("BLUE_GREEN", "BAKE_TIME"),
            None,
            "blue/green: bake time",
            id="bake-time-unknown-start",
        ),
        pytest.param(
            service_deployment(
                "CANARY",
                "PRODUCTION_TRAFFIC_SHIFT",
                targetServiceRevision={"requestedProductionTrafficWeight": 5.0},
            ),
            None,
            "canary: 5% of traffic on green",
            id="canary-step",
        ),
        pytest.param(
            service_deployment(
                "LINEAR",
                "POST_PRODUCTION_TRAFFIC_SHIFT",
                targetServiceRevision={"requestedProductionTrafficWeight": 100.0},
            ),
            None,
            "linear: 100% of traffic on green",
            id="linear-done-shifting",
        ),
        pytest.param(
            service_deployment(
                "BLUE_GREEN",
                "POST_TEST_TRAFFIC_SHIFT",
                lifecycleHookDetails=[
                    {
                        "status": "IN_PROGRESS",
                        "targetArn": "arn:aws:lambda:us-east-1:1:function:smoke",
                    }
                ],
            ),
            None,
            "blue/green: post test traffic shift, waiting for hook smoke",
            id="waiting-for-a-hook",
        ),
        pytest.param(
            {**service_deployment("BLUE_GREEN", "CLEAN_UP"), "status": "ROLLBACK_IN_PROGRESS"},
            None,
            "blue/green: rollback in progress",
            id="rolling-back",
        ),
    ],
)
def test_a_service_deployment_is_described_by_its_strategy_and_stage(
    deployment: dict[str, Any], stage_seconds: float | None, text: str
) -> None:
    assert describe_service_deployment(deployment, stage_seconds) == text


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("InProgress", "CodeDeploy: in progress"),
        ("Ready", "CodeDeploy: ready, waiting for ContinueDeployment"),
        ("Succeeded", "CodeDeploy: succeeded"),
    ],
    ids=str.lower,
)
def test_a_code_deploy_deployment_is_described_by_its_status(status: str, text: str) -> None:
    assert describe_code_deploy({"status": status}) == text
