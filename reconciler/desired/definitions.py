"""Task and service definitions, brought to the shape the ECS API takes.

ecspresso reads definitions with Go's JSON decoder, which matches field names
without regard to case, and it accepts what ``describe-*`` printed (a task
definition wrapped as ``{"taskDefinition": ...}``, read-only fields such as
``revision``). We do the same, guided by botocore's ECS model rather than a
hand-written list: keys of structures are matched to the model's member names
case-insensitively (``"Image"`` becomes ``"image"``), while the keys of map
shapes are user data and kept as written (``dockerLabels``, log ``options``,
FireLens ``options``, Docker volume ``labels`` and ``driverOpts``). Members that
the describe output has and the request does not are read-only: dropped, with a
warning.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session

from reconciler.desired.problems import UnitError, warning
from reconciler.model import Finding, JsonObject


@functools.cache
def _ecs_model() -> Any:
    return botocore.session.get_session().get_service_model("ecs")


@functools.cache
def _task_shape() -> Any:
    return _ecs_model().operation_model("RegisterTaskDefinition").input_shape


@functools.cache
def _service_members() -> dict[str, Any]:
    """Members of CreateService and UpdateService requests (UpdateService adds
    ``forceNewDeployment``, and calls the name ``service``)."""
    model = _ecs_model()
    members = dict(model.operation_model("UpdateService").input_shape.members)
    members.update(model.operation_model("CreateService").input_shape.members)
    return members


@functools.cache
def task_read_only_keys() -> frozenset[str]:
    described = set(_ecs_model().shape_for("TaskDefinition").members)
    return frozenset(described - set(_task_shape().members))


@functools.cache
def service_read_only_keys() -> frozenset[str]:
    described = set(_ecs_model().shape_for("Service").members)
    return frozenset(described - set(_service_members()))


def normalise_keys(value: Any, shape: Any) -> Any:
    """``value`` with structure keys spelled as the model spells them."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return _normalise_members(value, dict(shape.members))
    if kind == "list" and isinstance(value, list):
        return [normalise_keys(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: normalise_keys(item, shape.value) for key, item in value.items()}
    return value


def _normalise_members(value: dict[str, Any], members: dict[str, Any]) -> dict[str, Any]:
    folded = {name.lower(): name for name in members}
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in members else folded.get(key.lower(), key)
        result[name] = normalise_keys(item, members.get(name))
    return result


def _drop_read_only(
    definition: dict[str, Any], read_only: frozenset[str], *, unit: str, file: str, what: str
) -> tuple[dict[str, Any], list[Finding]]:
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in definition.items():
        if key in read_only:
            dropped.append(key)
        else:
            kept[key] = value
    found = []
    if dropped:
        found.append(
            warning(
                f"read-only {what} keys dropped: {', '.join(dropped)}",
                unit=unit,
                file=file,
                field=dropped[0],
                hint="remove them from the file; AWS sets them",
            )
        )
    return kept, found


def _lower_first(key: str) -> str:
    return key[:1].lower() + key[1:]


def load_task_definition(
    document: Any, *, unit: str, file: str
) -> tuple[JsonObject, tuple[Finding, ...]]:
    """A task definition as RegisterTaskDefinition takes it, and warnings."""
    if not isinstance(document, dict):
        raise UnitError(
            "a task definition must be a JSON object",
            unit=unit,
            file=file,
            hint='write {"family": ..., "containerDefinitions": [...]}',
        )
    top = {_lower_first(k): v for k, v in document.items()}
    # describe-task-definition prints {"taskDefinition": {...}, "tags": [...]}.
    if isinstance(top.get("taskDefinition"), dict):
        inner = dict(top["taskDefinition"])
        tags = top.get("tags")
        if tags and not any(k.lower() == "tags" for k in inner):
            inner["tags"] = tags
        document = inner
    definition = normalise_keys(document, _task_shape())
    definition, found = _drop_read_only(
        definition, task_read_only_keys(), unit=unit, file=file, what="task definition"
    )
    if not isinstance(definition.get("containerDefinitions"), list):
        raise UnitError(
            "the task definition has no containerDefinitions list",
            unit=unit,
            file=file,
            field="containerDefinitions",
            hint="list at least one container",
        )
    return definition, tuple(found)


def load_service_definition(
    document: Any, *, unit: str, file: str
) -> tuple[JsonObject, tuple[Finding, ...]]:
    """A service definition as CreateService/UpdateService take it, and warnings."""
    if not isinstance(document, dict):
        raise UnitError(
            "a service definition must be a JSON object",
            unit=unit,
            file=file,
            hint='write {"desiredCount": ..., "launchType": ...}',
        )
    definition = _normalise_members(document, _service_members())
    definition, found = _drop_read_only(
        definition, service_read_only_keys(), unit=unit, file=file, what="service"
    )
    return definition, tuple(found)
