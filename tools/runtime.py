"""Running a GPT's tools (`Toolset`): the functions offered to the model and the calls it makes.

Owned by the execution work (SSRF-safe HTTP in `tools.net`, actions, the MCP client); the chat loop
(`retrieval.answer`) uses only this interface.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx2

from core.llm import ToolCall
from core.settings import Settings
from tools import actions, mcp_client, net, redact
from tools.definitions import ActionTool, McpServerTool, McpToolSpec, Operation, ToolDefinitions
from tools.openapi_actions import LIMITS

logger = logging.getLogger(__name__)


@dataclass
class ToolOutput:
    """One finished call. `content` is what the model reads as the tool message: the response (capped at
    100 KB with a note) or the error text; it is untrusted data, never instructions."""

    call_id: str
    name: str
    content: str
    status: Literal["completed", "failed"]
    duration_ms: int
    domain: str


class Toolset:
    """The functions of one GPT for one turn. `call` never raises for a tool's own failure: an error is a
    `ToolOutput` with status `failed` whose content tells the model what went wrong."""

    def __init__(self, definitions: ToolDefinitions, settings: Settings, *, user_ref: str | None = None):
        self.definitions = definitions
        self.settings = settings
        self.user_ref = user_ref  # opaque per-user id (only sent where the creator turned it on)
        self._operations: dict[str, tuple[ActionTool, Operation]] = {}
        self._mcp_tools: dict[str, tuple[McpServerTool, McpToolSpec]] = {}
        for action in definitions.actions:
            for operation in action.operations:
                self._operations.setdefault(operation.name, (action, operation))
        for server in definitions.mcp_servers:
            for spec in server.tools:
                if spec.name not in self._operations:
                    self._mcp_tools.setdefault(spec.name, (server, spec))
        self._client: httpx2.AsyncClient | None = None

    def functions(self) -> list[dict[str, Any]]:
        """Chat Completions `tools` entries (`{"type": "function", "function": {name, description,
        parameters}}`) for every operation and enabled MCP tool."""
        entries = [
            _function(name, operation.description, operation.parameters)
            for name, (_, operation) in self._operations.items()
        ]
        entries += [
            _function(name, spec.description, spec.input_schema)
            for name, (_, spec) in self._mcp_tools.items()
        ]
        return entries

    def requires_approval(self, name: str) -> bool:
        """True for a consequential operation or an MCP tool in its server's `require_approval`."""
        if name in self._operations:
            return self._operations[name][1].consequential
        if name in self._mcp_tools:
            return name in self._mcp_tools[name][0].require_approval
        return False

    def domain(self, name: str) -> str:
        """The host a function calls, shown to the user (and in approval requests); "" for an unknown name."""
        if name in self._operations:
            return self._operations[name][0].domain
        if name in self._mcp_tools:
            return self._mcp_tools[name][0].domain
        return ""

    def grant_target(self, name: str) -> str:
        """What an approval for good of `name` holds for (`tools.approvals`): the operation's method and URL
        template (`POST https://api.example.com/trips/{trip_id}`), or `MCP`, the server's URL and the tool's
        name; "" for an unknown name."""
        if name in self._operations:
            action, operation = self._operations[name]
            return f"{operation.method} {action.server_url.rstrip('/')}{operation.path}"
        if name in self._mcp_tools:
            server, spec = self._mcp_tools[name]
            return f"MCP {server.server_url} {spec.name}"
        return ""

    async def call(self, call: ToolCall) -> ToolOutput:
        """Run one call (5 s connect, 30 s total; SSRF rules of docs/tools-safety.md). The content is capped
        at `actions_max_response_bytes` with a note; every failure (unknown function, bad arguments, refused
        address, timeout, HTTP error status, MCP `isError`) is status `failed` with the reason as content."""
        started = time.monotonic()
        domain = self.domain(call.name)
        try:
            content, ok = await self._run(call)
        except net.ToolNetworkError as exc:
            content, ok = f"Error: {exc}", False
        except Exception:  # a bug of ours must not end the turn; the model hears that the call failed
            logger.exception("tool call failed", extra={"tool": call.name, "domain": domain})
            content, ok = "Error: the tool call failed inside gptstore", False
        content = redact.redact(content, self._credentials(call.name))
        output = ToolOutput(
            call_id=call.id,
            name=call.name,
            content=_cap(content, self.settings.actions_max_response_bytes),
            status="completed" if ok else "failed",
            duration_ms=int((time.monotonic() - started) * 1000),
            domain=domain,
        )
        # Name, host, outcome and time only: arguments and responses may hold personal data.
        logger.info(
            "tool call",
            extra={
                "tool": call.name,
                "domain": domain,
                "status": output.status,
                "duration_ms": output.duration_ms,
            },
        )
        return output

    def _credentials(self, name: str) -> set[str]:
        """The credentials a call of `name` is sent with, kept out of its output (`tools.redact`)."""
        if name in self._operations:
            return redact.action_credentials(self._operations[name][0].auth)
        if name in self._mcp_tools:
            return redact.mcp_credentials(self._mcp_tools[name][0])
        return set()

    async def _run(self, call: ToolCall) -> tuple[str, bool]:
        if call.name not in self._operations and call.name not in self._mcp_tools:
            return f"Error: no function named {call.name!r}", False
        try:
            arguments = call.parsed_arguments()
        except ValueError as exc:
            return f"Error: the arguments are not a JSON object ({exc})", False
        seconds = self.settings.actions_timeout_seconds
        try:
            with anyio.fail_after(seconds):
                if call.name in self._operations:
                    action, operation = self._operations[call.name]
                    client = self._http()
                    text, ok = await actions.call_operation(
                        client, self.settings, action, operation, arguments, user_ref=self.user_ref
                    )
                    return text if ok else f"Error: {text}", ok
                server, _ = self._mcp_tools[call.name]
                text, is_error = await mcp_client.call_tool(
                    self.settings, server.server_url, server.headers, call.name, arguments
                )
                return (f"Error: {text}" if is_error else text), not is_error
        except TimeoutError:
            return f"Error: timed out: no answer within {seconds:g} s", False

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = net.guarded_client(self.settings)
        return self._client

    async def aclose(self) -> None:
        """Release connections (HTTP clients, MCP sessions)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """One Chat Completions function; the description cut at `max_description_chars` (tools/data/limits.toml),
    which an MCP server's listing does not keep to."""
    description = (description or "")[: LIMITS["max_description_chars"]]
    schema = dict(parameters or {})
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


def _cap(content: str, limit: int) -> str:
    """`content` within `limit` UTF-8 bytes; a longer one is cut with a note (it already has one if the
    response was cut while reading)."""
    data = content.encode()
    if len(data) <= limit or content.endswith(actions.cut_note(limit)):
        return content
    return data[:limit].decode("utf-8", "ignore") + actions.cut_note(limit)
