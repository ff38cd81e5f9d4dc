"""Field changes between two canonical forms, with paths a person can read.

Lists whose items have a natural key (containers by name, environment
variables by name, tags by key...) are compared as maps keyed by it, so that
adding one environment variable is one change, not a shift of every later
index, and the path names the item: ``containerDefinitions[app].environment
[LOG_LEVEL]``. Name/value pairs collapse to their value (``tags[team]`` is the
tag's value). Lists without such a key keep their index (``loadBalancers[0]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from reconciler.diff.digest import canonical_json
from reconciler.fields import ITEM_KEYS, USER_KEYED_MAPS
from reconciler.model import FieldChange, JsonObject, ResourceKind


def diff_resource(
    kind: ResourceKind, live: JsonObject | None, desired: JsonObject | None
) -> tuple[FieldChange, ...]:
    """What apply would change in one resource, read from live to desired.

    Both sides must be canonical forms (see :mod:`reconciler.diff.normalise`).
    A missing side (None) reads as empty: every field of the other is added or
    removed. Equal forms are found by comparing their canonical JSON, so only
    resources that differ pay for the detailed diff.
    """
    live_form = live or {}
    desired_form = desired or {}
    if canonical_json(live_form) == canonical_json(desired_form):
        return ()

    found = DeepDiff(
        _keyed_view(live_form),
        _keyed_view(desired_form),
        view="tree",
        # Always descend to the fields that differ, however much differs.
        threshold_to_diff_deeper=0,
    )
    changes = [
        FieldChange(
            resource=kind,
            path=render_path(level.path(output_format="list")),
            live=_present(level.t1),
            desired=_present(level.t2),
        )
        for levels in found.tree.values()
        for level in levels
    ]
    return tuple(sorted(changes, key=lambda change: change.path))


def render_path(segments: Sequence[str | int]) -> str:
    """``["containerDefinitions", "app", "image"]`` -> ``containerDefinitions[app].image``."""
    parts: list[str] = []
    item_key_next = False
    for segment in segments:
        if item_key_next or isinstance(segment, int):
            parts.append(f"[{segment}]")
            item_key_next = False
        else:
            parts.append(f".{segment}" if parts else segment)
            item_key_next = holds_keyed_items(segment)
    return "".join(parts)


def holds_keyed_items(field: str) -> bool:
    """Whether a field's value, in a change, is a map of items by their natural key."""
    return field in ITEM_KEYS or field in USER_KEYED_MAPS


def _keyed_view(value: Any, name: str | None = None) -> Any:
    """The form with keyed lists turned into maps keyed by their natural key."""
    if isinstance(value, dict):
        return {key: _keyed_view(item, key) for key, item in value.items()}
    if isinstance(value, list):
        items = [_keyed_view(item) for item in value]
        spec = ITEM_KEYS.get(name or "")
        keyed = _key_items(items, *spec) if spec else None
        return items if keyed is None else keyed
    return value


def _key_items(
    items: list[Any], key_fields: tuple[str, ...], value_field: str | None
) -> dict[str, Any] | None:
    """Items keyed by their natural key, or None when some item has no unique key."""
    keyed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or any(f not in item for f in key_fields):
            return None
        key = "/".join(str(item[f]) for f in key_fields)
        if key in keyed:
            return None
        keyed[key] = item
    allowed = {*key_fields, value_field}
    if value_field is not None and all(set(item) <= allowed for item in keyed.values()):
        return {key: item.get(value_field) for key, item in keyed.items()}
    return keyed


def _present(value: Any) -> Any:
    return None if value is notpresent else value
