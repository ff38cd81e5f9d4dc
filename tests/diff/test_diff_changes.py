"""Field changes: exactly what apply would change, at paths a person can read."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.diff import changes as changes_module
from reconciler.diff import diff_resource, diff_unit, normalise_task_definition, render_path
from reconciler.model import AutoScaling, Cause, FieldChange, JsonObject, ResourceKind
from tests.diff.diff_payloads import (
    TARGET_GROUP,
    WRITTEN_SERVICE,
    WRITTEN_TASK_DEFINITION,
    described_service,
    described_task_definition,
    make_unit,
)

Edit = Callable[[JsonObject], None]


def app_container(task_definition: JsonObject) -> JsonObject:
    body = task_definition.get("taskDefinition", task_definition)
    containers = body.get("containerDefinitions", body.get("ContainerDefinitions"))
    return next(c for c in containers if c.get("name", c.get("Name")) == "app")


def set_image(td: JsonObject) -> None:
    app_container(td)["image"] = "registry.example.com/api:1.4.1"


def set_log_level(td: JsonObject) -> None:
    environment = app_container(td)["environment"]
    next(v for v in environment if v["name"] == "LOG_LEVEL")["value"] = "debug"


def add_variable(td: JsonObject) -> None:
    app_container(td)["environment"].append({"name": "FEATURE_X", "value": "on"})


def remove_variable(td: JsonObject) -> None:
    environment = app_container(td)["environment"]
    environment[:] = [v for v in environment if v["name"] != "DB_HOST"]


def set_desired_count(svc: JsonObject) -> None:
    svc["desiredCount"] = 5


def use_capacity_providers(svc: JsonObject) -> None:
    svc.pop("launchType")
    svc["capacityProviderStrategy"] = [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 0},
    ]


def set_spot_weight(svc: JsonObject) -> None:
    strategy = svc["capacityProviderStrategy"]
    next(i for i in strategy if i["capacityProvider"] == "FARGATE_SPOT")["weight"] = 4


def stop_rollback(svc: JsonObject) -> None:
    svc["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"] = False


def set_container_port(svc: JsonObject) -> None:
    svc["loadBalancers"][0]["containerPort"] = 9090


def set_team_tag(svc: JsonObject) -> None:
    next(t for t in svc["tags"] if t["key"] == "team")["value"] = "billing"


def written_service_with_capacity_providers() -> JsonObject:
    written = copy.deepcopy(WRITTEN_SERVICE)
    written.pop("launchType")
    written["capacityProviderStrategy"] = [
        {"capacityProvider": "FARGATE_SPOT", "weight": 2},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    return written


@pytest.mark.parametrize(
    ("edit_live_td", "edit_live_service", "written_service", "expected"),
    [
        (
            set_image,
            None,
            WRITTEN_SERVICE,
            FieldChange(
                ResourceKind.TASK_DEFINITION,
                "containerDefinitions[app].image",
                "registry.example.com/api:1.4.1",
                "registry.example.com/api:1.4.2",
            ),
        ),
        (
            set_log_level,
            None,
            WRITTEN_SERVICE,
            FieldChange(
                ResourceKind.TASK_DEFINITION,
                "containerDefinitions[app].environment[LOG_LEVEL]",
                "debug",
                "info",
            ),
        ),
        (
            add_variable,
            None,
            WRITTEN_SERVICE,
            FieldChange(
                ResourceKind.TASK_DEFINITION,
                "containerDefinitions[app].environment[FEATURE_X]",
                "on",
                None,
            ),
        ),
        (
            remove_variable,
            None,
            WRITTEN_SERVICE,
            FieldChange(
                ResourceKind.TASK_DEFINITION,
                "containerDefinitions[app].environment[DB_HOST]",
                None,
                "db.internal",
            ),
        ),
        (
            None,
            set_desired_count,
            WRITTEN_SERVICE,
            FieldChange(ResourceKind.SERVICE, "desiredCount", 5, 2),
        ),
        (
            None,
            set_spot_weight,
            written_service_with_capacity_providers(),
            FieldChange(
                ResourceKind.SERVICE, "capacityProviderStrategy[FARGATE_SPOT].weight", 4, 2
            ),
        ),
        (
            None,
            stop_rollback,
            WRITTEN_SERVICE,
            FieldChange(
                ResourceKind.SERVICE,
                "deploymentConfiguration.deploymentCircuitBreaker.rollback",
                False,
                True,
            ),
        ),
        (
            None,
            set_container_port,
            WRITTEN_SERVICE,
            FieldChange(ResourceKind.SERVICE, "loadBalancers[0].containerPort", 9090, 8080),
        ),
        (
            None,
            set_team_tag,
            WRITTEN_SERVICE,
            FieldChange(ResourceKind.TAGS, "tags[team]", "billing", "payments"),
        ),
    ],
    ids=[
        "image",
        "environment-variable",
        "variable-added-by-hand",
        "variable-removed-by-hand",
        "desired-count",
        "capacity-provider-weight",
        "circuit-breaker-rollback",
        "load-balancer-port",
        "tag",
    ],
)
def test_one_difference_plans_as_exactly_that_one_change(
    edit_live_td: Edit | None,
    edit_live_service: Edit | None,
    written_service: JsonObject,
    expected: FieldChange,
) -> None:
    live_td = described_task_definition()
    live_service = described_service()
    if written_service is not WRITTEN_SERVICE:
        use_capacity_providers(live_service)
    for edit, payload in ((edit_live_td, live_td), (edit_live_service, live_service)):
        if edit is not None:
            edit(payload)

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, written_service),
        live_task_definition=live_td,
        live_service=live_service,
    )

    assert unit_diff.changes == (expected,)
    assert not unit_diff.in_sync


def test_an_unchanged_unit_is_in_sync() -> None:
    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE),
        live_task_definition=described_task_definition(),
        live_service=described_service(),
    )

    assert unit_diff.in_sync
    assert unit_diff.changes == ()
    assert unit_diff.causes == frozenset()


def test_a_capacity_provider_unit_against_its_live_service_is_in_sync() -> None:
    live_service = described_service()
    use_capacity_providers(live_service)

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, written_service_with_capacity_providers()),
        live_task_definition=described_task_definition(),
        live_service=live_service,
    )

    assert unit_diff.in_sync


def test_a_container_added_in_git_is_one_change_holding_the_whole_container() -> None:
    written = copy.deepcopy(WRITTEN_TASK_DEFINITION)
    written["ContainerDefinitions"].append({"Name": "worker", "Image": "registry.example.com/w:1"})

    unit_diff = diff_unit(
        make_unit(written, WRITTEN_SERVICE),
        live_task_definition=described_task_definition(),
        live_service=described_service(),
    )

    [change] = unit_diff.changes
    assert change.path == "containerDefinitions[worker]"
    assert change.live is None
    assert change.desired["image"] == "registry.example.com/w:1"


@pytest.mark.parametrize(
    ("segments", "path"),
    [
        (["containerDefinitions", "app", "image"], "containerDefinitions[app].image"),
        (
            ["containerDefinitions", "app", "environment", "LOG_LEVEL"],
            "containerDefinitions[app].environment[LOG_LEVEL]",
        ),
        (
            ["deploymentConfiguration", "deploymentCircuitBreaker", "rollback"],
            "deploymentConfiguration.deploymentCircuitBreaker.rollback",
        ),
        (
            ["capacityProviderStrategy", "FARGATE_SPOT", "weight"],
            "capacityProviderStrategy[FARGATE_SPOT].weight",
        ),
        (["tags", "team"], "tags[team]"),
        (["loadBalancers", 0, "containerPort"], "loadBalancers[0].containerPort"),
        (
            ["containerDefinitions", "app", "dockerLabels", "com.example.team"],
            "containerDefinitions[app].dockerLabels[com.example.team]",
        ),
        (
            ["containerDefinitions", "app", "portMappings", "8080/tcp", "hostPort"],
            "containerDefinitions[app].portMappings[8080/tcp].hostPort",
        ),
        (["containerDefinitions", "tags", "image"], "containerDefinitions[tags].image"),
    ],
    ids=[
        "container-field",
        "environment-variable",
        "nested-fields",
        "capacity-provider",
        "tag",
        "unkeyed-list-index",
        "user-map-key",
        "port-mapping",
        "container-named-like-a-field",
    ],
)
def test_paths_read_as_a_person_would_write_them(segments: list[str | int], path: str) -> None:
    assert render_path(segments) == path


def test_equal_forms_never_reach_the_detailed_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("equal forms were sent to deepdiff")

    monkeypatch.setattr(changes_module, "DeepDiff", refuse)
    form = normalise_task_definition(WRITTEN_TASK_DEFINITION)

    assert diff_resource(ResourceKind.TASK_DEFINITION, form, copy.deepcopy(form)) == ()


def test_a_missing_service_plans_its_creation() -> None:
    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE),
        live_task_definition=None,
        live_service=None,
    )

    assert unit_diff.service_missing
    assert unit_diff.task_definition_missing
    assert not unit_diff.in_sync
    paths = {(c.resource, c.path) for c in unit_diff.changes}
    assert (ResourceKind.SERVICE, "desiredCount") in paths
    assert (ResourceKind.TAGS, "tags") in paths
    assert (ResourceKind.TASK_DEFINITION, "containerDefinitions") in paths
    assert all(c.live is None for c in unit_diff.changes)


def test_a_task_definition_only_unit_compares_no_service() -> None:
    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, None),
        live_task_definition=described_task_definition(),
        live_service=None,
    )

    assert unit_diff.in_sync


@pytest.mark.parametrize(
    ("autoscaling", "live_target", "in_sync"),
    [
        (None, {"MinCapacity": 1, "MaxCapacity": 10}, True),
        (AutoScaling(min=2, max=10), {"MinCapacity": 2, "MaxCapacity": 10}, True),
        (AutoScaling(min=2, max=20), {"MinCapacity": 2, "MaxCapacity": 10}, False),
    ],
    ids=["bounds-not-managed", "bounds-equal", "max-raised-in-git"],
)
def test_auto_scaling_bounds_are_compared_when_the_unit_sets_them(
    autoscaling: AutoScaling | None, live_target: JsonObject, in_sync: bool
) -> None:
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": "service/prod/api",
        "ScalableDimension": "ecs:service:DesiredCount",
        "SuspendedState": {"DynamicScalingInSuspended": True},
        **live_target,
    }

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE, autoscaling=autoscaling),
        live_task_definition=described_task_definition(),
        live_service=described_service(),
        scalable_target=target,
    )

    assert unit_diff.in_sync is in_sync
    if not in_sync:
        assert unit_diff.changes == (FieldChange(ResourceKind.AUTOSCALING, "maxCapacity", 10, 20),)


@pytest.mark.parametrize(
    ("written_count", "scalable_target", "compared"),
    [
        (2, None, True),
        (2, {"MinCapacity": 1, "MaxCapacity": 10}, False),
        (None, None, False),
    ],
    ids=["set-and-no-auto-scaling", "scalable-target-exists", "unit-leaves-it-out"],
)
def test_desired_count_is_ignored_when_auto_scaling_owns_it(
    written_count: int | None, scalable_target: JsonObject | None, compared: bool
) -> None:
    written = copy.deepcopy(WRITTEN_SERVICE)
    written["desiredCount"] = written_count
    live_service = described_service()
    live_service["desiredCount"] = 7

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, written),
        live_task_definition=described_task_definition(),
        live_service=live_service,
        scalable_target=scalable_target,
    )

    assert [c.path for c in unit_diff.changes] == (["desiredCount"] if compared else [])


def test_target_groups_are_ignored_on_code_deploy_services() -> None:
    written = copy.deepcopy(WRITTEN_SERVICE)
    written["deploymentController"] = {"type": "CODE_DEPLOY"}
    written["deploymentConfiguration"] = {}
    live_service = described_service()
    live_service["deploymentController"] = {"type": "CODE_DEPLOY"}
    live_service["deploymentConfiguration"] = {"maximumPercent": 200, "minimumHealthyPercent": 100}
    # CodeDeploy moved traffic to the green target group.
    live_service["loadBalancers"][0]["targetGroupArn"] = TARGET_GROUP.replace("api/", "api-green/")

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, written),
        live_task_definition=described_task_definition(),
        live_service=live_service,
    )

    assert unit_diff.in_sync


@pytest.mark.parametrize(
    ("ignore_tags", "live_tag", "in_sync"),
    [
        ((), {"key": "gitops:bad-revision", "value": "9a8b7c6"}, True),
        (("deployed_at",), {"key": "deployed_at", "value": "2026-11-03"}, True),
        (("deployed_*",), {"key": "deployed_at", "value": "2026-11-03"}, True),
        ((), {"key": "deployed_at", "value": "2026-11-03"}, False),
    ],
    ids=["gitops-tag", "ignored-tag", "ignored-by-pattern", "tag-added-by-hand"],
)
def test_reconciler_and_ignored_tags_are_not_drift(
    ignore_tags: tuple[str, ...], live_tag: JsonObject, in_sync: bool
) -> None:
    live_service = described_service()
    live_service["tags"].append(live_tag)

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE, ignore_tags=ignore_tags),
        live_task_definition=described_task_definition(),
        live_service=live_service,
    )

    assert unit_diff.in_sync is in_sync
    if not in_sync:
        assert unit_diff.changes == (
            FieldChange(ResourceKind.TAGS, "tags[deployed_at]", "2026-11-03", None),
        )


def applied_and_desired(image_in_git: str) -> tuple[Any, Any]:
    desired_td = copy.deepcopy(WRITTEN_TASK_DEFINITION)
    desired_td["ContainerDefinitions"][0]["Image"] = image_in_git
    applied = make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE, revision="4f1c2e9")
    desired = make_unit(desired_td, WRITTEN_SERVICE, revision="77aa001")
    return applied, desired


@pytest.mark.parametrize(
    ("image_in_git", "count_by_hand", "causes"),
    [
        ("registry.example.com/api:1.5.0", None, {Cause.CHANGE}),
        ("registry.example.com/api:1.4.2", 9, {Cause.DRIFT}),
        ("registry.example.com/api:1.5.0", 9, {Cause.CHANGE, Cause.DRIFT}),
        ("registry.example.com/api:1.4.2", None, set()),
    ],
    ids=["git-moved", "changed-by-hand", "both", "neither"],
)
def test_each_unit_is_marked_with_what_caused_its_changes(
    image_in_git: str, count_by_hand: int | None, causes: set[Cause]
) -> None:
    applied, desired = applied_and_desired(image_in_git)
    live_service = described_service()
    if count_by_hand is not None:
        live_service["desiredCount"] = count_by_hand

    unit_diff = diff_unit(
        desired,
        live_task_definition=described_task_definition(),
        live_service=live_service,
        applied=applied,
    )

    assert unit_diff.causes == causes


def test_without_the_applied_revision_a_difference_is_put_down_to_change() -> None:
    live_service = described_service()
    live_service["desiredCount"] = 9

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE),
        live_task_definition=described_task_definition(),
        live_service=live_service,
    )

    assert unit_diff.causes == {Cause.CHANGE}
    assert unit_diff.changes_to(ResourceKind.SERVICE) == (
        FieldChange(ResourceKind.SERVICE, "desiredCount", 9, 2),
    )
