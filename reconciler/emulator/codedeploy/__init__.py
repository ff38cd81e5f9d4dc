"""The emulator's own CodeDeploy API (ECS compute platform), shaped by botocore's model.

moto's CodeDeploy does not deploy anything; the emulator's does: applications,
deployment groups that name an ECS service, and deployments that move an
AppSpec's task definition onto the service as a green task set, shift the
listeners to it, and succeed, fail or stop (with rollback) on the simulated
clock. :class:`CodeDeployBackend` is what the HTTP server hands requests to.
"""

from reconciler.emulator.codedeploy.backend import CodeDeployBackend
from reconciler.emulator.codedeploy.errors import CodeDeployApiError

__all__ = ["CodeDeployApiError", "CodeDeployBackend"]
