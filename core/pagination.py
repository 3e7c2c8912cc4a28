"""Opaque cursors for keyset pagination: URL-safe base64 of a JSON value."""

from __future__ import annotations

import base64
import json
from typing import Any

from core.errors import Invalid
from core.guard import has_unstorable, json_depth

MAX_CURSOR_DEPTH = 4  # cursors this API hands out are flat lists


def encode_cursor(value: Any) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(value, default=str, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str) -> Any:
    """The value behind a cursor; a 422 naming `cursor` for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if json_depth(raw) > MAX_CURSOR_DEPTH:  # deep nesting would exhaust the decoder's recursion
            raise ValueError("too deep")
        value = json.loads(raw)
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise Invalid("The cursor is not one this API returned", field="cursor") from None
    if not _storable(value):
        raise Invalid("The cursor is not one this API returned", field="cursor")
    return value


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        return not has_unstorable(value)
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True
