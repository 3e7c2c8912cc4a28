"""What a GPT can call, as plain values: the contract between configuration (`tools.service`) and execution
(`tools.runtime`). Secrets here are already decrypted; these values never leave the process.

Shapes follow OpenAI's: an action is an OpenAPI document's operations as functions; an MCP server follows the
Responses API's `mcp` tool (`server_label`, `server_url`, `headers`, `allowed_tools`, `require_approval`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

AuthType = Literal["none", "api_key", "bearer", "basic", "oauth_client_credentials"]
ParameterLocation = Literal["path", "query", "header", "cookie", "body"]


@dataclass(frozen=True)
class ActionAuth:
    """How an action authenticates. `secret` is the API key, bearer token, basic password or OAuth client
    secret, decrypted; None when none is set (then the call is made without it and may fail)."""

    type: AuthType = "none"
    name: str | None = None  # api_key: the header or query parameter name
    location: Literal["header", "query"] | None = None  # api_key only
    username: str | None = None  # basic
    client_id: str | None = None  # oauth_client_credentials
    token_url: str | None = None  # oauth_client_credentials
    scope: str | None = None  # oauth_client_credentials
    secret: str | None = None


@dataclass(frozen=True)
class Operation:
    """One OpenAPI operation offered to the model as a function.

    `parameters` is the function's JSON Schema (an object); each of its properties comes from one OpenAPI
    parameter, located by `locations` (`path`, `query`, `header`, `cookie`), and the request body, if any, is
    the property `body` (location `body`).
    """

    name: str  # operationId or derived; ^[a-zA-Z0-9_-]{1,64}$, unique across the GPT's tools
    method: str  # upper case: GET, POST, ...
    path: str  # the OpenAPI path template, e.g. /trips/{trip_id}
    description: str
    parameters: dict[str, Any]
    locations: dict[str, ParameterLocation]
    consequential: bool  # needs the user's approval before it runs
    content_type: str = "application/json"  # of the request body


@dataclass(frozen=True)
class ActionTool:
    id: uuid.UUID
    server_url: str  # base URL the operation paths are appended to
    domain: str  # host of server_url, shown to users
    auth: ActionAuth
    operations: tuple[Operation, ...]
    privacy_policy_url: str | None = None
    redirect_hosts: tuple[str, ...] = ()  # further hosts the document lists (servers), allowed as redirects
    user_id_header: str | None = None  # send an opaque per-user id in this header when the creator enabled it


@dataclass(frozen=True)
class McpToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class McpServerTool:
    id: uuid.UUID
    server_label: str
    server_url: str  # a streamable-HTTP MCP endpoint
    domain: str
    headers: dict[str, str] = field(default_factory=dict)  # decrypted, incl. Authorization for a bearer token
    tools: tuple[McpToolSpec, ...] = ()  # the enabled subset (`allowed_tools`), as listed when configured
    require_approval: tuple[str, ...] = ()  # tool names that wait for the user's approval


@dataclass(frozen=True)
class ToolDefinitions:
    actions: tuple[ActionTool, ...] = ()
    mcp_servers: tuple[McpServerTool, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.actions or self.mcp_servers)

    def names(self) -> list[str]:
        """Every function name the model is offered."""
        return [o.name for a in self.actions for o in a.operations] + [
            t.name for s in self.mcp_servers for t in s.tools
        ]
