"""Keeping a tool's own credentials out of what its call returns (docs/tools-safety.md, "Credentials in
responses").

An API may echo the request it got (a debugging endpoint, an error saying "invalid key sk-..."), and an MCP
tool may return the headers it was called with. What a call returns reaches the model, which any user can
steer into repeating it, and `/v1/responses` shows it in its call items; so before that, each credential the
call was sent with is replaced by `REDACTED`, as it was sent and in the forms an echo writes it in (percent-
or form-encoded, JSON-escaped, and a basic pair base64-encoded).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from tools.definitions import ActionAuth, McpServerTool

REDACTED = "[credential removed]"
# A credential shorter than this is not looked for: replacing every "ab" of a response would garble it, and
# such a value guards nothing (the write-time checks of docs/tools.md show no characters of one under 8).
MIN_CHARS = 4
AUTH_SCHEMES = ("bearer ", "basic ")


def action_credentials(auth: ActionAuth, sent: Iterable[str] = ()) -> set[str]:
    """The credentials of an action's calls: its secret, the basic pair as sent, and `sent` (values the call
    carried in its credential headers and query parameters, such as an OAuth access token)."""
    values = set(sent)
    if auth.secret:
        values.add(auth.secret)
    if auth.type == "basic" and (auth.username or auth.secret):
        values.add(base64.b64encode(f"{auth.username or ''}:{auth.secret or ''}".encode()).decode())
    return values


def mcp_credentials(server: McpServerTool) -> set[str]:
    """An MCP server's header values (the bearer token with and without its scheme)."""
    return {value for value in server.headers.values() if value}


def credential_values(values: Iterable[str]) -> set[str]:
    """`values` with the token of each `Bearer <token>` / `Basic <token>` value too."""
    found: set[str] = set()
    for value in values:
        found.add(value)
        for scheme in AUTH_SCHEMES:
            if value.lower().startswith(scheme):
                found.add(value[len(scheme) :].strip())
    return found


def redact(text: str, credentials: Iterable[str], *, cut: bool = False) -> str:
    """`text` with every credential of at least `MIN_CHARS` characters, in every form of `_forms`, replaced
    by `REDACTED` (case-sensitively: credentials are). `cut`: the text was cut short, so it may end with the
    start of one (at least `MIN_CHARS` characters of it), which goes too."""
    forms = {
        form for value in credential_values(credentials) if len(value) >= MIN_CHARS for form in _forms(value)
    }
    if not forms or not text:
        return text
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
    text = pattern.sub(REDACTED, text)
    if cut:
        for form in forms:
            start = next((k for k in range(len(form) - 1, MIN_CHARS - 1, -1) if text.endswith(form[:k])), 0)
            if start:
                return text[:-start] + REDACTED
    return text


def _forms(value: str) -> set[str]:
    """How an echo may write `value`: as is, in a URL (percent- or form-encoded) and inside a JSON string."""
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
