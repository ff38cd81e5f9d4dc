"""The small readers render relies on: durations, versions, Terraform addresses, paths."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.desired.config import version_satisfies
from reconciler.desired.documents import dump_with_paths, walk_leaves
from reconciler.desired.lookups import LookupFailed, lookup_terraform_state
from reconciler.desired.policy import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("10m0s", 600.0, id="ecspresso-default"),
        pytest.param("1h30m", 5400.0, id="hours-minutes"),
        pytest.param("90s", 90.0, id="seconds"),
        pytest.param("1.5h", 5400.0, id="fraction"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("0", 0.0, id="zero"),
    ],
)
def test_go_durations_are_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "ten minutes", "5d", "", "m"])
def test_what_is_not_a_go_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("constraint", "satisfied"),
    [
        pytest.param(">= 2.0", True, id="at-least"),
        pytest.param(">= 2.0, < 3", True, id="range"),
        pytest.param("~> 2.3", True, id="pessimistic-minor"),
        pytest.param("~> 2.4.1", False, id="pessimistic-patch-above"),
        pytest.param("~> 2.4.0", True, id="pessimistic-patch"),
        pytest.param("< 2.4", False, id="below"),
        pytest.param("= 2.4.0", True, id="exact"),
        pytest.param("!= 2.4.0", False, id="not"),
        pytest.param("v2.4.0", True, id="v-prefix"),
        pytest.param(">= 3", False, id="next-major"),
    ],
)
def test_required_version_constraints_read_as_ecspresso_reads_them(
    constraint: str, satisfied: bool
) -> None:
    assert version_satisfies("2.4.0", constraint) is satisfied


STATE: dict[str, Any] = {
    "version": 4,
    "outputs": {"network": {"value": {"subnets": ["s-1", "s-2"]}}},
    "resources": [
        {
            "mode": "managed",
            "type": "aws_lb",
            "name": "web",
            "instances": [{"attributes": {"arn": "arn:lb", "subnets": ["a", "b"]}}],
        },
        {
            "module": 'module.svc["api"]',
            "mode": "data",
            "type": "aws_iam_role",
            "name": "task",
            "instances": [{"attributes": {"arn": "arn:role"}}],
        },
        {
            "mode": "managed",
            "type": "aws_ecr_repository",
            "name": "all",
            "each": "map",
            "instances": [{"index_key": "app", "attributes": {"repository_url": "ecr/app"}}],
        },
    ],
}


@pytest.mark.parametrize(
    ("address", "value"),
    [
        pytest.param("aws_lb.web.arn", "arn:lb", id="resource"),
        pytest.param("aws_lb.web.subnets[1]", "b", id="list-attribute"),
        pytest.param("aws_ecr_repository.all['app'].repository_url", "ecr/app", id="for-each"),
        pytest.param('aws_ecr_repository.all["app"].repository_url', "ecr/app", id="dq-key"),
        pytest.param('module.svc["api"].data.aws_iam_role.task.arn', "arn:role", id="module"),
        pytest.param("output.network.subnets[0]", "s-1", id="output"),
    ],
)
def test_terraform_addresses_find_their_value(address: str, value: str) -> None:
    assert lookup_terraform_state(STATE, address) == value


@pytest.mark.parametrize(
    "address",
    ["aws_lb.api.arn", "aws_lb.web.nope", "aws_ecr_repository.all['web'].url", "output.x", "lb"],
)
def test_a_terraform_address_not_in_the_state_says_so(address: str) -> None:
    with pytest.raises(LookupFailed, match=address.split(".")[0]):
        lookup_terraform_state(STATE, address)


def test_field_paths_name_items_as_the_diff_stage_does() -> None:
    task = {
        "containerDefinitions": [
            {
                "name": "app",
                "environment": [{"name": "DB", "value": "x"}],
                "secrets": [{"name": "K", "valueFrom": "arn:k"}],
                "command": ["a"],
                "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
                "logConfiguration": {"options": {"splunk-token": "t"}},
            }
        ],
        "tags": [{"key": "team", "value": "web"}],
        "volumes": [{"host": {}}, {"host": {}}],
    }

    assert dict(walk_leaves(task)) == {
        "containerDefinitions[app].name": "app",
        "containerDefinitions[app].environment[DB]": "x",
        "containerDefinitions[app].secrets[K]": "arn:k",
        "containerDefinitions[app].command[0]": "a",
        "containerDefinitions[app].portMappings[80/tcp].containerPort": 80,
        "containerDefinitions[app].portMappings[80/tcp].protocol": "tcp",
        "containerDefinitions[app].logConfiguration.options[splunk-token]": "t",
        "tags[team]": "web",
    }


def test_each_line_of_dumped_json_knows_its_field() -> None:
    value = {"containerDefinitions": [{"name": "app", "image": "x"}], "cpu": "256"}

    text, paths = dump_with_paths(value)
    lines = text.splitlines()

    assert paths[lines.index('      "image": "x"')] == "containerDefinitions[app].image"
    assert paths[lines.index('  "cpu": "256"')] == "cpu"
