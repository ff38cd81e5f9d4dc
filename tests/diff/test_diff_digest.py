"""Digests: stable across how a definition is written, versioned, never a verdict."""

from __future__ import annotations

import copy
import json

import pytest

from reconciler.diff import (
    NORMALISER_VERSION,
    diff_unit,
    digest_proves_unchanged,
    digest_task_definition,
    digest_version,
    same_digest_version,
)
from reconciler.model import JsonObject
from tests.diff.diff_payloads import (
    WRITTEN_SERVICE,
    WRITTEN_TASK_DEFINITION,
    described_service,
    described_task_definition,
    make_unit,
)


def reversed_keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def test_a_digest_names_the_normaliser_version() -> None:
    digest = digest_task_definition(WRITTEN_TASK_DEFINITION)

    assert digest.startswith(f"{NORMALISER_VERSION}:")
    assert len(digest.partition(":")[2]) == 64
    assert digest_version(digest) == NORMALISER_VERSION


@pytest.mark.parametrize(
    "variant",
    [
        reversed_keys(WRITTEN_TASK_DEFINITION),
        json.loads(json.dumps(WRITTEN_TASK_DEFINITION, sort_keys=True)),
        described_task_definition(),
    ],
    ids=["keys-reversed", "keys-sorted", "as-aws-describes-it"],
)
def test_a_digest_is_stable_across_how_the_definition_is_written(variant: JsonObject) -> None:
    assert digest_task_definition(variant) == digest_task_definition(WRITTEN_TASK_DEFINITION)


def test_a_different_image_has_a_different_digest() -> None:
    changed = copy.deepcopy(WRITTEN_TASK_DEFINITION)
    changed["ContainerDefinitions"][0]["Image"] = "registry.example.com/api:1.5.0"

    assert digest_task_definition(changed) != digest_task_definition(WRITTEN_TASK_DEFINITION)


@pytest.mark.parametrize(
    ("live_digest", "proves"),
    [
        ("same", True),
        ("v0:" + "0" * 64, False),
        ("v1:" + "f" * 64, False),
        ("no-version", False),
        (None, False),
    ],
    ids=["equal", "older-version", "different", "unversioned", "untagged"],
)
def test_only_an_equal_digest_of_the_same_version_proves_a_definition_unchanged(
    live_digest: str | None, proves: bool
) -> None:
    desired = digest_task_definition(WRITTEN_TASK_DEFINITION)
    live = desired if live_digest == "same" else live_digest

    assert digest_proves_unchanged(live, desired) is proves


@pytest.mark.parametrize(
    ("digest", "other", "same"),
    [
        ("v1:aa", "v1:bb", True),
        ("v1:aa", "v2:aa", False),
        ("aa", "aa", False),
    ],
    ids=["same-version", "another-version", "unversioned"],
)
def test_digest_versions_compare(digest: str, other: str, same: bool) -> None:
    assert same_digest_version(digest, other) is same


def test_a_digest_of_another_version_never_makes_an_unchanged_unit_differ() -> None:
    live_td = described_task_definition()
    live_td["tags"] = [
        {"key": "gitops:digest", "value": "v0:" + "0" * 64},
        {"key": "team", "value": "payments"},
    ]
    assert not digest_proves_unchanged(
        "v0:" + "0" * 64, digest_task_definition(WRITTEN_TASK_DEFINITION)
    )

    unit_diff = diff_unit(
        make_unit(WRITTEN_TASK_DEFINITION, WRITTEN_SERVICE),
        live_task_definition=live_td,
        live_service=described_service(),
    )

    assert unit_diff.in_sync
