"""The configuration snippets a GPT page shows for common MCP clients (`data/mcp_clients.toml`)."""

from __future__ import annotations

import re
import tomllib
import uuid
from functools import cache
from importlib import resources
from typing import Any

from store.schemas import McpAccess, McpClientConfig

MCP_PATH = "/mcp/gpts/{gpt_id}"  # where store.mcp_server serves each GPT


@cache
def _clients() -> list[dict[str, Any]]:
    text = resources.files("store").joinpath("data", "mcp_clients.toml").read_text()
    return tomllib.loads(text)["client"]


def server_key(name: str) -> str:
    """The GPT's name as a server key in a client's configuration: lowercase words joined by `-`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "gpt"


def mcp_access(base_url: str, gpt_id: uuid.UUID, name: str) -> McpAccess:
    """The GPT's MCP server URL on this site (`base_url`: the request's) and each client's snippet."""
    url = base_url.rstrip("/") + MCP_PATH.format(gpt_id=gpt_id)
    key = server_key(name)
    return McpAccess(
        url=url,
        clients=[
            McpClientConfig(
                client=c["name"],
                where=c["where"],
                snippet=c["snippet"].replace("{server}", key).replace("{url}", url),
            )
            for c in _clients()
        ],
    )
