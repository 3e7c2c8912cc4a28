"""Local servers that GPT tools call in tests, on 127.0.0.1 (uvicorn threads like tests/fake_openai.py).

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

import asyncio
import base64
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from core.settings import Settings
from tools.definitions import (
    ActionAuth,
    ActionTool,
    McpServerTool,
    McpToolSpec,
    Operation,
    ToolDefinitions,
)

OPENAPI_DOCUMENT = Path(__file__).resolve().parents[1] / "data" / "tools" / "trips.openapi.yaml"
API_KEY = "test-api-key-7f3a"
BEARER_TOKEN = "test-bearer-token-91c2"
BASIC_USERNAME = "trips-user"
BASIC_PASSWORD = "test-basic-password-55d1"
CLIENT_ID = "trips-client"
CLIENT_SECRET = "test-client-secret-a8e4"
MCP_TOKEN = "test-mcp-token-3b9d"
BIG_RESPONSE_BYTES = 300 * 1024


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    cookies: dict[str, str]
    body: bytes


@dataclass
class _Trips:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        self.items = {
            "t1": {"id": "t1", "destination": "Lisbon", "days": 4},
            "t2": {"id": "t2", "destination": "Kyoto", "days": 9},
        }


class _UvicornThread:
    """One ASGI app on 127.0.0.1 at a free port, in a daemon thread."""

    name = "local-server"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> Any:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TripsApi(_UvicornThread):
    """The local HTTP API. Auth is checked per route prefix: `/trips` accepts any auth (and records it),
    `/secure/*` answers 401 unless one of the test credentials arrived."""

    name = "trips-api"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self.token_lifetime_seconds = 3600
        self._trips = _Trips()
        self._trips.reset()

    def reset(self) -> None:
        self.requests.clear()
        self.token_requests.clear()
        self.issued_tokens.clear()
        self.token_lifetime_seconds = 3600
        self._trips.reset()

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    def auth_seen(self, request: RecordedRequest) -> str | None:
        """Which test credential a request carried: api_key_header, api_key_query, bearer, basic, oauth."""
        authorization = request.headers.get("authorization", "")
        if request.headers.get("x-api-key") == API_KEY:
            return "api_key_header"
        if request.query.get("api_key") == API_KEY:
            return "api_key_query"
        if authorization == f"Bearer {BEARER_TOKEN}":
            return "bearer"
        if authorization.startswith("Bearer ") and authorization[7:] in self.issued_tokens:
            return "oauth"
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            if decoded == f"{BASIC_USERNAME}:{BASIC_PASSWORD}":
                return "basic"
        return None

    def app(self) -> Starlette:
        async def record(request: Request, into: list[RecordedRequest] | None = None) -> RecordedRequest:
            recorded = RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                query=dict(request.query_params),
                cookies=dict(request.cookies),
                body=await request.body(),
            )
            (self.requests if into is None else into).append(recorded)
            return recorded

        async def list_trips(request: Request) -> Response:
            recorded = await record(request)
            items = list(self._trips.items.values())
            if destination := request.query_params.get("destination"):
                items = [t for t in items if t["destination"].lower() == destination.lower()]
            limit = int(request.query_params.get("limit", 50))
            return JSONResponse({"trips": items[:limit], "auth": self.auth_seen(recorded)})

        async def create_trip(request: Request) -> Response:
            recorded = await record(request)
            body = await request.json()
            if not isinstance(body, dict) or "destination" not in body:
                return JSONResponse({"error": "destination is required"}, status_code=422)
            trip = {"id": f"t{len(self._trips.items) + 1}", "destination": body["destination"]}
            trip["days"] = body.get("days", 1)
            self._trips.items[trip["id"]] = trip
            return JSONResponse({**trip, "auth": self.auth_seen(recorded)}, status_code=201)

        async def get_trip(request: Request) -> Response:
            recorded = await record(request)
            trip = self._trips.items.get(request.path_params["trip_id"])
            if trip is None:
                return JSONResponse({"error": "no such trip"}, status_code=404)
            return JSONResponse({**trip, "auth": self.auth_seen(recorded)})

        async def secure(request: Request) -> Response:
            recorded = await record(request)
            seen = self.auth_seen(recorded)
            if seen is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return JSONResponse({"auth": seen})

        async def echo(request: Request) -> Response:
            recorded = await record(request)
            return JSONResponse(
                {
                    "method": recorded.method,
                    "headers": recorded.headers,
                    "query": recorded.query,
                    "cookies": recorded.cookies,
                    "body": recorded.body.decode("utf-8", "replace"),
                }
            )

        async def token(request: Request) -> Response:
            recorded = await record(request, self.token_requests)
            form = await request.form()
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            authorization = recorded.headers.get("authorization", "")
            if authorization.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = f"oauth-{uuid.uuid4().hex}"
            self.issued_tokens.append(issued)
            return JSONResponse(
                {"access_token": issued, "token_type": "Bearer", "expires_in": self.token_lifetime_seconds}
            )

        async def slow(request: Request) -> Response:
            await record(request)
            await asyncio.sleep(float(request.query_params.get("seconds", "5")))
            return JSONResponse({"slow": True})

        async def big(request: Request) -> Response:
            await record(request)
            return PlainTextResponse("x" * BIG_RESPONSE_BYTES)

        async def status(request: Request) -> Response:
            await record(request)
            code = int(request.path_params["code"])
            return JSONResponse({"error": f"status {code}"}, status_code=code)

        async def redirect(request: Request) -> Response:
            await record(request)
            return RedirectResponse(request.query_params["to"], status_code=302)

        async def redirect_chain(request: Request) -> Response:
            await record(request)
            n = int(request.path_params["n"])
            return RedirectResponse("/trips" if n <= 0 else f"/redirect/chain/{n - 1}", status_code=302)

        async def metadata(request: Request) -> Response:
            await record(request)
            return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

        async def openapi(request: Request) -> Response:
            text = OPENAPI_DOCUMENT.read_text().replace("http://127.0.0.1:0", self.base_url)
            return Response(text, media_type="application/yaml")

        return Starlette(
            routes=[
                Route("/trips", list_trips, methods=["GET"]),
                Route("/trips", create_trip, methods=["POST"]),
                Route("/trips/{trip_id}", get_trip, methods=["GET"]),
                Route("/secure/trips", secure, methods=["GET"]),
                Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/oauth/token", token, methods=["POST"]),
                Route("/slow", slow, methods=["GET"]),
                Route("/big", big, methods=["GET"]),
                Route("/status/{code:int}", status, methods=["GET", "POST"]),
                Route("/redirect", redirect, methods=["GET"]),
                Route("/redirect/chain/{n:int}", redirect_chain, methods=["GET"]),
                Route("/metadata", metadata, methods=["GET"]),
                Route("/openapi.yaml", openapi, methods=["GET"]),
            ]
        )


class LocalMcpServer(_UvicornThread):
    """The local MCP server; with `token` set, requests without `Authorization: Bearer <token>` get 401."""

    name = "local-mcp"

    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.headers_seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    def app(self) -> Any:
        server = MCPServer("gptstore-test")

        @server.tool(description="Add two integers and return the sum.")
        def add(a: int, b: int) -> str:
            self.calls.append(("add", {"a": a, "b": b}))
            return str(a + b)

        @server.tool(description="Today's weather in a city.")
        def weather(city: str) -> str:
            self.calls.append(("weather", {"city": city}))
            return f"Sunny in {city}, 21 °C"

        @server.tool(description="Return the HTTP headers this call arrived with, as lines.")
        def echo_headers(ctx: Context) -> str:
            headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
            self.calls.append(("echo_headers", {}))
            return "\n".join(f"{k}: {v}" for k, v in sorted(headers.items()))

        @server.tool(description="Always fails with the given reason.")
        def fail(reason: str) -> str:
            self.calls.append(("fail", {"reason": reason}))
            raise ToolError(reason)

        app = server.streamable_http_app()
        if self.token is None:
            return app
        expected = f"Bearer {self.token}"

        async def guarded(scope, receive, send):
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                self.headers_seen.append(headers)
                if headers.get("authorization") != expected:
                    await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                    return
            await app(scope, receive, send)

        return guarded


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
