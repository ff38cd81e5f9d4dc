"""Masking: secret values stay hidden in output unless the user asks for them."""

from __future__ import annotations

import pytest

from reconciler.diff import MASK, looks_secret, mask_changes
from reconciler.model import FieldChange, ResourceKind

TD = ResourceKind.TASK_DEFINITION


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("apiKey", True),
        ("GITHUB_TOKEN", True),
        ("client-secret", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("LOG_LEVEL", False),
        ("KEYCLOAK_URL", False),
        ("image", False),
        ("monkey", False),
    ],
)
def test_names_that_read_as_secrets_are_recognised(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


ENV = "containerDefinitions[app].environment"


@pytest.mark.parametrize(
    ("change", "secret_paths", "shown"),
    [
        (
            FieldChange(TD, f"{ENV}[DB_PASSWORD]", "old", "new"),
            (),
            (MASK, MASK),
        ),
        (
            FieldChange(TD, f"{ENV}[DSN]", "pg://u:p@h", None),
            (f"{ENV}[DSN]",),
            (MASK, None),
        ),
        (
            FieldChange(TD, ENV, None, {"DSN": "pg://u:p@h", "LOG_LEVEL": "info"}),
            (f"{ENV}[DSN]",),
            (None, {"DSN": MASK, "LOG_LEVEL": "info"}),
        ),
        (
            FieldChange(TD, f"{ENV}[LOG_LEVEL]", "info", "debug"),
            (),
            ("info", "debug"),
        ),
    ],
    ids=["secret-looking-name", "from-a-secret-lookup", "inside-an-added-map", "plain-value"],
)
def test_secret_values_are_masked(
    change: FieldChange, secret_paths: tuple[str, ...], shown: tuple[object, object]
) -> None:
    [masked] = mask_changes([change], secret_paths)

    assert (masked.live, masked.desired) == shown
    assert (masked.resource, masked.path) == (change.resource, change.path)


def test_a_whole_container_added_hides_only_its_secret_variables() -> None:
    added = {
        "name": "worker",
        "image": "registry.example.com/w:1",
        "environment": {"API_TOKEN": "tok-123", "LOG_LEVEL": "info"},
    }
    change = FieldChange(TD, "containerDefinitions[worker]", None, added)

    [shown] = mask_changes([change])

    assert shown.desired["environment"] == {"API_TOKEN": MASK, "LOG_LEVEL": "info"}
    assert shown.desired["image"] == "registry.example.com/w:1"
    assert shown.live is None


def test_values_are_shown_when_asked() -> None:
    change = FieldChange(TD, "containerDefinitions[app].environment[DB_PASSWORD]", "old", "new")

    assert mask_changes([change], show_values=True) == (change,)
