"""Shared path and query parameter types: every integer has a range, every cursor a shape.

Handlers take these instead of bare `int`/`str`, so a value outside what the database column or the page
size allows is a 422 naming the parameter before any query runs (never an `OverflowError` 500).
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from core.patterns import readable

INT32_MAX = 2**31 - 1  # PostgreSQL `integer` columns (version numbers) hold no more
PAGE_LIMIT_MAX = 100
CURSOR_MAX_LENGTH = 500
# URL-safe base64 without padding (cursors: core.pagination; invitation tokens); a value of another form is
# told the rule, not the pattern (core.errors).
URL_SAFE = readable(r"^[A-Za-z0-9_-]+$", "may hold only letters, digits, '-' and '_'")
CURSOR_PATTERN = URL_SAFE

VersionNumber = Annotated[
    int, Parameter(ge=1, le=INT32_MAX, description="A version number of the GPT: 1, 2, ...")
]
Limit = Annotated[int, Parameter(ge=1, le=PAGE_LIMIT_MAX, description=f"Items per page, 1-{PAGE_LIMIT_MAX}")]
Cursor = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=CURSOR_MAX_LENGTH,
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page; omit for the first page",
    ),
]
