"""Application Auto Scaling for a service's desired count.

The bounds come from the unit's policy. Dynamic scaling is suspended during a
rollout when the policy asks, so that a scale-in in the middle of a deployment
does not stop the new tasks the rollout is waiting for, and resumed after.
"""

from __future__ import annotations

import logging

from reconciler.aws import Aws, AwsTarget
from reconciler.model import AutoScaling, ScalableTarget

log = logging.getLogger(__name__)

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"


def resource_id(cluster: str, service: str) -> str:
    """The Application Auto Scaling id of a service: ``service/CLUSTER/NAME``."""
    return f"service/{cluster.rsplit('/', 1)[-1]}/{service.rsplit('/', 1)[-1]}"


async def register_scalable_target(
    aws: Aws,
    target: AwsTarget,
    cluster: str,
    service: str,
    bounds: AutoScaling,
    *,
    suspended: bool | None = None,
) -> None:
    """Set the target's bounds; with ``suspended``, also its dynamic scaling state."""
    params: dict[str, object] = {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(cluster, service),
        "ScalableDimension": DIMENSION,
        "MinCapacity": bounds.min,
        "MaxCapacity": bounds.max,
    }
    if suspended is not None:
        params["SuspendedState"] = {
            "DynamicScalingInSuspended": suspended,
            "DynamicScalingOutSuspended": suspended,
            "ScheduledScalingSuspended": False,
        }
    await aws.call("application-autoscaling", "register_scalable_target", target, **params)


async def resume_scaling(
    aws: Aws, target: AwsTarget, cluster: str, service: str, bounds: AutoScaling
) -> None:
    """Let auto scaling act again once a rollout has ended, however it ended."""
    await register_scalable_target(aws, target, cluster, service, bounds, suspended=False)
    log.info("auto scaling resumed", extra={"cluster": cluster, "service": service})


def is_suspended(scalable_target: ScalableTarget | None) -> bool:
    return scalable_target is not None and (
        scalable_target.dynamic_scaling_in_suspended
        or scalable_target.dynamic_scaling_out_suspended
    )


def clamp_count(count: int, bounds: AutoScaling) -> int:
    return max(bounds.min, min(bounds.max, count))
