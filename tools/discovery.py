"""What saving a tool fetches: an OpenAPI document from a URL and the tool list of an MCP server.

Both go through the execution side's network code, so configuration obeys the same rules as calls: the
SSRF-safe fetch of `tools.net` and the MCP client of `tools.mcp_client` (docs/tools-safety.md).
"""

from __future__ import annotations

from typing import Any

from core.errors import Invalid, ServiceUnavailable
from core.settings import Settings


async def fetch_document(url: str, settings: Settings) -> str:
    """The text at `url` (an OpenAPI document); 422 naming `import_url` when it cannot be fetched."""
    try:
        from tools import net
    except ImportError:
        raise ServiceUnavailable("Importing a document from a URL is not available in this build") from None
    try:
        return await net.fetch_text(url, settings)
    except net.FetchError as exc:
        raise Invalid(f"The document could not be fetched: {exc}", field="import_url") from None


async def list_mcp_tools(url: str, headers: dict[str, str], settings: Settings) -> list[dict[str, Any]]:
    """The server's tools as `{name, description, input_schema}`; 422 naming `server_url` when the server
    cannot be reached or listed."""
    try:
        from tools import mcp_client
    except ImportError:
        raise ServiceUnavailable("MCP servers cannot be listed in this build") from None
    try:
        specs = await mcp_client.list_tools(settings, url, headers)
    except mcp_client.McpError as exc:
        raise Invalid(f"The MCP server's tools could not be listed: {exc}", field="server_url") from None
    return [{"name": s.name, "description": s.description, "input_schema": s.input_schema} for s in specs]
