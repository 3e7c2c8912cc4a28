"""What saving a tool fetches: an OpenAPI document from a URL and the tool list of an MCP server.

Both go through the execution side's network code, so configuration obeys the same rules as calls: the
SSRF-safe fetch of `tools.fetch` and the MCP client of `tools.mcp_client` (docs/tools-safety.md).
"""

from __future__ import annotations

import json
import math
from typing import Any

from core.errors import Invalid
from core.settings import Settings
from core.storable import has_unstorable, storable, unstorable_message
from tools import fetch, mcp_client, net
from tools.openapi_actions import LIMITS


async def fetch_document(url: str, settings: Settings) -> str:
    """The text at `url` (an OpenAPI document, UTF-8); 422 naming `import_url` when it cannot be fetched
    (refused address, failed request, not 2xx, larger than `actions_max_document_bytes`) or is not text."""
    try:
        content = await fetch.fetch_document(settings, url)
    except net.ToolNetworkError as exc:
        raise Invalid(f"The document could not be fetched: {exc}", field="import_url") from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The document at import_url is not UTF-8 text", field="import_url") from None
    if has_unstorable(text):
        raise Invalid(f"The document at import_url {unstorable_message(text)}", field="import_url")
    return text


async def list_mcp_tools(url: str, headers: dict[str, str], settings: Settings) -> list[dict[str, Any]]:
    """The server's tools as `{name, description, input_schema}`; 422 naming `server_url` when the server
    is refused, cannot be reached or does not list its tools."""
    try:
        specs = await mcp_client.list_tools(settings, url, headers)
    except net.ToolNetworkError as exc:
        raise Invalid(f"The MCP server's tools could not be listed: {exc}", field="server_url") from None
    limit = LIMITS["max_mcp_tools_listed"]
    if len(specs) > limit:
        raise Invalid(
            f"The MCP server lists {len(specs)} tools; at most {limit} are taken", field="server_url"
        )
    tools = [
        {"name": s.name, "description": s.description, "input_schema": _storable(s.input_schema)}
        for s in specs
    ]
    if len(json.dumps(tools)) > LIMITS["max_mcp_listing_chars"]:
        limit = LIMITS["max_mcp_listing_chars"]
        raise Invalid(f"The MCP server's tool list is longer than {limit:,} characters", field="server_url")
    return _storable(tools)


def _storable(value: Any) -> Any:
    """Server output as PostgreSQL can keep it: U+0000 and lone surrogates removed (as from parsed files),
    and numbers that are not finite (the SDK reads `Infinity` and `NaN`; JSON has neither) left out: a
    keyword such as `maximum: Infinity` bounds nothing, and in a list it becomes null."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): _storable(v) for k, v in value.items() if not _non_finite(v)}
    if isinstance(value, list):
        return [None if _non_finite(v) else _storable(v) for v in value]
    return None if _non_finite(value) else value


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
