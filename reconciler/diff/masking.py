"""Hide values that came from a secret lookup, or whose name looks secret.

Logs, statuses and alerts name paths and never values; the CLI shows values,
through :func:`mask_changes`, unless the user asks for them (``--show-values``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from reconciler.diff.changes import holds_keyed_items
from reconciler.model import FieldChange

MASK = "(masked)"

_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "key",
        "apikey",
        "credential",
        "credentials",
    }
)
# Words of a name: split on anything but letters and digits, and between a lower
# case letter and an upper case one (dbPassword -> db, password).
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_LAST_SEGMENT = re.compile(r"(?:\[([^\]]*)\]|\.?([^.\[\]]+))$")


def looks_secret(name: str) -> bool:
    """Whether a field or variable name reads as a secret (``DB_PASSWORD``, ``apiKey``)."""
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def mask_changes(
    changes: Iterable[FieldChange],
    secret_paths: Iterable[str] = (),
    *,
    show_values: bool = False,
) -> tuple[FieldChange, ...]:
    """The changes with secret values replaced by :data:`MASK`.

    A value is secret when its path is one of ``secret_paths`` (or lies under
    one), or when the last segment of its path looks secret; inside a map value
    (an added container, say) the same test applies to each nested key.
    """
    if show_values:
        return tuple(changes)
    secrets = frozenset(secret_paths)
    return tuple(
        replace(
            change,
            live=_mask_value(change.path, change.live, secrets),
            desired=_mask_value(change.path, change.desired, secrets),
        )
        for change in changes
    )


def _mask_value(path: str, value: Any, secrets: frozenset[str]) -> Any:
    if value is None:
        return None
    # A path ending in "]" names an item; otherwise its last segment is a field.
    field = None if path.endswith("]") else _last_segment(path)
    return _mask_nested(path, field, value, secrets)


def _mask_nested(path: str, field: str | None, value: Any, secrets: frozenset[str]) -> Any:
    if _is_secret_path(path, secrets):
        return MASK
    if isinstance(value, dict):
        keyed = field is not None and holds_keyed_items(field)
        return {
            key: _mask_nested(
                f"{path}[{key}]" if keyed else f"{path}.{key}",
                None if keyed else key,
                item,
                secrets,
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_nested(f"{path}[{i}]", None, item, secrets) for i, item in enumerate(value)]
    return value


def _is_secret_path(path: str, secrets: frozenset[str]) -> bool:
    if path in secrets or any(path.startswith((f"{s}.", f"{s}[")) for s in secrets):
        return True
    return looks_secret(_last_segment(path))


def _last_segment(path: str) -> str:
    match = _LAST_SEGMENT.search(path)
    return "" if match is None else match.group(1) or match.group(2) or ""
