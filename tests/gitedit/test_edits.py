"""Editing one value of a unit's file and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.source.edits import (
    EditedFiles,
    EditRefused,
    definition_root,
    find_container,
    insert_member,
    read_templated_json,
    replace_jsonnet_number,
    replace_value,
    set_env_value,
    set_policy_values,
)
from reconciler.source.files import FolderFiles

TEMPLATED = """{
  "desiredCount": {{ must_env `COUNT` }},
  "subnets": ["{{ ssm "/prod/subnets" 0 }}"],
  "launchType": "FARGATE",
  "weight": {{ env "W" "1" }}0
}"""


def test_the_json_reader_keeps_template_actions_and_reports_them_templated() -> None:
    document = read_templated_json(TEMPLATED, file="svc.json")

    count = document.member("desiredCount")
    assert count is not None
    assert (count.kind, count.templated, count.source(TEMPLATED)) == (
        "template",
        True,
        "{{ must_env `COUNT` }}",
    )
    subnets = document.member("subnets")
    assert subnets is not None
    assert subnets.items[0].templated
    launch = document.member("launchType")
    assert launch is not None
    assert launch.value(TEMPLATED) == "FARGATE"
    weight = document.member("weight")
    assert weight is not None
    assert weight.source(TEMPLATED) == '{{ env "W" "1" }}0'


def test_a_member_is_found_whatever_the_case_of_its_first_letter() -> None:
    text = '{"DesiredCount": 2}'
    member = read_templated_json(text, file="svc.json").member("desiredCount")

    assert member is not None
    assert replace_value(text, member, 5) == '{"DesiredCount": 5}'


def test_a_wrapped_task_definition_is_unwrapped_to_find_its_containers() -> None:
    text = '{"taskDefinition": {"containerDefinitions": [{"name": "app", "image": "a:1"}]}}'
    root = definition_root(read_templated_json(text, file="td.json"), "taskDefinition")

    container = find_container(root, "app", text)
    assert container is not None
    image = container.member("image")
    assert image is not None
    assert replace_value(text, image, "a:2") == text.replace("a:1", "a:2")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a": 1 "b": 2}', id="missing-comma"),
        pytest.param('{{ if .x }}{"a": 1}{{ end }}', id="template-around-document"),
        pytest.param('{"a": "{{ never closed }"}', id="open-action"),
        pytest.param('{"a": 1, {{ if true }}"b": 2{{ end }}}', id="conditional-member"),
    ],
)
def test_json_the_reader_cannot_follow_is_refused_with_its_line(text: str) -> None:
    with pytest.raises(EditRefused, match=r"svc\.json:1: cannot be edited safely"):
        read_templated_json(text, file="svc.json").member("a")


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        pytest.param(
            '# policy\nvars:\n  TAG: "1.0"  # CI\n  OTHER: x\nwave: 2\n',
            {"TAG": "1.1"},
            '# policy\nvars:\n  TAG: "1.1"  # CI\n  OTHER: x\nwave: 2\n',
            id="double-quoted-with-comment",
        ),
        pytest.param(
            "vars:\n    TAG: '1.0'\n",
            {"TAG": "it's"},
            "vars:\n    TAG: 'it''s'\n",
            id="single-quoted-four-spaces",
        ),
        pytest.param(
            "vars:\n  TAG: v1\n",
            {"TAG": "1.10"},
            'vars:\n  TAG: "1.10"\n',
            id="plain-that-would-read-as-a-number-gets-quoted",
        ),
        pytest.param(
            "vars:\n  TAG: v1\n",
            {"TAG": "v2"},
            "vars:\n  TAG: v2\n",
            id="plain-stays-plain",
        ),
        pytest.param(
            "vars:\n  A: x\n\n# later\nwave: 1\n",
            {"B": "y"},
            'vars:\n  A: x\n  B: "y"\n\n# later\nwave: 1\n',
            id="new-key-after-the-last-member",
        ),
        pytest.param(
            "wave: 1",
            {"TAG": "1"},
            'wave: 1\nvars:\n  TAG: "1"\n',
            id="new-section-no-final-newline",
        ),
        pytest.param(None, {"TAG": "1"}, 'vars:\n  TAG: "1"\n', id="new-file"),
    ],
)
def test_policy_values_are_set_on_their_line_alone(
    text: str | None, values: dict[str, str], expected: str
) -> None:
    assert set_policy_values(text, "vars", values, file="reconciler.yml") == expected


def test_autoscaling_bounds_are_written_as_numbers() -> None:
    text = "autoscaling:\n  min: 2\n  max: 10\n  suspend_during_rollout: false\n"

    edited = set_policy_values(text, "autoscaling", {"min": 3, "max": 12}, file="r.yml")

    assert edited == "autoscaling:\n  min: 3\n  max: 12\n  suspend_during_rollout: false\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('vars: {TAG: "1.0"}\n', id="flow-mapping"),
        pytest.param("vars: [1, 2\n", id="broken-yaml"),
    ],
)
def test_policy_files_that_cannot_be_edited_line_by_line_are_refused(text: str) -> None:
    with pytest.raises(EditRefused, match=r"reconciler\.yml"):
        set_policy_values(text, "vars", {"TAG": "2"}, file="reconciler.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A=1\nTAG=1.0\n", "A=1\nTAG=2.0\n", id="plain"),
        pytest.param('export TAG="1.0"\n', 'export TAG="2.0"\n', id="exported-quoted"),
        pytest.param("TAG=0.1\nTAG=1.0", "TAG=0.1\nTAG=2.0", id="last-definition-wins"),
    ],
)
def test_env_file_values_keep_their_quoting(text: str, expected: str) -> None:
    assert set_env_value(text, "TAG", "2.0", file="release.env") == expected


def test_an_env_file_without_the_variable_is_refused() -> None:
    with pytest.raises(EditRefused, match="does not define TAG"):
        set_env_value("A=1\n", "TAG", "2", file="release.env")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{ desiredCount: 2, other: { desiredCount: 2 } }", id="twice"),
        pytest.param("{ desiredCount: std.length([1, 2]) }", id="computed"),
    ],
)
def test_a_jsonnet_count_not_written_once_as_a_number_is_refused(text: str) -> None:
    with pytest.raises(EditRefused, match="cannot be changed safely"):
        replace_jsonnet_number(text, "desiredCount", 2, 3, file="svc.jsonnet")


def test_edited_files_show_added_replaced_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web/a.json").write_text("{}")
    (tmp_path / "web/b.json").write_text("{}")
    files = EditedFiles(
        FolderFiles(tmp_path),
        {"web/a.json": b"[1]", "web/b.json": None, "web/c.yml": b"x: 1\n"},
    )

    assert files.read_bytes("web/a.json") == b"[1]"
    assert not files.exists("web/b.json")
    assert files.list_dir("web") == ["a.json", "c.yml"]
    assert ("web", [], ["a.json", "c.yml"]) in list(files.walk())
    assert files.tree_id("web") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{\n    "launchType": "EC2"\n}',
            '{\n    "desiredCount": 2,\n    "launchType": "EC2"\n}',
            id="indented",
        ),
        pytest.param(
            '{"launchType": "EC2"}', '{"desiredCount": 2, "launchType": "EC2"}', id="inline"
        ),
        pytest.param("{}", '{"desiredCount": 2}', id="empty"),
    ],
)
def test_a_missing_member_is_added_first_in_the_objects_own_style(text: str, expected: str) -> None:
    document = read_templated_json(text, file="svc.json")

    assert insert_member(text, document, "desiredCount", 2) == expected
