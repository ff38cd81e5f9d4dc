"""Resource tags: checks shared by every resource that carries them."""

from __future__ import annotations

from reconciler.emulator.ecs.errors import invalid_parameter
from reconciler.emulator.ecs.records import Json

# ECS allows 50 user tags per resource; the "aws:" prefix is reserved.
TAG_LIMIT = 50


def check_tags(tags: list[Json]) -> None:
    if len(tags) > TAG_LIMIT:
        raise invalid_parameter(f"A resource can have at most {TAG_LIMIT} tags.")
    for tag in tags:
        if "key" not in tag:
            raise invalid_parameter("Tag keys must not be empty.")
        if str(tag["key"]).lower().startswith("aws:"):
            raise invalid_parameter("Tag keys prefixed with 'aws:' are reserved for AWS use.")


def merge_tags(current: list[Json], added: list[Json]) -> list[Json]:
    """``current`` with ``added`` applied: a key given again takes the new value."""
    merged = {tag["key"]: tag.get("value", "") for tag in current}
    for tag in added:
        merged[tag["key"]] = tag.get("value", "")
    check_tags([{"key": key, "value": value} for key, value in merged.items()])
    return [{"key": key, "value": value} for key, value in merged.items()]


def remove_tags(current: list[Json], keys: list[str]) -> list[Json]:
    return [tag for tag in current if tag["key"] not in keys]
