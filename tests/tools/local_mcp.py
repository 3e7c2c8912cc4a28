"""The local MCP server for tool tests (the `mcp` SDK's `MCPServer`, streamable HTTP at `/mcp` on 127.0.0.1).
Use it through tests/tools/servers.py."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.responses import PlainTextResponse

from tests.tools.local_api import _UvicornThread


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
