"""The track stage: follow the rollouts apply started until ECS says they ended."""

from reconciler.track.rollouts import Progress, RolloutTracker
from reconciler.track.stages import describe_code_deploy, describe_service_deployment
from reconciler.track.status import UnitStatus, read_status

__all__ = [
    "Progress",
    "RolloutTracker",
    "UnitStatus",
    "describe_code_deploy",
    "describe_service_deployment",
    "read_status",
]
