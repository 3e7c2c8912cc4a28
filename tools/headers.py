"""What a tool may put in an HTTP header: names (`RESERVED_HEADERS`, tools/data/headers.toml) and values.

One list and one rule for every place a header comes from: an operation's header parameters, an action's
API-key header and secret, an MCP server's `headers` and `authorization`, an OAuth token, and, as a last
check before anything is sent, `tools.net` itself (docs/tools-safety.md).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Annotated

from pydantic import AfterValidator

RESERVED_HEADERS: frozenset[str] = frozenset(
    tomllib.loads(resources.files("tools").joinpath("data/headers.toml").read_text())["reserved"]
)


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP header value (a sentence without the value), or None.

    A header value is visible ASCII with inner spaces or tabs: CR and LF would end the header (and begin
    another), other control characters are refused by the HTTP layer, and httpx encodes values as ASCII.
    """
    if "\r" in value or "\n" in value:
        return "contains a line break"
    if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in value):
        return "contains a control character"
    if not value.isascii():
        return "contains a character outside ASCII, which an HTTP header cannot carry"
    if value != value.strip(" \t"):
        return "begins or ends with whitespace"
    return None


def reserved_header_problem(name: str) -> str | None:
    """Why `name` may not be set by tool configuration (a reserved header), or None."""
    if name.lower() in RESERVED_HEADERS:
        return f"'{name}' is set by gptstore itself and cannot be configured"
    return None


def _value(value: str) -> str:
    value = value.strip()  # a pasted value often ends with a newline
    if problem := header_value_problem(value):
        raise ValueError(f"cannot be sent in an HTTP header: it {problem}")
    return value


# A configured header value: surrounding whitespace trimmed, then refused unless HTTP can carry it.
HeaderValue = Annotated[str, AfterValidator(_value)]


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set `name` in `headers`, replacing any header of that name in another case: header names are
    case-insensitive (RFC 9110, 5.1), so `x-api-key` and `X-Api-Key` would otherwise both be sent."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value
