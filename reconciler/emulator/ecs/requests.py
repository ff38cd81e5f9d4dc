"""Checking a request against botocore's ECS model before acting on it.

botocore's own ParamValidator catches unknown members, wrong types and missing
required members; it does not check enum values, which AWS refuses too, so this
module walks the input shape once more for them.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)
from botocore.validate import ParamValidator

from reconciler.emulator.ecs.errors import EcsApiError, client_error

ECS_SERVICE_NAME = "ecs"


@functools.cache
def load_ecs_model() -> ServiceModel:
    """botocore's ECS model, loaded once per process (it is large)."""
    session = botocore.session.get_session()
    return session.get_service_model(ECS_SERVICE_NAME)


def operation_model(operation: str) -> OperationModel:
    model = load_ecs_model()
    if operation not in model.operation_names:
        raise EcsApiError(
            "UnknownOperationException", f"Operation {operation} is not an ECS operation."
        )
    return model.operation_model(operation)


def shape_members(shape_name: str) -> frozenset[str]:
    """The member names of one structure of the ECS model, e.g. ``Service``."""
    shape = load_ecs_model().shape_for(shape_name)
    assert isinstance(shape, StructureShape)
    return frozenset(shape.members)


def validate_request(operation: str, params: dict[str, Any]) -> None:
    """Refuse ``params`` the way ECS refuses a malformed ``operation`` request."""
    input_shape = operation_model(operation).input_shape
    if input_shape is None:
        return
    if not isinstance(params, dict):
        raise client_error("The request body must be a JSON object.")

    # Structure first: an enum check on a wrongly typed value would only add noise.
    report = ParamValidator().validate(params, input_shape)
    if report.has_errors():
        raise client_error(report.generate_report())

    violations: list[str] = []
    collect_enum_violations(params, input_shape, "", violations)
    if violations:
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        raise EcsApiError(
            "InvalidParameterException",
            f"{count} validation {noun} detected: " + "; ".join(violations),
        )


def collect_enum_violations(value: Any, shape: Shape, path: str, violations: list[str]) -> None:
    """Append an AWS-worded message for every enum member holding a value not in its set."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                child_path = f"{path}.{name}" if path else name
                collect_enum_violations(value[name], member, child_path, violations)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            collect_enum_violations(item, shape.member, f"{path}.{index + 1}.member", violations)
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for item in value.values():
            collect_enum_violations(item, shape.value, path, violations)
    elif isinstance(shape, StringShape) and shape.enum and value not in shape.enum:
        allowed = ", ".join(shape.enum)
        violations.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{allowed}]"
        )
