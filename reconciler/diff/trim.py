"""Trim what AWS returns down to what a person would have written.

``reconciler init`` writes units from live services. A describe payload carries
every default AWS filled in; a unit should carry only what its author chose.
The rule that decides is the normaliser itself: a field is dropped when the
definition without it normalises to the same canonical form. So whatever
``init`` writes plans in sync by construction, and trimming learns every new
default the moment the normaliser does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from reconciler.diff.normalise import normalise_service, normalise_task_definition
from reconciler.model import FieldOwnership, JsonObject

Normalise = Callable[[JsonObject], JsonObject]


def trim_task_definition(td: JsonObject) -> JsonObject:
    """The smallest task definition that means what ``td`` means."""
    return _trim(td, normalise_task_definition)


def trim_service(service: JsonObject, *, context: FieldOwnership | None = None) -> JsonObject:
    """The smallest service definition that means what ``service`` means."""
    ownership = context or FieldOwnership()
    return _trim(service, lambda body: normalise_service(body, context=ownership))


def _trim(document: JsonObject, normalise: Normalise) -> JsonObject:
    target = normalise(document)
    body = copy.deepcopy(document)

    def same() -> bool:
        try:
            return normalise(body) == target
        except (KeyError, TypeError, ValueError):
            return False

    _trim_mapping(body, same)
    return body


def _trim_mapping(node: dict[str, Any], same: Callable[[], bool]) -> None:
    # Depth first: a nested default goes before the map holding it is tried.
    for key in list(node):
        value = node[key]
        if isinstance(value, dict):
            _trim_mapping(value, same)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _trim_mapping(item, same)
        node.pop(key)
        if not same():
            node[key] = value
