"""The read shapes of a GPT's tools, and the rules shared by reads, snapshots and `load_definitions`:
which tools are enabled, which wait for approval, which operations are consequential. No I/O here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tools.headers import RESERVED_HEADERS
from tools.models import GptAction, GptMcpServer
from tools.schemas import (
    ActionAuthRead,
    ActionRead,
    McpServerRead,
    McpToolRead,
    OperationRead,
    SecretHint,
)

AUTH_FIELDS = ("type", "name", "location", "username", "client_id", "token_url", "scope")


def domain_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def approval_names(require_approval: Any, names: list[str]) -> list[str]:
    """The tools (of `names`) that wait for approval: all for "always" (the default), none for "never",
    and with rules every tool not listed under `never` (a tool listed nowhere is asked about)."""
    if require_approval == "never":
        return []
    if isinstance(require_approval, dict):
        never = set(((require_approval.get("never") or {}).get("tool_names")) or [])
        return [n for n in names if n not in never]
    return list(names)


def enabled_tools(server: dict[str, Any]) -> list[dict[str, Any]]:
    allowed = server.get("allowed_tools")
    return [t for t in server.get("tools") or [] if allowed is None or t["name"] in allowed]


def mcp_headers(credentials: dict[str, Any]) -> dict[str, str]:
    """The headers sent to an MCP server: its own (but a reserved one, refused at save, of a server saved
    before its name was reserved), and `Authorization: Bearer` for a token."""
    headers = {
        name: value
        for name, value in (credentials.get("headers") or {}).items()
        if name.lower() not in RESERVED_HEADERS
    }
    if credentials.get("authorization"):
        headers["Authorization"] = f"Bearer {credentials['authorization']}"
    return headers


def operations_of(action: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """Each operation with whether it is consequential (the creator's override, else its default)."""
    overrides = action.get("consequential") or {}
    return [(op, overrides.get(op["name"], op["default_consequential"])) for op in action["operations"]]


def action_read(row: GptAction, hints: dict[str, Any] | None) -> ActionRead:
    auth = row.auth or {"type": "none"}
    secret = SecretHint(last4=hints.get("secret")) if hints is not None else None
    return ActionRead(
        id=row.id,
        title=row.title,
        server_url=row.server_url,
        domain=domain_of(row.server_url),
        source_url=row.source_url,
        privacy_policy_url=row.privacy_policy_url,
        user_id_header=row.user_id_header,
        auth=ActionAuthRead(
            **{k: auth.get(k) for k in AUTH_FIELDS if k != "type"},
            type=auth.get("type", "none"),
            secret=secret,
            needs_credentials=auth.get("type", "none") != "none" and secret is None,
        ),
        operations=[
            OperationRead(
                name=op["name"],
                method=op["method"],
                path=op["path"],
                description=op["description"],
                consequential=flag,
                parameters=op["parameters"],
            )
            for op, flag in operations_of(row.model_dump())
        ],  # fmt: skip
        document=row.document,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def missing_headers(server: dict[str, Any], hints: dict[str, Any] | None) -> list[str]:
    """The headers `server` is used with (`header_names`) that have no value set (names compared without
    regard to case): an imported server's, until its creator enters them."""
    given = {name.lower() for name in ((hints or {}).get("headers") or {})}
    return [name for name in server.get("header_names") or [] if name.lower() not in given]


def mcp_needs_credentials(server: dict[str, Any], hints: dict[str, Any] | None) -> bool:
    """Whether credentials `server` is used with are not set: a header of `header_names`, or any at all."""
    return bool(missing_headers(server, hints)) or (bool(server.get("needs_credentials")) and not hints)


def mcp_read(row: GptMcpServer, hints: dict[str, Any] | None) -> McpServerRead:
    server = row.model_dump()
    needs = mcp_needs_credentials(server, hints)
    missing = missing_headers(server, hints)
    hints = hints or {}
    enabled = {t["name"] for t in enabled_tools(server)}
    approval = set(approval_names(row.require_approval, sorted(enabled)))
    return McpServerRead(
        id=row.id,
        server_label=row.server_label,
        server_url=row.server_url,
        domain=domain_of(row.server_url),
        server_description=row.server_description,
        headers={name: SecretHint(last4=value) for name, value in (hints.get("headers") or {}).items()},
        authorization=SecretHint(last4=hints["authorization"]) if "authorization" in hints else None,
        needs_credentials=needs,
        missing_headers=missing,
        allowed_tools=row.allowed_tools,
        require_approval=row.require_approval or "always",
        tools=[
            McpToolRead(
                name=t["name"],
                description=t.get("description") or "",
                input_schema=t.get("input_schema") or {},
                enabled=t["name"] in enabled,
                requires_approval=t["name"] in approval,
            )
            for t in row.tools
        ],  # fmt: skip
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
