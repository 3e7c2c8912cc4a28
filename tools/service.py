"""A GPT draft's actions and MCP servers: create, read, change, delete (what a version keeps of them, and
their decrypted definitions for the chat loop: `tools.snapshot`).

Secrets live in `tool_secret` rows sealed with AES-GCM (core/secrets.py); a row is never changed, a new
value is a new row, so a published version keeps using the row it snapshotted (`tools.snapshot`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.db import utcnow
from core.errors import Invalid, NotFound
from core.secrets import last4
from core.settings import Settings
from tools.discovery import fetch_document, list_mcp_tools
from tools.headers import reserved_header_problem
from tools.models import GptAction, GptMcpServer
from tools.openapi_actions import LIMITS, NAME_PATTERN, parse_document
from tools.reads import (
    AUTH_FIELDS,
    action_read,
    enabled_tools,
    mcp_headers,
    mcp_read,
)
from tools.request_names import check_request_names
from tools.schemas import (
    ActionAuthWrite,
    ActionCreate,
    ActionRead,
    ActionUpdate,
    McpServerCreate,
    McpServerRead,
    McpServerUpdate,
    McpToolList,
)
from tools.secret_store import SecretStore

logger = logging.getLogger("gptstore")

T = TypeVar("T", GptAction, GptMcpServer)


class ToolService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.secrets = SecretStore(session, settings)

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

    async def _rows(self, model: type[T], gpt: Gpt) -> list[T]:
        """The draft's rows of an action or MCP server table, oldest first."""
        rows = await self.session.scalars(
            sa.select(model).where(model.gpt_id == gpt.id).order_by(model.created_at, model.id)
        )
        return list(rows)

    async def _row(self, model: type[T], gpt: Gpt, row_id: uuid.UUID, missing: str) -> T:
        """One of the draft's rows; 404 `missing` when absent or another GPT's."""
        row = await self.session.get(model, row_id)
        if row is None or row.gpt_id != gpt.id:
            raise NotFound(missing)
        return row

    async def actions(self, gpt: Gpt) -> list[GptAction]:
        return await self._rows(GptAction, gpt)

    async def action(self, gpt: Gpt, action_id: uuid.UUID) -> GptAction:
        return await self._row(GptAction, gpt, action_id, "No such action of this GPT")

    async def _document(self, data: ActionCreate | ActionUpdate) -> tuple[str, str | None]:
        if data.import_url is not None:
            return await fetch_document(data.import_url, self.settings), data.import_url
        document = data.document
        text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False, indent=2)
        return text, None

    async def create_action(
        self, gpt: Gpt, data: ActionCreate, *, source_url: str | None = None
    ) -> GptAction:
        """A new action; 422 naming the problem (document, duplicate names, limits, auth). `source_url`:
        where a pasted document came from (an imported archive's action)."""
        count = await self.session.scalar(sa.select(sa.func.count()).where(GptAction.gpt_id == gpt.id))
        if count >= LIMITS["max_actions_per_gpt"]:
            raise Invalid(f"A GPT has at most {LIMITS['max_actions_per_gpt']} actions", field="document")
        row = GptAction(gpt_id=gpt.id, document="", server_url="")
        await self._apply_document(row, data, required=True)
        await self._apply_fields(gpt, row, data)
        row.source_url = row.source_url or source_url
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
                # CPU-bound (validation, $ref resolution): off the event loop.
                parsed = await asyncio.to_thread(parse_document, text, source)
            except Invalid as exc:
                exc.errors = [{"field": field, "message": exc.detail}]
                raise
            if source is not None or text != row.document:  # the same text sent back keeps its origin
                row.source_url = source
            row.document, row.title = text, parsed.title
            row.operations, row.redirect_hosts = parsed.operations, parsed.redirect_hosts
        sent = data.model_fields_set
        if "server_url" in sent and data.server_url:
            row.server_url = data.server_url
        elif parsed is not None and (required or not row.server_url):
            row.server_url = parsed.server_url or ""
        server = urlsplit(row.server_url)
        if server.scheme not in ("http", "https") or not server.hostname:
            raise Invalid(
                "The action needs a server URL: the document lists no absolute http(s) server; "
                "send server_url",
                field="server_url",
            )
        if server.username is not None or server.password is not None:  # (a sent server_url was checked)
            raise Invalid(
                "The document's server URL contains a user name or password (user:password@host), which "
                "would show in reads and exports; give credentials as auth (type basic)",
                field=field,
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
            auth = data.auth or ActionAuthWrite()
            if data.auth is not None and "type" not in auth.model_fields_set and row.auth:
                # An update that names no type changes the stored auth's fields (a new secret, say).
                merged = {**row.auth, **auth.model_dump(exclude_unset=True)}
                try:
                    auth = ActionAuthWrite.model_validate(merged)
                except ValidationError as exc:
                    errors = [
                        {
                            "field": ".".join(["auth", *(str(p) for p in e["loc"])]),
                            "message": e["msg"].removeprefix("Value error, "),
                        }
                        for e in exc.errors()
                    ]
                    message = "; ".join(f"{e['field']} {e['message']}" for e in errors)
                    raise Invalid(message, errors=errors) from None
            row.auth = {name: getattr(auth, name) for name in AUTH_FIELDS if getattr(auth, name) is not None}
        check_request_names(row, data)  # before a secret is sealed
        if "auth" in sent:
            await self._apply_auth(gpt, row, auth)

    async def _apply_auth(self, gpt: Gpt, row: GptAction, auth: ActionAuthWrite) -> None:
        """Seal or drop the secret of `auth` (already in `row.auth`)."""
        if auth.type == "none" or ("secret" in auth.model_fields_set and auth.secret is None):
            await self.secrets.drop(row.secret_id)
            row.secret_id = None
        elif auth.secret is not None:
            old = row.secret_id
            row.secret_id = (
                await self.secrets.seal(gpt.id, {"secret": auth.secret}, {"secret": last4(auth.secret)})
            ).id
            await self.secrets.drop(old)

    async def delete_action(self, gpt: Gpt, row: GptAction) -> None:
        secret_id = row.secret_id
        await self.session.delete(row)
        await self.session.flush()
        await self.secrets.drop(secret_id)
        gpt.updated_at = utcnow()

    async def read_actions(self, rows: list[GptAction]) -> list[ActionRead]:
        hints = await self.secrets.hints([r.secret_id for r in rows])
        return [action_read(r, hints.get(r.secret_id)) for r in rows]

    # MCP servers ----------------------------------------------------------------------------------------

    async def mcp_servers(self, gpt: Gpt) -> list[GptMcpServer]:
        return await self._rows(GptMcpServer, gpt)

    async def mcp_server(self, gpt: Gpt, server_id: uuid.UUID) -> GptMcpServer:
        return await self._row(GptMcpServer, gpt, server_id, "No such MCP server of this GPT")

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
        self,
        gpt: Gpt,
        row: GptMcpServer,
        data: McpServerCreate | McpServerUpdate,
        *,
        new: bool,
        discover: bool = True,
    ) -> None:
        sent = data.model_fields_set
        for name in data.headers or {}:  # before any connection is made with them
            if problem := reserved_header_problem(name):
                raise Invalid(problem, field=f"headers.{name}")
        if new or (data.server_label is not None and data.server_label != row.server_label):
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
            if hasattr(rule, "model_dump") and rule.always and rule.never:
                both = sorted(set(rule.always.tool_names) & set(rule.never.tool_names))
                if both:
                    raise Invalid(
                        f"require_approval lists {', '.join(both)} under both always and never",
                        field="require_approval",
                    )
            row.require_approval = (
                rule.model_dump(exclude_none=True) if hasattr(rule, "model_dump") else (rule or "always")
            )
        old = await self.secrets.open([row.secret_id])
        credentials = dict(old.get(row.secret_id, {})) if row.secret_id else {}
        if "headers" in sent:
            credentials["headers"] = dict(data.headers or {})
        if "authorization" in sent:
            credentials["authorization"] = data.authorization
        credentials = {k: v for k, v in credentials.items() if v}
        if discover and (new or sent & {"server_url", "headers", "authorization"}):
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
        if "headers" in sent:
            row.header_names = sorted(credentials.get("headers") or {})
        if sent & {"headers", "authorization"}:
            row.needs_credentials = bool(credentials)
            previous = row.secret_id
            row.secret_id = None
            if credentials:
                hints = {"headers": {k: last4(v) for k, v in (credentials.get("headers") or {}).items()}}
                if credentials.get("authorization"):
                    hints["authorization"] = last4(credentials["authorization"])
                row.secret_id = (await self.secrets.seal(gpt.id, credentials, hints)).id
            await self.secrets.drop(previous)

    async def import_mcp_server(self, gpt: Gpt, entry: dict[str, Any]) -> GptMcpServer:
        """An MCP server from an export archive: its tools as the archive lists them, no credentials (the
        creator saves it again with them, which lists the tools anew); the names of the headers it needs and
        whether it needs any are kept, so reads tell the creator what to fill in."""
        data = McpServerCreate.model_validate(
            {k: entry[k] for k in ("server_label", "server_url", "server_description", "allowed_tools",
                                   "require_approval") if entry.get(k) is not None}
        )  # fmt: skip
        listed = McpToolList.validate_python(entry.get("tools") or [])
        row = GptMcpServer(gpt_id=gpt.id, server_label=data.server_label, server_url=data.server_url)
        row.tools = [t.model_dump() for t in listed]
        await self._apply_mcp(gpt, row, data, new=True, discover=False)
        row.header_names = sorted(entry.get("header_names") or [])
        row.needs_credentials = bool(entry.get("needs_credentials") or row.header_names)
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete_mcp_server(self, gpt: Gpt, row: GptMcpServer) -> None:
        secret_id = row.secret_id
        await self.session.delete(row)
        await self.session.flush()
        await self.secrets.drop(secret_id)
        gpt.updated_at = utcnow()

    async def read_mcp_servers(self, rows: list[GptMcpServer]) -> list[McpServerRead]:
        hints = await self.secrets.hints([r.secret_id for r in rows])
        return [mcp_read(r, hints.get(r.secret_id)) for r in rows]
