"""The plan stage: the ordered steps that make live equal to desired, per unit."""

from reconciler.plan.make import desired_digest, plan_error, plan_unit

__all__ = ["desired_digest", "plan_error", "plan_unit"]
