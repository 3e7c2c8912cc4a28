"""Opaque cursors for keyset pagination: URL-safe base64 of a JSON value."""

from __future__ import annotations

import base64
import json
from typing import Any

from core.errors import Invalid


def encode_cursor(value: Any) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(value, default=str, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str) -> Any:
    """The value behind a cursor; a 422 naming `cursor` for anything this API did not hand out."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise Invalid("The cursor is not one this API returned", field="cursor") from None
