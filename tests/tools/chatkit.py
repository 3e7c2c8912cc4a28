"""What the chat-path tool tests share: an app with the scripted LLM that may call the local test servers,
a GPT whose action is the trips API (and MCP server), and SSE parsing.

Its fixtures are imported by tests/tools/conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.asgi import app_client_for
from tests.tools.servers import MCP_TOKEN, OPENAPI_DOCUMENT, LocalMcpServer, TripsApi, loopback_settings


@pytest.fixture
def tool_settings(llm_settings: Settings) -> Settings:
    """The scripted LLM, and 127.0.0.1 allowed as an action host (the local test servers)."""
    return loopback_settings(llm_settings)


@pytest.fixture
async def tool_client(tool_settings: Settings, db, redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client_for(tool_settings, db=db, redis=redis) as client:
        yield client


async def create_tool_gpt(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    api: TripsApi | None = None,
    mcp: LocalMcpServer | None = None,
    **mcp_fields: Any,
) -> str:
    """A draft with the trips API as an action (`createTrip` consequential, as every POST) and/or the local
    MCP server (only its `weather` tool needing approval), configured through the API."""
    created = await client.post(
        "/api/gpts", json={"name": "Trip Planner", "instructions": "Plan trips."}, headers=headers
    )
    assert created.status_code == 201, created.text
    gpt_id = created.json()["id"]
    if api is not None:
        action = await client.post(
            f"/api/gpts/{gpt_id}/actions",
            json={
                "document": OPENAPI_DOCUMENT.read_text(),
                "server_url": api.base_url,
                "privacy_policy_url": "https://trips.example.com/privacy",
            },
            headers=headers,
        )
        assert action.status_code == 201, action.text
    if mcp is not None:
        body = {
            "server_label": "local",
            "server_url": mcp.url,
            "authorization": MCP_TOKEN,
            "require_approval": {"never": {"tool_names": ["add", "echo_headers", "fail"]}},
            **mcp_fields,
        }
        server = await client.post(f"/api/gpts/{gpt_id}/mcp_servers", json=body, headers=headers)
        assert server.status_code == 201, server.text
    return gpt_id


async def publish_and_start(client: httpx.AsyncClient, headers: dict[str, str], gpt_id: str) -> str:
    """Publish the draft by link and start a conversation with it; the conversation's id."""
    published = await client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "link"}, headers=headers)
    assert published.status_code in (200, 201), published.text
    started = await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=headers)
    assert started.status_code == 201, started.text
    return started.json()["id"]


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The `tool` messages of one chat request the scripted LLM received."""
    return [m for m in request["messages"] if m["role"] == "tool"]
