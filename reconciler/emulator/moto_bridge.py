"""Everything the emulator uses of moto's internals, in one place.

moto keeps EC2, ELBv2, SSM, Secrets Manager, S3, STS, CloudFormation, CloudWatch
Logs and Application Auto Scaling; the emulator owns ECS. The few moto internals
used here are pinned by ``tests/emulator/test_moto_pins.py``, which fails loudly
when a moto upgrade moves them: moto itself is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import moto
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

MOTO_VERSION = "5.2.5"

ServiceExists = Callable[[str, str, str], bool]

# The ECS backend moto's Application Auto Scaling should consult; set by the
# emulator that owns it (one per process).
_ecs_service_exists: ServiceExists | None = None


def create_moto_app() -> Any:
    """moto's own WSGI application, dispatching on the signed service name."""
    return DomainDispatcherApplication(create_backend_app)


def request_handler() -> Any:
    return MotoRequestHandler


def reset_moto() -> None:
    """Forget every resource moto holds, in every account and region."""
    moto_api_backend.reset()


def _ecs_service_exists_for_target(self: ApplicationAutoscalingBackend, r_id: str) -> bool:
    # moto checks its own ECS for the service behind a scalable target; ours
    # lives in the emulator, so ask it instead.
    _, cluster, service = r_id.split("/")
    exists = _ecs_service_exists
    if exists is None or not exists(self.region_name, cluster, service):
        raise AWSValidationException(f"ECS service doesn't exist: {r_id}")
    return True


def link_autoscaling_to_ecs(service_exists: ServiceExists) -> None:
    """Make moto's Application Auto Scaling see the emulator's ECS services."""
    global _ecs_service_exists
    _ecs_service_exists = service_exists
    ApplicationAutoscalingBackend._ecs_service_exists_for_target = (  # type: ignore[method-assign]
        _ecs_service_exists_for_target
    )


def moto_version() -> str:
    return str(moto.__version__)
