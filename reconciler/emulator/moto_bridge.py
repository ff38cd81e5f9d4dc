"""Everything the emulator uses of moto's internals, in one place.

moto keeps EC2, ELBv2, SSM, Secrets Manager, S3, STS, CloudFormation, CloudWatch
Logs and Application Auto Scaling; the emulator owns ECS and CodeDeploy, and
shifts ELBv2 listener weights in moto's backend in-process (``MotoTraffic``).
The few moto internals used here are pinned by
``tests/emulator/test_moto_pins.py``, which fails loudly when a moto upgrade
moves them: moto itself is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import moto
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.elbv2.exceptions import (
    ListenerNotFoundError,
    RuleNotFoundError,
    TargetGroupNotFoundError,
)
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from reconciler.emulator.traffic import TrafficError

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


def _elbv2(account_id: str, region: str) -> ELBv2Backend:
    return elbv2_backends[account_id][region]


def _forward_weights(actions: list[Any]) -> dict[str, int]:
    for action in actions:
        data = action.data
        if data.get("Type") != "forward":
            continue
        groups = data.get("ForwardConfig", {}).get("TargetGroups")
        if groups:
            return {group["TargetGroupArn"]: int(group.get("Weight", 1)) for group in groups}
        if data.get("TargetGroupArn"):
            return {data["TargetGroupArn"]: 1}
    return {}


def _forward_action(weights: dict[str, int]) -> dict[str, Any]:
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


class MotoTraffic:
    """Listener rule and listener weights read and written in moto's ELBv2 backend.

    Implements ``reconciler.emulator.traffic.Traffic``. moto's ``modify_rule`` and
    ``modify_listener`` replace the forward action, so DescribeRules and
    DescribeListeners show the new weights to any client.
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def _rule(self, region: str, rule_arn: str) -> Any:
        try:
            return _elbv2(self.account_id, region).describe_rules(None, [rule_arn])[0]
        except RuleNotFoundError as exc:
            raise TrafficError(f"listener rule {rule_arn} does not exist") from exc

    def _listener(self, region: str, listener_arn: str) -> Any:
        try:
            return _elbv2(self.account_id, region).describe_listeners(None, [listener_arn])[0]
        except ListenerNotFoundError as exc:
            raise TrafficError(f"listener {listener_arn} does not exist") from exc

    def rule_weights(self, region: str, rule_arn: str) -> dict[str, int]:
        return _forward_weights(self._rule(region, rule_arn).actions)

    def set_rule_weights(self, region: str, rule_arn: str, weights: dict[str, int]) -> None:
        self._rule(region, rule_arn)
        _elbv2(self.account_id, region).modify_rule(rule_arn, [], [_forward_action(weights)])

    def listener_weights(self, region: str, listener_arn: str) -> dict[str, int]:
        return _forward_weights(self._listener(region, listener_arn).default_actions)

    def set_listener_weights(self, region: str, listener_arn: str, weights: dict[str, int]) -> None:
        self._listener(region, listener_arn)
        _elbv2(self.account_id, region).modify_listener(
            listener_arn, actions=[_forward_action(weights)]
        )

    def target_group_arn(self, region: str, name: str) -> str:
        try:
            groups = list(_elbv2(self.account_id, region).describe_target_groups(None, [], [name]))
        except TargetGroupNotFoundError as exc:
            raise TrafficError(f"target group {name} does not exist") from exc
        if not groups:
            raise TrafficError(f"target group {name} does not exist")
        return str(groups[0].arn)
