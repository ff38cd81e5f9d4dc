"""maxResults / nextToken paging for every list call, within AWS's limits."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

from reconciler.emulator.ecs.errors import invalid_parameter

Item = TypeVar("Item")

# Every ECS list call accepts between 1 and 100 results per page.
MAX_PAGE_SIZE = 100


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise invalid_parameter("Invalid nextToken.") from e
    prefix, _, offset = text.partition(":")
    if prefix != "offset" or not offset.isdigit():
        raise invalid_parameter("Invalid nextToken.")
    return int(offset)


def paginate(
    items: Sequence[Item], params: dict[str, Any], default_size: int
) -> tuple[list[Item], str | None]:
    """One page of ``items`` and the token of the next page, if there is one."""
    size = params.get("maxResults", default_size)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid_parameter(f"maxResults must be between 1 and {MAX_PAGE_SIZE}.")
    start = decode_token(params["nextToken"]) if params.get("nextToken") else 0
    end = start + size
    token = encode_token(end) if end < len(items) else None
    return list(items[start:end]), token
