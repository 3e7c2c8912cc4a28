"""What a GPT's tools are at one moment: the draft's tools as a published version keeps them
(`draft_snapshot`, in `GptVersion.config["tools"]`), and `load_definitions`, the decrypted `ToolDefinitions`
of a draft or a published version for the chat loop.

A snapshot references each secret by id, never its value: a `tool_secret` row is never changed (a new
value is a new row), so a published version keeps using the row it snapshotted.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from tools.definitions import (
    ActionAuth,
    ActionTool,
    McpServerTool,
    McpToolSpec,
    Operation,
    ToolDefinitions,
)
from tools.models import GptAction, GptMcpServer
from tools.reads import AUTH_FIELDS, approval_names, domain_of, enabled_tools, mcp_headers, operations_of
from tools.secret_store import SecretStore


def action_snapshot(row: GptAction) -> dict[str, Any]:
    """An action as a version keeps it: everything but the secret, which it references by id."""
    return row.model_dump(mode="json", exclude={"gpt_id", "created_at", "updated_at"})


def mcp_snapshot(row: GptMcpServer) -> dict[str, Any]:
    return row.model_dump(mode="json", exclude={"gpt_id", "created_at", "updated_at"})


async def draft_snapshot(session: AsyncSession, gpt_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """The draft's tools as a version keeps them (`GptVersion.config["tools"]`)."""
    actions = await session.scalars(
        sa.select(GptAction).where(GptAction.gpt_id == gpt_id).order_by(GptAction.created_at, GptAction.id)
    )
    servers = await session.scalars(
        sa.select(GptMcpServer)
        .where(GptMcpServer.gpt_id == gpt_id)
        .order_by(GptMcpServer.created_at, GptMcpServer.id)
    )
    return {
        "actions": [action_snapshot(a) for a in actions],
        "mcp_servers": [mcp_snapshot(s) for s in servers],
    }


async def load_definitions(
    session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, version: Any = None, *, secrets: bool = True
) -> ToolDefinitions:
    """What the GPT can call, secrets decrypted: the draft's tools (`version` None, for the preview) or
    those a published `store.models.GptVersion` snapshotted (versions from before tools have none).
    `secrets=False` leaves credentials out (nothing is decrypted), for reading names and targets only."""
    if version is None:
        snapshot = await draft_snapshot(session, gpt_id)
    else:
        snapshot = (version.config or {}).get("tools") or {}
    actions = snapshot.get("actions") or []
    servers = snapshot.get("mcp_servers") or []
    ids = [uuid.UUID(x["secret_id"]) for x in (*actions, *servers) if x.get("secret_id")]
    opened = await SecretStore(session, settings).open(ids) if secrets else {}

    def secret_of(item: dict[str, Any]) -> dict[str, Any]:
        return opened.get(uuid.UUID(item["secret_id"]), {}) if item.get("secret_id") else {}

    return ToolDefinitions(
        actions=tuple(
            ActionTool(
                id=uuid.UUID(a["id"]),
                server_url=a["server_url"],
                domain=domain_of(a["server_url"]),
                auth=ActionAuth(
                    **{k: v for k, v in (a.get("auth") or {}).items() if k in AUTH_FIELDS},
                    secret=secret_of(a).get("secret"),
                ),
                operations=tuple(
                    Operation(
                        name=op["name"],
                        method=op["method"],
                        path=op["path"],
                        description=op["description"],
                        parameters=op["parameters"],
                        locations=op["locations"],
                        consequential=flag,
                        content_type=op.get("content_type") or "application/json",
                    )
                    for op, flag in operations_of(a)
                ),
                privacy_policy_url=a.get("privacy_policy_url"),
                redirect_hosts=tuple(a.get("redirect_hosts") or ()),
                user_id_header=a.get("user_id_header"),
            )
            for a in actions
        ),  # fmt: skip
        mcp_servers=tuple(
            McpServerTool(
                id=uuid.UUID(s["id"]),
                server_label=s["server_label"],
                server_url=s["server_url"],
                domain=domain_of(s["server_url"]),
                headers=mcp_headers(secret_of(s)),
                tools=tuple(
                    McpToolSpec(
                        name=t["name"],
                        description=t.get("description") or "",
                        input_schema=t.get("input_schema") or {"type": "object"},
                    )
                    for t in enabled_tools(s)
                ),
                require_approval=tuple(
                    approval_names(s.get("require_approval"), [t["name"] for t in enabled_tools(s)])
                ),
            )
            for s in servers
        ),  # fmt: skip
    )
