"""A GPT draft's actions and MCP servers: create, read, change, delete; and `load_definitions`, the
decrypted `ToolDefinitions` of a draft or a published version for the chat loop.

Secrets live in `tool_secret` rows sealed with AES-GCM (core/secrets.py); a row is never changed, a new
value is a new row, so a published version keeps using the row it snapshotted (`tools.snapshot`).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.db import utcnow
from core.errors import Invalid, NotFound
from core.secrets import SecretBox, SecretUnreadable, last4
from core.settings import Settings
from tools.definitions import (
    ActionAuth,
    ActionTool,
    McpServerTool,
    McpToolSpec,
    Operation,
    ToolDefinitions,
)
from tools.discovery import fetch_document, list_mcp_tools
from tools.models import GptAction, GptMcpServer, ToolSecret
from tools.openapi_actions import LIMITS, NAME_PATTERN, parse_document
from tools.schemas import (
    ActionAuthRead,
    ActionAuthWrite,
    ActionCreate,
    ActionRead,
    ActionUpdate,
    McpServerCreate,
    McpServerRead,
    McpServerUpdate,
    McpToolRead,
    OperationRead,
    SecretHint,
    ToolDomainRead,
)

logger = logging.getLogger("gptstore")

AUTH_FIELDS = ("type", "name", "location", "username", "client_id", "token_url", "scope")


def secret_context(secret_id: uuid.UUID) -> bytes:
    """AES-GCM associated data: a sealed value opens only in its own row."""
    return b"tool_secret:" + secret_id.bytes


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


class ToolService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.box = SecretBox(settings)

    # Secrets --------------------------------------------------------------------------------------------

    async def seal(self, gpt_id: uuid.UUID, payload: dict[str, Any], hints: dict[str, Any]) -> ToolSecret:
        row = ToolSecret(id=uuid.uuid4(), gpt_id=gpt_id, sealed=b"", hints=hints)
        row.sealed = self.box.seal(json.dumps(payload), context=secret_context(row.id))
        self.session.add(row)
        await self.session.flush()
        return row

    async def drop_secret(self, secret_id: uuid.UUID | None) -> None:
        """Delete a secret the draft no longer uses, unless a published version still does."""
        if secret_id is not None:
            await self.session.execute(
                sa.delete(ToolSecret).where(ToolSecret.id == secret_id, ToolSecret.pinned.is_(False))
            )

    async def hints(self, secret_ids: list[uuid.UUID | None]) -> dict[uuid.UUID, dict[str, Any]]:
        ids = [i for i in secret_ids if i is not None]
        if not ids:
            return {}
        rows = await self.session.execute(
            sa.select(ToolSecret.id, ToolSecret.hints).where(ToolSecret.id.in_(ids))
        )
        return {row.id: row.hints for row in rows}

    async def open_secrets(self, secret_ids: list[uuid.UUID | None]) -> dict[uuid.UUID, dict[str, Any]]:
        """The decrypted payloads by id; a value no configured key opens is left out (and logged, without
        the value), so the call goes without it."""
        ids = [i for i in secret_ids if i is not None]
        if not ids:
            return {}
        rows = await self.session.scalars(sa.select(ToolSecret).where(ToolSecret.id.in_(ids)))
        opened = {}
        for row in rows:
            try:
                opened[row.id] = json.loads(self.box.open(row.sealed, context=secret_context(row.id)))
            except SecretUnreadable as exc:
                logger.warning("tool secret %s of GPT %s cannot be opened: %s", row.id, row.gpt_id, exc)
        return opened

    async def reseal_all(self) -> int:
        """Re-encrypt every secret under the current key (after a rotation); returns how many changed."""
        changed = 0
        for row in await self.session.scalars(sa.select(ToolSecret).with_for_update()):
            if not self.box.is_current(row.sealed):
                row.sealed = self.box.reseal(row.sealed, context=secret_context(row.id))
                changed += 1
        await self.session.flush()
        return changed

    # Names ----------------------------------------------------------------------------------------------

    async def check_names(
        self, gpt_id: uuid.UUID, names: list[str], *, field: str, skip: uuid.UUID | None = None
    ) -> None:
        """422 unless every function name of the GPT (these and its other tools') is unique and the GPT
        stays within the functions one request may offer."""
        taken: dict[str, str] = {}
        for action in await self.session.scalars(sa.select(GptAction).where(GptAction.gpt_id == gpt_id)):
            if action.id != skip:
                for op in action.operations:
                    taken[op["name"]] = f"action '{action.title or action.server_url}'"
        for server in await self.session.scalars(
            sa.select(GptMcpServer).where(GptMcpServer.gpt_id == gpt_id)
        ):
            if server.id != skip:
                for tool in enabled_tools(server.model_dump()):
                    taken[tool["name"]] = f"MCP server '{server.server_label}'"
        for name in names:
            if name in taken:
                raise Invalid(
                    f"Duplicate function name '{name}': the GPT's {taken[name]} has one of that name; names "
                    "must be unique across all its tools",
                    field=field,
                )
        total = len(taken) + len(names)
        if total > LIMITS["max_functions_per_gpt"]:
            limit = LIMITS["max_functions_per_gpt"]
            raise Invalid(f"A GPT offers at most {limit} functions in all; this makes {total}", field=field)

    # Actions --------------------------------------------------------------------------------------------

    async def actions(self, gpt: Gpt) -> list[GptAction]:
        rows = await self.session.scalars(
            sa.select(GptAction)
            .where(GptAction.gpt_id == gpt.id)
            .order_by(GptAction.created_at, GptAction.id)
        )
        return list(rows)

    async def action(self, gpt: Gpt, action_id: uuid.UUID) -> GptAction:
        row = await self.session.get(GptAction, action_id)
        if row is None or row.gpt_id != gpt.id:
            raise NotFound("No such action of this GPT")
        return row

    async def _document(self, data: ActionCreate | ActionUpdate) -> tuple[str, str | None]:
        if data.import_url is not None:
            return await fetch_document(data.import_url, self.settings), data.import_url
        document = data.document
        text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False, indent=2)
        return text, None

    async def create_action(self, gpt: Gpt, data: ActionCreate) -> GptAction:
        """A new action; 422 naming the problem (document, duplicate names, limits, auth)."""
        count = await self.session.scalar(sa.select(sa.func.count()).where(GptAction.gpt_id == gpt.id))
        if count >= LIMITS["max_actions_per_gpt"]:
            raise Invalid(f"A GPT has at most {LIMITS['max_actions_per_gpt']} actions", field="document")
        row = GptAction(gpt_id=gpt.id, document="", server_url="")
        await self._apply_document(row, data, required=True)
        await self._apply_fields(gpt, row, data)
        self.session.add(row)
        gpt.updated_at = utcnow()
        await self.session.flush()
        return row

    async def update_action(self, gpt: Gpt, row: GptAction, data: ActionUpdate) -> GptAction:
        """Change what was sent; the document is parsed again when a new one is sent."""
        await self._apply_document(row, data, required=False)
        await self._apply_fields(gpt, row, data)
        row.updated_at = gpt.updated_at = utcnow()
        await self.session.flush()
        return row

    async def _apply_document(
        self, row: GptAction, data: ActionCreate | ActionUpdate, *, required: bool
    ) -> None:
        field = "import_url" if data.import_url is not None else "document"
        if data.document is None and data.import_url is None:
            if required:
                raise Invalid("Send a document or an import_url", field="document")
            parsed = None
        else:
            text, source = await self._document(data)
            try:
                parsed = parse_document(text, source)
            except Invalid as exc:
                exc.errors = [{"field": field, "message": exc.detail}]
                raise
            row.document, row.source_url, row.title = text, source, parsed.title
            row.operations, row.redirect_hosts = parsed.operations, parsed.redirect_hosts
        sent = data.model_fields_set
        if "server_url" in sent and data.server_url:
            row.server_url = data.server_url
        elif parsed is not None and (required or not row.server_url):
            row.server_url = parsed.server_url or ""
        if urlsplit(row.server_url).scheme not in ("http", "https") or not urlsplit(row.server_url).hostname:
            raise Invalid(
                "The action needs a server URL: the document lists no absolute http(s) server; "
                "send server_url",
                field="server_url",
            )
        names = [op["name"] for op in row.operations]
        await self.check_names(row.gpt_id, names, field=field, skip=row.id)

    async def _apply_fields(self, gpt: Gpt, row: GptAction, data: ActionCreate | ActionUpdate) -> None:
        sent = data.model_fields_set
        names = {op["name"] for op in row.operations}
        if "consequential" in sent:
            overrides = data.consequential or {}
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise Invalid(
                    f"consequential names operations the document does not have: {', '.join(unknown)}",
                    field="consequential",
                )
            row.consequential = overrides
        else:  # a new document keeps the overrides of the operations it still has
            row.consequential = {k: v for k, v in (row.consequential or {}).items() if k in names}
        for name in ("privacy_policy_url", "user_id_header"):
            if name in sent:
                setattr(row, name, getattr(data, name))
        if "auth" in sent:
            await self._apply_auth(gpt, row, data.auth or ActionAuthWrite())

    async def _apply_auth(self, gpt: Gpt, row: GptAction, auth: ActionAuthWrite) -> None:
        row.auth = {name: getattr(auth, name) for name in AUTH_FIELDS if getattr(auth, name) is not None}
        if auth.type == "none" or ("secret" in auth.model_fields_set and auth.secret is None):
            await self.drop_secret(row.secret_id)
            row.secret_id = None
        elif auth.secret is not None:
            old = row.secret_id
            row.secret_id = (
                await self.seal(gpt.id, {"secret": auth.secret}, {"secret": last4(auth.secret)})
            ).id
            await self.drop_secret(old)

    async def delete_action(self, gpt: Gpt, row: GptAction) -> None:
        secret_id = row.secret_id
        await self.session.delete(row)
        await self.session.flush()
        await self.drop_secret(secret_id)
        gpt.updated_at = utcnow()

    async def read_actions(self, rows: list[GptAction]) -> list[ActionRead]:
        hints = await self.hints([r.secret_id for r in rows])
        return [action_read(r, hints.get(r.secret_id)) for r in rows]

    # MCP servers ----------------------------------------------------------------------------------------

    async def mcp_servers(self, gpt: Gpt) -> list[GptMcpServer]:
        rows = await self.session.scalars(
            sa.select(GptMcpServer)
            .where(GptMcpServer.gpt_id == gpt.id)
            .order_by(GptMcpServer.created_at, GptMcpServer.id)
        )
        return list(rows)

    async def mcp_server(self, gpt: Gpt, server_id: uuid.UUID) -> GptMcpServer:
        row = await self.session.get(GptMcpServer, server_id)
        if row is None or row.gpt_id != gpt.id:
            raise NotFound("No such MCP server of this GPT")
        return row

    async def create_mcp_server(self, gpt: Gpt, data: McpServerCreate) -> GptMcpServer:
        """A new MCP server; its tools are listed now (so the enabled subset can be checked)."""
        count = await self.session.scalar(sa.select(sa.func.count()).where(GptMcpServer.gpt_id == gpt.id))
        if count >= LIMITS["max_mcp_servers_per_gpt"]:
            limit = LIMITS["max_mcp_servers_per_gpt"]
            raise Invalid(f"A GPT has at most {limit} MCP servers", field="server_url")
        row = GptMcpServer(gpt_id=gpt.id, server_label=data.server_label, server_url=data.server_url)
        await self._apply_mcp(gpt, row, data, new=True)
        self.session.add(row)
        gpt.updated_at = utcnow()
        await self.session.flush()
        return row

    async def update_mcp_server(self, gpt: Gpt, row: GptMcpServer, data: McpServerUpdate) -> GptMcpServer:
        await self._apply_mcp(gpt, row, data, new=False)
        row.updated_at = gpt.updated_at = utcnow()
        await self.session.flush()
        return row

    async def _apply_mcp(
        self, gpt: Gpt, row: GptMcpServer, data: McpServerCreate | McpServerUpdate, *, new: bool
    ) -> None:
        sent = data.model_fields_set
        if data.server_label is not None and data.server_label != row.server_label or new:
            taken = await self.session.scalar(
                sa.select(GptMcpServer.id).where(
                    GptMcpServer.gpt_id == gpt.id,
                    GptMcpServer.server_label == data.server_label,
                    GptMcpServer.id != row.id,
                )
            )
            if taken is not None:
                raise Invalid(
                    f"This GPT already has an MCP server labelled '{data.server_label}'", field="server_label"
                )
            row.server_label = data.server_label
        if data.server_url is not None:
            row.server_url = data.server_url
        for name in ("server_description", "allowed_tools"):
            if name in sent:
                setattr(row, name, getattr(data, name))
        if "require_approval" in sent:
            rule = data.require_approval
            row.require_approval = (
                rule.model_dump(exclude_none=True) if hasattr(rule, "model_dump") else (rule or "always")
            )
        old = await self.open_secrets([row.secret_id])
        credentials = dict(old.get(row.secret_id, {})) if row.secret_id else {}
        if "headers" in sent:
            credentials["headers"] = dict(data.headers or {})
        if "authorization" in sent:
            credentials["authorization"] = data.authorization
        credentials = {k: v for k, v in credentials.items() if v}
        if new or sent & {"server_url", "headers", "authorization"}:
            row.tools = await list_mcp_tools(row.server_url, mcp_headers(credentials), self.settings)
        if row.allowed_tools is not None:
            listed = {t["name"] for t in row.tools}
            unknown = [n for n in row.allowed_tools if n not in listed]
            if unknown:
                raise Invalid(
                    f"allowed_tools names tools the server does not list: {', '.join(unknown)}",
                    field="allowed_tools",
                )
        names = [t["name"] for t in enabled_tools(row.model_dump())]
        bad = [n for n in names if not NAME_PATTERN.match(n)]
        if bad:
            raise Invalid(
                f"Tool names must match ^[a-zA-Z0-9_-]{{1,64}}$ to be offered to a model: {', '.join(bad)}; "
                "leave them out of allowed_tools",
                field="allowed_tools",
            )
        await self.check_names(gpt.id, names, field="allowed_tools", skip=row.id)
        if sent & {"headers", "authorization"}:
            previous = row.secret_id
            row.secret_id = None
            if credentials:
                hints = {"headers": {k: last4(v) for k, v in (credentials.get("headers") or {}).items()}}
                if credentials.get("authorization"):
                    hints["authorization"] = last4(credentials["authorization"])
                row.secret_id = (await self.seal(gpt.id, credentials, hints)).id
            await self.drop_secret(previous)

    async def delete_mcp_server(self, gpt: Gpt, row: GptMcpServer) -> None:
        secret_id = row.secret_id
        await self.session.delete(row)
        await self.session.flush()
        await self.drop_secret(secret_id)
        gpt.updated_at = utcnow()

    async def read_mcp_servers(self, rows: list[GptMcpServer]) -> list[McpServerRead]:
        hints = await self.hints([r.secret_id for r in rows])
        return [mcp_read(r, hints.get(r.secret_id)) for r in rows]


def mcp_headers(credentials: dict[str, Any]) -> dict[str, str]:
    """The headers sent to an MCP server: its own, and `Authorization: Bearer` for a token."""
    headers = dict(credentials.get("headers") or {})
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


def mcp_read(row: GptMcpServer, hints: dict[str, Any] | None) -> McpServerRead:
    hints = hints or {}
    server = row.model_dump()
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


# Definitions for the chat loop --------------------------------------------------------------------------


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
    session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, version: Any = None
) -> ToolDefinitions:
    """What the GPT can call, secrets decrypted: the draft's tools (`version` None, for the preview) or
    those a published `store.models.GptVersion` snapshotted (versions from before tools have none)."""
    if version is None:
        snapshot = await draft_snapshot(session, gpt_id)
    else:
        snapshot = (version.config or {}).get("tools") or {}
    actions = snapshot.get("actions") or []
    servers = snapshot.get("mcp_servers") or []
    ids = [uuid.UUID(x["secret_id"]) for x in (*actions, *servers) if x.get("secret_id")]
    secrets = await ToolService(session, settings).open_secrets(ids)

    def secret_of(item: dict[str, Any]) -> dict[str, Any]:
        return secrets.get(uuid.UUID(item["secret_id"]), {}) if item.get("secret_id") else {}

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


# Publishing -----------------------------------------------------------------------------------------------


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
        await service.drop_secret(secret_id)
    known = await service.hints(
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
