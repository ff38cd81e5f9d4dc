"""The track stage: follow the rollouts apply started until ECS says they ended."""

from reconciler.track.rollouts import Progress, RolloutTracker

__all__ = ["Progress", "RolloutTracker"]
