"""Fail loudly when a moto upgrade moves the internals the emulator relies on."""

from __future__ import annotations

import inspect

import moto
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
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
