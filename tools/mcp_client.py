"""MCP client for GPT tools: list a streamable-HTTP server's tools and call them, with the official `mcp`
SDK over an `httpx2` client from `tools.net` (every connection checked by the SSRF rules, 5 s to connect,
`actions_timeout_seconds` in all).

Each call opens its own MCP session and closes it: a session holds an anyio task group that must be left
from the task that entered it, and a chat turn may run its calls from different tasks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from core.settings import Settings
from tools.definitions import McpToolSpec
from tools.net import ToolNetworkError, check_url, describe_failure, guarded_client, shown_url
from tools.redact import redact

MAX_ERROR_CHARS = 300  # of an SDK error's first line, in what the model and the creator read


class McpError(ToolNetworkError):
    """The server could not be reached, refused the session, or answered with a protocol error."""


async def list_tools(settings: Settings, server_url: str, headers: Mapping[str, str]) -> list[McpToolSpec]:
    """The tools a streamable-HTTP MCP server offers (every page of `tools/list`), as `McpToolSpec`s.
    Raises `McpError` (or `tools.net.RefusedRequest` for a refused URL) with a sentence saying why."""

    async def run(client: Client) -> list[McpToolSpec]:
        specs: list[McpToolSpec] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            specs.extend(
                McpToolSpec(name=t.name, description=t.description or "", input_schema=dict(t.input_schema))
                for t in page.tools
            )
            cursor = page.next_cursor
            if not cursor:
                return specs

    return await _with_client(settings, server_url, headers, run)


async def call_tool(
    settings: Settings, server_url: str, headers: Mapping[str, str], name: str, arguments: dict[str, Any]
) -> tuple[str, bool]:
    """Call tool `name`: its text content joined by newlines (structured content as JSON when it has no
    text) and whether it failed (`isError`). Raises `McpError` when the call could not be made."""

    async def run(client: Client) -> tuple[str, bool]:
        result = await client.call_tool(name, arguments)
        return _content_text(result), bool(result.is_error)

    return await _with_client(settings, server_url, headers, run)


def _content_text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and getattr(block.resource, "text", None) is not None:
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind or 'unknown'} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


async def _with_client(settings: Settings, server_url: str, headers: Mapping[str, str], run):
    check_url(settings, server_url)
    statuses: list[int] = []  # of every HTTP response: the SDK's own errors do not keep it

    async def remember(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    try:
        with anyio.fail_after(settings.actions_timeout_seconds):
            async with guarded_client(settings, headers=headers) as http:
                http.event_hooks["response"].append(remember)
                transport = streamable_http_client(server_url, http_client=http, terminate_on_close=True)
                async with Client(
                    transport, cache=None, read_timeout_seconds=settings.actions_timeout_seconds
                ) as c:
                    return await run(c)
    except TimeoutError:
        raise McpError(f"timed out: no answer within {settings.actions_timeout_seconds:g} s") from None
    except Exception as exc:  # the SDK raises many kinds, often grouped; the model gets one sentence
        cause = _first_cause(exc)
        if isinstance(cause, ToolNetworkError):
            raise cause from None
        if (why := _not_mcp(cause, statuses[-1] if statuses else None)) is not None:
            raise McpError(
                f"{shown_url(server_url)} did not answer as an MCP server ({why}); give the server's "
                "streamable-HTTP endpoint (often ending in /mcp)"
            ) from None
        status = statuses[-1] if statuses else None
        raise McpError(
            f"MCP server {shown_url(server_url)} failed: {describe_error(cause, headers, status)}"
        ) from None


def _first_cause(exc: BaseException) -> BaseException:
    """The most telling exception inside (possibly nested) exception groups: our own network errors first."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_first_cause(e) for e in exc.exceptions]
        for leaf in leaves:
            if isinstance(leaf, ToolNetworkError):
                return leaf
        return leaves[0] if leaves else exc
    if exc.__cause__ is not None and isinstance(_first_cause(exc.__cause__), ToolNetworkError):
        return _first_cause(exc.__cause__)
    return exc


def _not_mcp(exc: BaseException, status: int | None) -> str | None:
    """Why the answer was not an MCP server's, for the errors the SDK makes up itself when an answer is no
    JSON-RPC (a web page, another API's JSON, an HTTP 4xx); None for any other failure. 401 and 403 (an
    MCP server refusing the credentials is still one) and 5xx are said by `describe_error`."""
    if not isinstance(exc, MCPError) or status in (401, 403):
        return None
    message = exc.error.message or ""
    if message.startswith("Failed to parse JSON response"):
        return "its JSON is not a JSON-RPC message"
    if message.startswith("Unexpected content type:"):
        kind = message.removeprefix("Unexpected content type:").strip() or "no content type"
        return f"it answered {kind[:100]}, not JSON or an event stream"
    if message in ("Not Found", "Server returned an error response") and status and 400 <= status < 500:
        return _status_text(status)
    return None


def _status_text(status: int) -> str:
    return f"HTTP {status} {httpx2.codes.get_reason_phrase(status)}".rstrip()


def describe_error(exc: BaseException, headers: Mapping[str, str], status: int | None = None) -> str:
    """One line about `exc`: an HTTP failure by its kind (the library's text may quote the request's
    headers), an error status by its number (the SDK says only "Server returned an error response"), any
    other in the SDK's words (its first line, at most `MAX_ERROR_CHARS`) with every configured header value
    replaced by `tools.redact.REDACTED`."""
    if isinstance(exc, httpx2.HTTPError | httpx2.InvalidURL):
        return describe_failure(exc)
    synthetic = isinstance(exc, MCPError) and exc.error.message in (
        "Not Found",
        "Server returned an error response",
    )
    if synthetic and status is not None and status >= 400:
        return _status_text(status)
    line = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    # Cut first, then redact with `cut`: a credential the cut ends inside loses its start too.
    return redact(line[:MAX_ERROR_CHARS], headers.values(), cut=len(line) > MAX_ERROR_CHARS)
