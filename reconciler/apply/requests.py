"""The AWS requests a unit's definitions become: pure functions, no calls.

A unit's definitions are written as ecspresso reads them (any first-letter key
case, ecspresso-only keys); the requests keep only what the API takes, as
botocore's model of the operation says, so a field AWS would refuse for being
unknown never reaches it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import botocore.session

from reconciler.diff.normalise import lower_key_case
from reconciler.model import (
    TAG_DIGEST,
    TAG_OWNER,
    TAG_PREFIX,
    TAG_REVISION,
    TAG_TASK_DEFINITION,
    TAG_UNIT,
    DesiredUnit,
    FieldChange,
    JsonObject,
    ResourceKind,
)

DESIRED_COUNT_DIMENSION = "ecs:service:DesiredCount"

# A service left without desiredCount and without auto scaling starts with one
# task: ECS needs a number, and zero would hide a broken unit as "completed".
DEFAULT_DESIRED_COUNT = 1

# AWS tag values take letters, digits, spaces and ``_.:/=+-@`` only.
_TAG_VALUE_REFUSED = re.compile(r"[^\w .:/=+\-@]")
TAG_VALUE_LIMIT = 256


@functools.cache
def operation_members(operation: str) -> frozenset[str]:
    """The request members of an ECS operation, from botocore's model."""
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def tag_value(text: str) -> str:
    """``text`` as a tag value AWS accepts: refused characters become ``_``."""
    return _TAG_VALUE_REFUSED.sub("_", text)[:TAG_VALUE_LIMIT]


def user_tags(definition: Mapping[str, Any]) -> list[JsonObject]:
    """The unit's own tags; ``gitops:`` tags belong to the reconciler."""
    return [
        {"key": str(t["key"]), "value": str(t.get("value", ""))}
        for t in definition.get("tags") or ()
        if not str(t.get("key", "")).startswith(TAG_PREFIX)
    ]


def state_tags(
    *, owner: str, unit: str, revision: str | None, digest: str | None, task_definition: str | None
) -> dict[str, str]:
    """The tags the reconciler keeps its state in on a service it applied."""
    tags = {TAG_OWNER: tag_value(owner), TAG_UNIT: tag_value(unit)}
    if revision:
        tags[TAG_REVISION] = tag_value(revision)
    if digest:
        tags[TAG_DIGEST] = tag_value(digest)
    if task_definition:
        tags[TAG_TASK_DEFINITION] = task_definition
    return tags


def as_tag_list(tags: Mapping[str, str]) -> list[JsonObject]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def service_definition(unit: DesiredUnit) -> JsonObject:
    """The unit's service definition with ECS's key case."""
    lowered: JsonObject = lower_key_case(unit.service or {})
    return lowered


def is_daemon(unit: DesiredUnit) -> bool:
    return bool(service_definition(unit).get("schedulingStrategy") == "DAEMON")


def register_task_definition_request(unit: DesiredUnit, digest: str) -> JsonObject:
    """RegisterTaskDefinition for the unit, tagged with its digest."""
    definition = lower_key_case(unit.task_definition or {})
    members = operation_members("RegisterTaskDefinition")
    request = {k: v for k, v in definition.items() if k in members and v is not None}
    request["tags"] = [*user_tags(definition), {"key": TAG_DIGEST, "value": tag_value(digest)}]
    if unit.revision:
        # The revision that registered it: ``reconciler history`` reads what ran
        # from the deployments, and this says which commit each revision came from.
        request["tags"].append({"key": TAG_REVISION, "value": tag_value(unit.revision)})
    return request


def initial_desired_count(unit: DesiredUnit) -> int:
    """The count a new service starts with: the unit's, or auto scaling's minimum."""
    definition = service_definition(unit)
    if definition.get("desiredCount") is not None:
        return int(definition["desiredCount"])
    if unit.policy.autoscaling is not None:
        return unit.policy.autoscaling.min
    return DEFAULT_DESIRED_COUNT


def create_service_request(
    unit: DesiredUnit, task_definition_arn: str, tags: Mapping[str, str]
) -> JsonObject:
    """CreateService with every field of the unit's service definition."""
    definition = service_definition(unit)
    members = operation_members("CreateService")
    request = {k: v for k, v in definition.items() if k in members and v is not None}
    request.update(
        cluster=unit.config.cluster,
        serviceName=unit.config.service,
        taskDefinition=task_definition_arn,
        tags=[*user_tags(definition), *as_tag_list(tags)],
    )
    if is_daemon(unit):
        request.pop("desiredCount", None)
    else:
        request["desiredCount"] = initial_desired_count(unit)
    return request


def changed_fields(changes: Iterable[FieldChange], resource: ResourceKind) -> list[str]:
    """The top-level fields the changes to ``resource`` touch, in first-seen order."""
    tops = (re.split(r"[.\[]", c.path, maxsplit=1)[0] for c in changes if c.resource is resource)
    return list(dict.fromkeys(t for t in tops if t))


def update_service_request(
    unit: DesiredUnit,
    changes: Iterable[FieldChange],
    *,
    task_definition_arn: str | None,
    desired_count: int | None,
) -> JsonObject | None:
    """One UpdateService carrying the task definition, changed fields and count.

    None when there is nothing for UpdateService to change.
    """
    definition = service_definition(unit)
    members = operation_members("UpdateService")
    request: JsonObject = {}
    for name in changed_fields(changes, ResourceKind.SERVICE):
        if name not in members or name == "desiredCount":
            continue
        if definition.get(name) is not None:
            request[name] = definition[name]
        elif isinstance(_ECS_EMPTY.get(name), list):
            # A list the unit no longer sets is emptied, not kept.
            request[name] = []
    if task_definition_arn is not None:
        request["taskDefinition"] = task_definition_arn
    if desired_count is not None and not is_daemon(unit):
        request["desiredCount"] = desired_count
    if not request:
        return None
    request.update(cluster=unit.config.cluster, service=unit.config.service)
    return request


# UpdateService members that are lists: removing them from a unit empties them.
_ECS_EMPTY: dict[str, Any] = {
    "capacityProviderStrategy": [],
    "placementConstraints": [],
    "placementStrategy": [],
    "loadBalancers": [],
    "serviceRegistries": [],
    "volumeConfigurations": [],
    "vpcLatticeConfigurations": [],
}


def tag_changes(
    live_tags: Mapping[str, str], desired: Mapping[str, str], ignore: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """Tags to set and tag keys to remove, so live carries ``desired``.

    Only the unit's own tags are removed when gone from it: ``gitops:`` tags
    are replaced, never dropped here, and ``ignore`` patterns belong to others.
    """
    to_set = {k: v for k, v in desired.items() if live_tags.get(k) != v}
    ignored = tuple(ignore)
    to_remove = [
        key
        for key in live_tags
        if key not in desired
        and not key.startswith(TAG_PREFIX)
        and not any(fnmatch.fnmatchcase(key, pattern) for pattern in ignored)
    ]
    return to_set, to_remove
