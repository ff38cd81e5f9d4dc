"""The live stage: what AWS reports for every unit, read with the fewest calls."""

from reconciler.live.fetch import LiveRequest, LiveResult, TaskDefinitionCache, fetch_live

__all__ = ["LiveRequest", "LiveResult", "TaskDefinitionCache", "fetch_live"]
