"""Fail loudly when a moto upgrade moves the internals the emulator relies on."""

from __future__ import annotations

import inspect

import moto
import pytest
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.elbv2.exceptions import (
    ListenerNotFoundError,
    RuleNotFoundError,
    TargetGroupNotFoundError,
)
from moto.elbv2.models import (
    ELBv2Backend,
    FakeAction,
    FakeListener,
    FakeRule,
    elbv2_backends,
)
from moto.moto_api._internal.models import MotoAPIBackend, moto_api_backend
from moto.moto_server import werkzeug_app

from reconciler.emulator import moto_bridge


def test_moto_is_the_exact_version_the_emulator_was_written_against() -> None:
    assert moto.__version__ == moto_bridge.MOTO_VERSION


def test_the_autoscaling_check_the_emulator_replaces_still_exists_with_its_signature() -> None:
    method = ApplicationAutoscalingBackend.__dict__["_ecs_service_exists_for_target"]
    assert list(inspect.signature(method).parameters) == ["self", "r_id"]
    # It is called by register_scalable_target, which the emulator relies on.
    source = inspect.getsource(ApplicationAutoscalingBackend.register_scalable_target)
    assert "_ecs_service_exists_for_target" in source


def test_moto_reset_and_the_dispatcher_are_where_the_emulator_finds_them() -> None:
    assert isinstance(moto_api_backend, MotoAPIBackend)
    assert callable(moto_api_backend.reset)
    assert callable(werkzeug_app.DomainDispatcherApplication)
    assert callable(werkzeug_app.create_backend_app)
    assert werkzeug_app.MotoRequestHandler is not None


@pytest.mark.parametrize(
    ("method", "parameters"),
    [
        pytest.param("describe_rules", ["self", "listener_arn", "rule_arns"], id="describe-rules"),
        pytest.param(
            "modify_rule", ["self", "rule_arn", "conditions", "actions"], id="modify-rule"
        ),
        pytest.param(
            "describe_listeners", ["self", "load_balancer_arn", "listener_arns"], id="listeners"
        ),
        pytest.param(
            "modify_listener",
            ["self", "arn", "port", "protocol", "ssl_policy", "certificates", "actions"],
            id="modify-listener",
        ),
        pytest.param(
            "describe_target_groups",
            ["self", "load_balancer_arn", "target_group_arns", "names"],
            id="target-groups",
        ),
    ],
)
def test_the_elbv2_backend_methods_traffic_shifting_calls_keep_their_signatures(
    method: str, parameters: list[str]
) -> None:
    assert list(inspect.signature(getattr(ELBv2Backend, method)).parameters) == parameters


def test_elbv2_actions_keep_their_request_shaped_data_where_traffic_shifting_reads_it() -> None:
    action = FakeAction(
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "tg"}]}}
    )
    assert action.data["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": "tg", "Weight": 1}]
    assert "default_actions" in inspect.signature(FakeListener).parameters
    assert "actions" in inspect.signature(FakeRule).parameters
    assert issubclass(RuleNotFoundError, Exception)
    assert issubclass(ListenerNotFoundError, Exception)
    assert issubclass(TargetGroupNotFoundError, Exception)
    assert isinstance(elbv2_backends["123456789012"]["us-east-1"], ELBv2Backend)
