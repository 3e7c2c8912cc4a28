"""A GPT's tools beyond the draft: what a published version keeps (and restores), what the store page
shows, the review rule for public versions, and the tools in export archives (never with secrets)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.errors import Invalid
from core.settings import Settings
from tools.export_schemas import ToolsExport
from tools.models import GptAction, GptMcpServer, ToolSecret
from tools.reads import domain_of, missing_headers
from tools.schemas import ActionCreate, ToolDomainRead
from tools.secret_store import SecretStore
from tools.service import ToolService
from tools.snapshot import draft_snapshot


async def pin_secrets(session: AsyncSession, snapshot: dict[str, list[dict[str, Any]]]) -> None:
    """Keep the secrets a version snapshotted, whatever the draft does with its own afterwards."""
    ids = [uuid.UUID(x["secret_id"]) for items in snapshot.values() for x in items if x.get("secret_id")]
    if ids:
        await session.execute(sa.update(ToolSecret).where(ToolSecret.id.in_(ids)).values(pinned=True))


def tools_review_reasons(config: dict[str, Any]) -> list[str]:
    """Why a public version with these tools is refused: an action without a privacy policy URL."""
    return [
        f"the action '{a.get('title') or domain_of(a['server_url'])}' needs a privacy policy URL to be public"
        for a in (config.get("tools") or {}).get("actions") or []
        if not a.get("privacy_policy_url")
    ]


def tool_domains(config: dict[str, Any]) -> list[ToolDomainRead]:
    """What a version calls, for its store page: each action's domain and privacy policy, each MCP
    server's domain (no URLs with paths, no headers, no secrets)."""
    tools = config.get("tools") or {}
    return [
        ToolDomainRead(
            kind="action",
            name=a.get("title") or domain_of(a["server_url"]),
            domain=domain_of(a["server_url"]),
            privacy_policy_url=a.get("privacy_policy_url"),
        )
        for a in tools.get("actions") or []
    ] + [
        ToolDomainRead(kind="mcp_server", name=s["server_label"], domain=domain_of(s["server_url"]))
        for s in tools.get("mcp_servers") or []
    ]


async def restore_snapshot(
    session: AsyncSession, settings: Settings, gpt: Gpt, config: dict[str, Any]
) -> None:
    """The draft's tools become those of a version (their secrets with them); versions from before tools
    leave the draft's tools as they are."""
    if "tools" not in config:
        return
    service = ToolService(session, settings)
    for row in [*await service.actions(gpt), *await service.mcp_servers(gpt)]:
        secret_id = row.secret_id
        await session.delete(row)
        await session.flush()
        await service.secrets.drop(secret_id)
    known = await service.secrets.hints(
        [uuid.UUID(x["secret_id"]) for items in config["tools"].values() for x in items if x.get("secret_id")]
    )
    for kind, model in (("actions", GptAction), ("mcp_servers", GptMcpServer)):
        for item in config["tools"].get(kind) or []:
            values = {k: v for k, v in item.items() if k in model.model_fields}
            values["id"] = uuid.UUID(values["id"])
            secret = uuid.UUID(item["secret_id"]) if item.get("secret_id") else None
            values["secret_id"] = secret if secret in known else None
            session.add(model(**values, gpt_id=gpt.id))
    await session.flush()


# Export and import ----------------------------------------------------------------------------------------

ACTION_EXPORT_FIELDS = ("document", "source_url", "server_url", "privacy_policy_url", "user_id_header")
MCP_EXPORT_FIELDS = ("server_label", "server_url", "server_description", "tools", "allowed_tools")


async def export_tools(session: AsyncSession, gpt_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """The draft's tools for an export archive: no secret, no secret id; `needs_credentials` says that the
    importer must enter them again (and, for MCP servers, `header_names` which headers)."""
    snapshot = await draft_snapshot(session, gpt_id)
    hints = await SecretStore.hints_of(
        session,
        [uuid.UUID(x["secret_id"]) for items in snapshot.values() for x in items if x.get("secret_id")],
    )
    actions = []
    for a in snapshot["actions"]:
        auth = {k: v for k, v in (a.get("auth") or {}).items() if k != "secret"}
        actions.append(
            {
                **{k: a.get(k) for k in ACTION_EXPORT_FIELDS},
                "consequential": a.get("consequential") or {},
                "auth": auth,
                "needs_credentials": auth.get("type", "none") != "none",
            }
        )
    servers = []
    for s in snapshot["mcp_servers"]:
        hint = hints.get(uuid.UUID(s["secret_id"])) if s.get("secret_id") else None
        # What the server is used with: the credentials set, and those an import still waits for.
        names = {*((hint or {}).get("headers") or {}), *missing_headers(s, hint)}
        servers.append(
            {
                **{k: s.get(k) for k in MCP_EXPORT_FIELDS},
                "require_approval": s.get("require_approval") or "always",
                "needs_credentials": hint is not None or bool(s.get("needs_credentials")),
                "header_names": sorted(names),
            }
        )
    return {"actions": actions, "mcp_servers": servers}


async def import_tools(
    session: AsyncSession, settings: Settings, gpt: Gpt, tools: ToolsExport | None
) -> None:
    """Add an archive's tools (their shape checked with the whole manifest) to a new draft, checked as the
    API checks them (`Invalid` naming the entry). Actions come without secrets: those that need one say so
    (`auth.needs_credentials`). MCP servers keep the tool list the archive has until the creator saves them
    again with their credentials."""
    if tools is None:
        return
    service = ToolService(session, settings)
    for index, action in enumerate(tools.actions or []):
        where = f"tools.actions[{index}]"
        auth = action.auth.model_dump(exclude={"secret"}, exclude_none=True) if action.auth else None
        try:
            data = ActionCreate.model_validate(
                {
                    **action.model_dump(
                        include={"document", "server_url", "privacy_policy_url", "user_id_header"}
                    ),
                    "consequential": action.consequential or None,
                    "auth": auth or {"type": "none"},
                }
            )
            await service.create_action(gpt, data, source_url=action.source_url)
        except ValidationError as exc:
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
            raise Invalid(f"{where} has invalid fields: {fields}", field="file") from None
        except Invalid as exc:
            raise Invalid(f"{where}: {exc.detail}", field="file") from None
    for index, server in enumerate(tools.mcp_servers or []):
        where = f"tools.mcp_servers[{index}]"
        try:
            await service.import_mcp_server(gpt, server.model_dump(mode="json"))
        except ValidationError as exc:
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
            raise Invalid(f"{where} has invalid fields: {fields}", field="file") from None
        except Invalid as exc:
            raise Invalid(f"{where}: {exc.detail}", field="file") from None
