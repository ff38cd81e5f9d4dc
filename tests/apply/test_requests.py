"""The requests a unit's definitions become, without AWS."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.apply.requests import (
    create_service_request,
    register_task_definition_request,
    state_tags,
    tag_changes,
    tag_value,
    update_service_request,
)
from reconciler.model import (
    TAG_DIGEST,
    TAG_REVISION,
    AutoScaling,
    DesiredUnit,
    FieldChange,
    Policy,
    ResourceKind,
    UnitConfig,
)

TASK = {
    "Family": "web",
    "containerDefinitions": [{"name": "web", "image": "nginx:1.27"}],
    "revision": 7,
    "tags": [{"key": "team", "value": "web"}, {"key": "gitops:digest", "value": "stale"}],
}


def unit(service: dict[str, Any] | None, autoscaling: AutoScaling | None = None) -> DesiredUnit:
    return DesiredUnit(
        id="web",
        revision="abc",
        path="web",
        config=UnitConfig("us-east-1", "prod", "web", "svc.json", "td.json"),
        policy=Policy(autoscaling=autoscaling),
        task_definition=TASK,
        service=service,
    )


def change(path: str, resource: ResourceKind = ResourceKind.SERVICE) -> FieldChange:
    return FieldChange(resource, path, None, None)


def test_a_task_definition_request_keeps_api_fields_and_tags_its_digest_and_revision() -> None:
    request = register_task_definition_request(unit({}), "v1:abc")

    assert request["family"] == "web"
    assert "revision" not in request
    assert request["tags"] == [
        {"key": "team", "value": "web"},
        {"key": TAG_DIGEST, "value": "v1:abc"},
        {"key": TAG_REVISION, "value": "abc"},
    ]


@pytest.mark.parametrize(
    ("service", "autoscaling", "count"),
    [
        ({"desiredCount": 4}, None, 4),
        ({}, AutoScaling(min=3, max=9), 3),
        ({}, None, 1),
    ],
    ids=["unit-count", "autoscaling-min", "neither"],
)
def test_a_new_service_starts_with_the_units_count_or_auto_scalings_minimum(
    service: dict[str, Any], autoscaling: AutoScaling | None, count: int
) -> None:
    request = create_service_request(unit(service, autoscaling), "arn:td/web:1", {})

    assert request["desiredCount"] == count
    assert request["serviceName"] == "web"
    assert request["taskDefinition"] == "arn:td/web:1"


def test_a_daemon_service_is_created_without_a_count() -> None:
    request = create_service_request(unit({"schedulingStrategy": "DAEMON"}), "arn:td/web:1", {})

    assert "desiredCount" not in request


def test_an_update_carries_only_changed_fields_with_the_task_definition_and_count() -> None:
    service = {
        "deploymentConfiguration": {"maximumPercent": 150},
        "enableExecuteCommand": True,
        "propagateTags": "SERVICE",
    }
    changes = [
        change("deploymentConfiguration.maximumPercent"),
        change("containerDefinitions[web].image", ResourceKind.TASK_DEFINITION),
        change("loadBalancers[0]"),
    ]

    request = update_service_request(
        unit(service), changes, task_definition_arn="arn:td/web:2", desired_count=3
    )

    assert request == {
        "cluster": "prod",
        "service": "web",
        "deploymentConfiguration": {"maximumPercent": 150},
        # A list the unit no longer sets is emptied.
        "loadBalancers": [],
        "taskDefinition": "arn:td/web:2",
        "desiredCount": 3,
    }


def test_nothing_to_update_is_no_request() -> None:
    changes = [change("tags", ResourceKind.TAGS)]

    assert (
        update_service_request(unit({}), changes, task_definition_arn=None, desired_count=None)
        is None
    )


def test_tag_changes_replace_state_tags_and_drop_only_the_units_own() -> None:
    live = {"team": "old", "cost-center": "1", "gitops:bad-revision": "x", "aws:managed": "y"}
    desired = {
        "team": "web",
        **state_tags(owner="o", unit="web", revision="r", digest="d", task_definition="t"),
    }

    to_set, to_remove = tag_changes(live, desired, ignore=["aws:*"])

    assert to_set["team"] == "web"
    assert to_set["gitops:revision"] == "r"
    assert to_remove == ["cost-center"]


def test_tag_values_lose_characters_aws_refuses() -> None:
    assert tag_value("git@example.com:team/repo.git#main") == "git@example.com:team/repo.git_main"
