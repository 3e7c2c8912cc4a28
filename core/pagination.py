"""Keyset pagination: opaque cursors (URL-safe base64 of a JSON value) and one page query for every list.

Every list route answers `{"data": [...], "next_cursor": str | null}`; passing `next_cursor` back as
`cursor` gives the next page. A cursor this API did not hand out is a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.params import INT32_MAX
from core.storable import has_unstorable, json_depth

MAX_CURSOR_DEPTH = 4  # cursors this API hands out are flat lists

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    data: list[T]
    next_cursor: str | None = None


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


def decode_keyset(cursor: str, column: Any) -> tuple[Any, uuid.UUID]:
    """`[sort value, id]` of the previous page's last row, the value typed like `column`.

    An aware ISO time for time columns, an int32 for integer columns, a finite number for float columns;
    anything else is a 422 naming `cursor` (never a database error).
    """
    value = decode_cursor(cursor)
    key_type = column.type.python_type
    try:
        key, row_id = value
        if key_type is datetime:
            key = datetime.fromisoformat(key)
            if key.tzinfo is None:
                raise ValueError
        elif key_type is int:
            if type(key) is not int or not -INT32_MAX - 1 <= key <= INT32_MAX:
                raise ValueError
        elif type(key) not in (int, float) or not math.isfinite(key):
            raise ValueError
        return key, uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError):
        raise Invalid("The cursor is not one this API returned", field="cursor") from None


async def keyset_page(
    session: AsyncSession,
    query: sa.Select,
    order_by: Any,
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> tuple[list[Any], str | None]:
    """Rows of `query` after the cursor in the order (`order_by`, `id_column`), at most `limit` of them."""
    if cursor:
        key = decode_keyset(cursor, order_by)
        row_key = sa.tuple_(order_by, id_column)
        query = query.where(row_key < sa.tuple_(*key) if descending else row_key > sa.tuple_(*key))
    direction = sa.desc if descending else sa.asc
    rows = list(
        await session.scalars(query.order_by(direction(order_by), direction(id_column)).limit(limit + 1))
    )
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    key = getattr(last, order_by.key)
    return rows[:limit], encode_cursor([key.isoformat() if isinstance(key, datetime) else key, str(last.id)])
