"""Where a blue/green, linear, canary or CodeDeploy rollout stands, in words.

ECS-native traffic-shifting rollouts are read from their service deployment
(DescribeServiceDeployments), CodeDeploy rollouts from the CodeDeploy
deployment (BatchGetDeployments). The functions here are pure: they turn those
payloads into the text a live view and a commit status show, and into the
verdict track acts on.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

from reconciler.model import CODE_DEPLOY

STRATEGY_WORDS = {
    "ROLLING": "rolling",
    "BLUE_GREEN": "blue/green",
    "LINEAR": "linear",
    "CANARY": "canary",
    CODE_DEPLOY: "CodeDeploy",
}

# Service deployment statuses: the one success, the ends that are failures,
# and those on the way to such an end (track waits for it).
SUCCESSFUL = "SUCCESSFUL"
FAILED_ENDS = frozenset({"ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED"})
ENDING = frozenset({"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"})

# CodeDeploy deployment statuses.
CODE_DEPLOY_SUCCEEDED = "Succeeded"
CODE_DEPLOY_FAILED_ENDS = frozenset({"Failed", "Stopped"})


class Verdict(enum.Enum):
    RUNNING = "running"
    ENDING = "ending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def strategy_words(strategy: str) -> str:
    return STRATEGY_WORDS.get(strategy, strategy.lower().replace("_", " "))


def _words(constant: str) -> str:
    return constant.lower().replace("_", " ")


def describe_service_deployment(
    deployment: Mapping[str, Any], stage_seconds: float | None = None
) -> str:
    """``"blue/green: bake time, 12 min left"``, ``"canary: 5% of traffic on green"``...

    ``stage_seconds`` is how long the deployment has been in its current
    lifecycle stage, as the caller saw it: the service deployment does not say
    when a stage began, so without it the bake time left is not given.
    """
    config = deployment.get("deploymentConfiguration") or {}
    name = strategy_words(str(config.get("strategy", "ROLLING")))
    status = str(deployment.get("status", "PENDING"))
    if status not in ("IN_PROGRESS", "PENDING"):
        return f"{name}: {_words(status)}"
    stage = deployment.get("lifecycleStage")
    if not stage:
        return f"{name}: {_words(status)}"

    waiting = [
        str(hook.get("targetArn") or hook.get("hookId", "?")).rsplit(":", 1)[-1]
        for hook in deployment.get("lifecycleHookDetails") or ()
        if hook.get("status") == "IN_PROGRESS"
    ]
    if waiting:
        return f"{name}: {_words(stage)}, waiting for hook {', '.join(waiting)}"
    if stage == "BAKE_TIME":
        minutes = float(config.get("bakeTimeInMinutes", 0))
        if stage_seconds is None:
            return f"{name}: bake time"
        left = max(0, math.ceil(minutes - stage_seconds / 60))
        return f"{name}: bake time, {left} min left"
    green = (deployment.get("targetServiceRevision") or {}).get("requestedProductionTrafficWeight")
    if stage in ("PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT") and green is not None:
        return f"{name}: {float(green):g}% of traffic on green"
    return f"{name}: {_words(stage)}"


def judge_service_deployment(deployment: Mapping[str, Any]) -> Verdict:
    status = deployment.get("status")
    if status == SUCCESSFUL:
        return Verdict.SUCCEEDED
    if status in FAILED_ENDS:
        return Verdict.FAILED
    if status in ENDING:
        return Verdict.ENDING
    return Verdict.RUNNING


def service_deployment_failure(deployment: Mapping[str, Any]) -> str:
    """Why a service deployment failed, in ECS's words."""
    config = deployment.get("deploymentConfiguration") or {}
    name = strategy_words(str(config.get("strategy", "ROLLING")))
    reason = (deployment.get("rollback") or {}).get("reason") or deployment.get("statusReason")
    status = _words(str(deployment.get("status", "")))
    said = str(reason).rstrip(". ") if reason else "ECS gave no reason"
    return f"{name} {status}: {said}"


def describe_code_deploy(deployment: Mapping[str, Any]) -> str:
    """``"CodeDeploy: in progress"``, ``"CodeDeploy: ready, waiting for ContinueDeployment"``."""
    status = str(deployment.get("status", "Created"))
    if status == "Ready":
        return "CodeDeploy: ready, waiting for ContinueDeployment"
    return f"CodeDeploy: {_words(status)}".replace("inprogress", "in progress")


def judge_code_deploy(deployment: Mapping[str, Any]) -> Verdict:
    status = deployment.get("status")
    if status == CODE_DEPLOY_SUCCEEDED:
        return Verdict.SUCCEEDED
    if status in CODE_DEPLOY_FAILED_ENDS:
        return Verdict.FAILED
    return Verdict.RUNNING


def code_deploy_failure(deployment: Mapping[str, Any]) -> str:
    """Why a CodeDeploy deployment failed or stopped, and whether it rolled back."""
    error = deployment.get("errorInformation") or {}
    said = str(error.get("message") or error.get("code") or "CodeDeploy gave no reason")
    parts = [f"CodeDeploy {str(deployment.get('status', '')).lower()}: {said.rstrip('. ')}"]
    rollback = deployment.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        parts.append(f"rolled back by {rollback['rollbackDeploymentId']}")
    return "; ".join(parts)
