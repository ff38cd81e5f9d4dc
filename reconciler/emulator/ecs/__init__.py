"""The emulator's own ECS API, shaped by botocore's model.

moto stores ECS services poorly and never rolls anything out, so the emulator
answers ECS requests itself: :class:`EcsBackend` keeps clusters, task
definitions, services and tasks, fills in AWS's defaults, and moves rolling
deployments along on the simulated clock.
"""

from reconciler.emulator.ecs.backend import EcsBackend
from reconciler.emulator.ecs.errors import EcsApiError

__all__ = ["EcsApiError", "EcsBackend"]
