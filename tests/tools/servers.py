"""Local servers that GPT tools call in tests, on 127.0.0.1 (uvicorn threads like tests/fake_openai.py); the
servers live in local_api.py and local_mcp.py, this module is where tests import them from.

    with TripsApi() as api, LocalMcpServer() as mcp:
        definitions = tool_definitions(api, mcp)  # ToolDefinitions pointing at both
        toolset = Toolset(definitions, loopback_settings(settings))  # 127.0.0.1 allowed
        assert api.requests[-1].headers["x-api-key"] == API_KEY

`TripsApi` is a small trips API described by tests/data/tools/trips.openapi.yaml. Besides the documented
operations it has endpoints that misbehave (`/slow`, `/big`, `/redirect`, `/metadata`) for the execution
limits and the SSRF rules; `/echo` answers with what arrived (headers, query, cookies, body) so a test can see
exactly what a call sent. Every request is recorded in `requests`.

`LocalMcpServer` is an MCP server (the `mcp` SDK's `MCPServer`, streamable HTTP at `/mcp`) with the tools
`add`, `weather`, `echo_headers` and `fail`.

Fixtures for other test directories, in a conftest.py:
    from tests.tools.servers import mcp_server, tools_api, tools_settings, trips_api_server  # noqa: F401
`tools_api` is the TripsApi (reset per test), `mcp_server` a LocalMcpServer requiring `MCP_TOKEN` (which
`mcp_server_tool` sends), `tools_settings` the `settings` fixture with 127.0.0.1 allowed.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.settings import Settings
from tests.tools.local_api import (  # noqa: F401 (re-exported for tests elsewhere)
    API_KEY,
    BASIC_PASSWORD,
    BASIC_USERNAME,
    BEARER_TOKEN,
    BIG_RESPONSE_BYTES,
    CLIENT_ID,
    CLIENT_SECRET,
    MCP_TOKEN,
    OPENAPI_DOCUMENT,
    RecordedRequest,
    TripsApi,
)
from tests.tools.local_mcp import LocalMcpServer
from tools.definitions import (
    ActionAuth,
    ActionTool,
    McpServerTool,
    McpToolSpec,
    Operation,
    ToolDefinitions,
)

# -- ToolDefinitions pointing at the servers ------------------------------------------------------------


def trips_operations() -> tuple[Operation, ...]:
    """The operations of trips.openapi.yaml as the configuration side would derive them."""
    return (
        Operation(
            name="listTrips",
            method="GET",
            path="/trips",
            description="List planned trips, optionally only those to one destination.",
            parameters={
                "type": "object",
                "properties": {
                    "destination": {"type": "string", "description": "Only trips to this city"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                },
            },
            locations={"destination": "query", "limit": "query"},
            consequential=False,
        ),
        Operation(
            name="getTrip",
            method="GET",
            path="/trips/{trip_id}",
            description="One trip by id.",
            parameters={
                "type": "object",
                "properties": {"trip_id": {"type": "string"}},
                "required": ["trip_id"],
            },
            locations={"trip_id": "path"},
            consequential=False,
        ),
        Operation(
            name="createTrip",
            method="POST",
            path="/trips",
            description="Plan a new trip.",
            parameters={
                "type": "object",
                "properties": {
                    "body": {
                        "type": "object",
                        "properties": {"destination": {"type": "string"}, "days": {"type": "integer"}},
                        "required": ["destination"],
                    }
                },
                "required": ["body"],
            },
            locations={"body": "body"},
            consequential=True,
        ),
        Operation(
            name="echo",
            method="POST",
            path="/echo",
            description="Echo what arrived.",
            parameters={
                "type": "object",
                "properties": {
                    "q": {"type": "string"},
                    "X-Trace": {"type": "string"},
                    "session": {"type": "string"},
                    "body": {"type": "object"},
                },
            },
            locations={"q": "query", "X-Trace": "header", "session": "cookie", "body": "body"},
            consequential=False,
        ),
        Operation(
            name="secureTrips",
            method="GET",
            path="/secure/trips",
            description="Trips, only with credentials.",
            parameters={"type": "object", "properties": {}},
            locations={},
            consequential=False,
        ),
        _plain("slow", "/slow", {"seconds": "query"}, {"seconds": {"type": "number"}}),
        _plain("big", "/big"),
        _plain("status", "/status/{code}", {"code": "path"}, {"code": {"type": "integer"}}),
        _plain("redirect", "/redirect", {"to": "query"}, {"to": {"type": "string"}}),
        _plain("redirectChain", "/redirect/chain/{n}", {"n": "path"}, {"n": {"type": "integer"}}),
        _plain("metadata", "/metadata"),
    )


def _plain(name: str, path: str, locations=None, properties=None) -> Operation:
    return Operation(
        name=name,
        method="GET",
        path=path,
        description=f"Test endpoint {path}.",
        parameters={"type": "object", "properties": properties or {}},
        locations=locations or {},
        consequential=False,
    )


def auth_for(kind: str, api: TripsApi | None = None) -> ActionAuth:
    """Working credentials of one auth type for `TripsApi` (`api` is needed for OAuth's token URL)."""
    if kind == "api_key_header":
        return ActionAuth(type="api_key", name="X-Api-Key", location="header", secret=API_KEY)
    if kind == "api_key_query":
        return ActionAuth(type="api_key", name="api_key", location="query", secret=API_KEY)
    if kind == "bearer":
        return ActionAuth(type="bearer", secret=BEARER_TOKEN)
    if kind == "basic":
        return ActionAuth(type="basic", username=BASIC_USERNAME, secret=BASIC_PASSWORD)
    if kind == "oauth":
        assert api is not None
        return ActionAuth(
            type="oauth_client_credentials",
            client_id=CLIENT_ID,
            token_url=f"{api.base_url}/oauth/token",
            scope="trips",
            secret=CLIENT_SECRET,
        )
    return ActionAuth()


def trips_action(
    api: TripsApi,
    *,
    auth: ActionAuth | None = None,
    user_id_header: str | None = None,
    redirect_hosts: tuple[str, ...] = (),
    server_url: str | None = None,
) -> ActionTool:
    url = server_url or api.base_url
    return ActionTool(
        id=uuid.uuid5(uuid.NAMESPACE_URL, url),
        server_url=url,
        domain=urlsplit(url).hostname or "",
        auth=auth or ActionAuth(),
        operations=trips_operations(),
        privacy_policy_url=f"{api.base_url}/privacy",
        redirect_hosts=redirect_hosts,
        user_id_header=user_id_header,
    )


def mcp_server_tool(
    server: LocalMcpServer,
    *,
    headers: dict[str, str] | None = None,
    require_approval: tuple[str, ...] = ("weather",),
    tools: tuple[str, ...] = ("add", "weather", "echo_headers", "fail"),
) -> McpServerTool:
    specs = {
        "add": McpToolSpec(
            "add",
            "Add two integers and return the sum.",
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        ),
        "weather": McpToolSpec(
            "weather",
            "Today's weather in a city.",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
        "echo_headers": McpToolSpec(
            "echo_headers", "Return the HTTP headers this call arrived with.", {"type": "object"}
        ),
        "fail": McpToolSpec(
            "fail",
            "Always fails with the given reason.",
            {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
        ),
    }
    if headers is None and server.token:
        headers = {"Authorization": f"Bearer {server.token}"}
    return McpServerTool(
        id=uuid.uuid5(uuid.NAMESPACE_URL, server.url),
        server_label="local",
        server_url=server.url,
        domain=server.host,
        headers=headers or {},
        tools=tuple(specs[name] for name in tools),
        require_approval=require_approval,
    )


def tool_definitions(
    api: TripsApi | None = None, mcp: LocalMcpServer | None = None, **action_options: Any
) -> ToolDefinitions:
    """ToolDefinitions with the trips action (no auth unless `auth=` is given) and/or the MCP server."""
    return ToolDefinitions(
        actions=(trips_action(api, **action_options),) if api else (),
        mcp_servers=(mcp_server_tool(mcp),) if mcp else (),
    )


def loopback_settings(settings: Settings) -> Settings:
    """`settings` allowing calls to 127.0.0.1 (the test servers) through GPTSTORE_ACTIONS_ALLOWED_HOSTS."""
    return settings.model_copy(update={"actions_allowed_hosts": ["127.0.0.1"]})


# -- fixtures (import them into a conftest.py to use them elsewhere) --------------------------------------


@pytest.fixture(scope="session")
def trips_api_server():
    with TripsApi() as api:
        yield api


@pytest.fixture
def tools_api(trips_api_server: TripsApi) -> TripsApi:
    trips_api_server.reset()
    return trips_api_server


@pytest.fixture(scope="session")
def mcp_server():
    with LocalMcpServer(token=MCP_TOKEN) as server:
        yield server


@pytest.fixture
def tools_settings(settings: Settings) -> Settings:
    return loopback_settings(settings)
