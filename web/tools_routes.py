"""The builder's Tools pages: a draft's actions and MCP servers, over the same schemas and service as
`/api/gpts/{id}/actions` and `/api/gpts/{id}/mcp_servers` (docs/tools.md), with "test this operation".

Secrets are write-only here too: their inputs are always empty; a blank one keeps the stored secret.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.service import GptService
from core.errors import AppError
from core.models import User
from core.settings import Settings
from tools.openapi_actions import parse_document
from tools.schemas import ActionCreate, ActionTestRequest, ActionUpdate, McpServerCreate, McpServerUpdate
from tools.service import ToolService
from tools.testing import run_operation
from web.forms import M, field_errors, page_form, parse, refused_fields, submit
from web.session import login_required
from web.templates import render

AUTH_INPUTS = ("name", "location", "username", "client_id", "token_url", "scope")
ACTION_INPUTS = ("document", "import_url", "server_url", "privacy_policy_url", "auth_type", "secret",
                 *(f"auth_{k}" for k in AUTH_INPUTS))  # fmt: skip
MCP_INPUTS = ("server_label", "server_url", "server_description", "authorization", "headers",
              "allowed_tools", "require_approval", "approval_never")  # fmt: skip


async def _form(request: Request) -> dict[str, Any]:
    """The form's text fields (`page_form`: unstorable text is refused at its field by the `submit`)."""
    form = await page_form(request)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def action_body(values: dict[str, Any], operations: list[str] | None) -> dict[str, Any]:
    """The API body an action form stands for; `operations` (on the edit page) gives the consequential
    checkboxes; a blank secret is left out (kept), `remove_secret` sends null."""
    body: dict[str, Any] = {}
    for name in ("document", "import_url"):
        if values.get(name, "").strip():
            body[name] = values[name]
    for name in ("server_url", "privacy_policy_url"):
        if name in values:
            body[name] = values[name].strip() or None
    auth: dict[str, Any] = {"type": values.get("auth_type") or "none"}
    auth |= {k: values[f"auth_{k}"].strip() for k in AUTH_INPUTS if values.get(f"auth_{k}", "").strip()}
    if values.get("secret"):
        auth["secret"] = values["secret"]
    elif values.get("remove_secret"):
        auth["secret"] = None
    body["auth"] = auth
    if operations is not None:
        body["consequential"] = {name: bool(values.get(f"consequential_{name}")) for name in operations}
    return body


def header_lines(text: str) -> tuple[dict[str, str], str | None]:
    """The headers of the MCP form's `Name: value` lines (blank lines skipped), or why they cannot be taken,
    naming the line by number (never quoting it: a value is a secret): a line without a colon or without a
    name, an empty value, a name given twice (in any case: header names are case-insensitive)."""
    headers: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = (part.strip() for part in line.partition(":"))
        if not colon:
            return {}, f"Line {number} has no ':'; write one header per line as Name: value"
        if not name:
            return {}, f"Line {number} has no header name before ':'"
        if not value:
            return {}, f"Line {number}: the header '{name}' has no value"
        if (first := lines.get(name.lower())) is not None:
            return {}, (
                f"Line {number} gives the header '{name}' again (line {first}; header names are compared "
                "without regard to case); give each header once"
            )
        lines[name.lower()] = number
        headers[name] = value
    return headers, None


def mcp_body(values: dict[str, Any], *, editing: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body of an MCP form, and the form's own errors (`header_lines`): headers one `Name: value` per
    line (blank: kept when editing), allowed tools comma separated (blank: all), approval `always`, `never`
    or all but `approval_never`."""
    body: dict[str, Any] = {k: values.get(k, "").strip() or None for k in ("server_label", "server_url")}
    body["server_description"] = values.get("server_description", "").strip() or None
    if values.get("authorization"):
        body["authorization"] = values["authorization"]
    elif values.get("remove_credentials"):
        body["authorization"] = None
        body["headers"] = None
    headers, problem = header_lines(values.get("headers", ""))
    if headers:
        body["headers"] = headers
    allowed = [t.strip() for t in values.get("allowed_tools", "").split(",") if t.strip()]
    body["allowed_tools"] = allowed or None
    rule = values.get("require_approval") or "always"
    if rule == "some":
        never = [t.strip() for t in values.get("approval_never", "").split(",") if t.strip()]
        body["require_approval"] = {"never": {"tool_names": never}}
    else:
        body["require_approval"] = rule
    if editing:  # a blank label or URL keeps the stored one
        body = {k: v for k, v in body.items() if v is not None or k not in ("server_label", "server_url")}
    return body, ({"headers": problem} if problem else {})


async def _page(
    request: Request, user: User, session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, **context: Any
) -> Any:
    gpt = await GptService(session, settings).get_owned(user, gpt_id)
    tools = ToolService(session, settings)
    for name in ("editing", "form", "test_action", "test_result", "saved"):
        context.setdefault(name, None)
    context.setdefault("new_operations", [])
    return render(
        request,
        "builder/tools.html",
        user,
        gpt=await GptService(session, settings).read(gpt),
        actions=await tools.read_actions(await tools.actions(gpt)),
        servers=await tools.read_mcp_servers(await tools.mcp_servers(gpt)),
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        status_code=context.pop("status_code", 200),
        **context,
    )


@get("/builder/{gpt_id:uuid}/tools", name="tools")
async def tools_page(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """The draft's actions and MCP servers, the forms to add them, and each action's test form."""
    if redirect := login_required(page_user, request):
        return redirect
    editing = request.query_params.get("edit")
    new = [n for n in request.query_params.get("new", "").split(",") if n]
    return await _page(request, page_user, db_session, settings, gpt_id, editing=editing,
                       saved=request.query_params.get("saved") == "1", new_operations=new)  # fmt: skip


def _back(gpt_id: uuid.UUID) -> Redirect:
    return Redirect(f"/builder/{gpt_id}/tools?saved=1", status_code=303)


@dataclass
class _Draft:
    """One Tools page request of a signed-in creator's draft: the owned `gpt` (locked for a change)
    and its `tools`."""

    request: Request
    user: User
    session: AsyncSession
    settings: Settings
    gpt: Gpt
    tools: ToolService

    @classmethod
    async def of(
        cls, request: Request, user: User, session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, *,
        lock: bool = True,
    ) -> _Draft:  # fmt: skip
        gpt = await GptService(session, settings).get_owned(user, gpt_id, for_update=lock)
        return cls(request, user, session, settings, gpt, ToolService(session, settings))

    async def page(self, **context: Any) -> Any:
        return await _page(self.request, self.user, self.session, self.settings, self.gpt.id, **context)

    async def save(
        self, model: type[M], body: dict[str, Any], action: Callable[[M], Awaitable[Any]],
        values: dict[str, Any], refused: dict[str, str] | None = None, **context: Any,
    ) -> Any:  # fmt: skip
        """`submit` the form's API `body`; back to the Tools page, or the page again with the errors
        at their fields (`context` says which form they belong to). `refused`: the form's own errors (a
        422 before the API body is looked at)."""
        if refused:  # with what the schema says of the other fields: every mistake named at once
            errors = {**parse(model, body)[1], **refused}
            return await self.page(values=values, errors=errors, status_code=422, **context)
        outcome = await submit(self.session, model, body, action)
        if outcome.ok:
            return _back(self.gpt.id)
        return await self.page(values=values, errors=outcome.errors, status_code=outcome.status, **context)


@post("/builder/{gpt_id:uuid}/tools/actions")
async def add_action(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """`POST /api/gpts/{id}/actions` from the form; errors come back at their fields."""
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    values = await _form(request)
    return await draft.save(
        ActionCreate,
        action_body(values, None),
        lambda d: draft.tools.create_action(draft.gpt, d),
        values,
        form="action",
    )


@post("/builder/{gpt_id:uuid}/tools/actions/{action_id:uuid}")
async def edit_action(
    request: Request,
    gpt_id: uuid.UUID,
    action_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """`PATCH /api/gpts/{id}/actions/{action_id}` from the action's edit form."""
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    row = await draft.tools.action(draft.gpt, action_id)
    values = await _form(request)
    old = [op["name"] for op in row.operations]
    names = await _operation_names(values.get("document") or "")
    # The form's checkboxes are the old document's operations: only those the new one still has are sent
    # (the others would be a 422 naming operations it does not have); new ones keep their default.
    body = action_body(values, old if names is None else [n for n in old if n in names])
    outcome = await submit(
        draft.session, ActionUpdate, body, lambda d: draft.tools.update_action(draft.gpt, row, d)
    )
    if not outcome.ok:
        return await draft.page(
            values=values, errors=outcome.errors, status_code=outcome.status, editing=str(action_id)
        )
    added = [op["name"] for op in row.operations if op["name"] not in old]
    if not added:
        return _back(gpt_id)
    # The edit form again, open, naming the new operations so their approval can be chosen.
    query = urlencode({"saved": "1", "edit": str(action_id), "new": ",".join(added)})
    return Redirect(f"/builder/{gpt_id}/tools?{query}#action-{action_id}", status_code=303)


async def _operation_names(document: str) -> set[str] | None:
    """The function names of a pasted document, or None when it has none to give (blank, or refused: the
    save names the problem)."""
    if not document.strip():
        return None
    try:
        parsed = await asyncio.to_thread(parse_document, document)
    except AppError:
        return None
    return {op["name"] for op in parsed.operations}


@post("/builder/{gpt_id:uuid}/tools/actions/{action_id:uuid}/delete")
async def delete_action(
    request: Request,
    gpt_id: uuid.UUID,
    action_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    await draft.tools.delete_action(draft.gpt, await draft.tools.action(draft.gpt, action_id))
    return _back(gpt_id)


@post("/builder/{gpt_id:uuid}/tools/actions/{action_id:uuid}/test")
async def test_action(
    request: Request,
    gpt_id: uuid.UUID,
    action_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """ "Test this operation": `POST .../actions/{id}/test`, the result shown under the action."""
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id, lock=False)
    action = await draft.tools.action(draft.gpt, action_id)
    values = await _form(request)
    refused = refused_fields()
    try:
        arguments = json.loads(values.get("arguments") or "{}")
    except json.JSONDecodeError as exc:
        arguments = None
        errors = {"arguments": f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"}
    except (ValueError, RecursionError) as exc:  # a number past Python's 4,300 digits; deep nesting
        arguments = None
        errors = {"arguments": f"Not valid JSON: {str(exc)[:200] or 'nested too deeply'}"}
    if arguments is not None:
        data, errors = parse(
            ActionTestRequest, {"operation": values.get("operation", ""), "arguments": arguments}
        )
    errors = {**errors, **refused}
    context: dict[str, Any] = {"test_action": str(action_id), "values": values}
    if not errors:
        try:
            context["test_result"] = await run_operation(
                db_session, settings, draft.gpt, action, data, tester_id=draft.user.id
            )
        except AppError as exc:  # an operation the action does not have: shown at the form
            errors = field_errors(exc)
    return await draft.page(errors=errors, status_code=422 if errors else 200, **context)


@post("/builder/{gpt_id:uuid}/tools/mcp_servers")
async def add_mcp_server(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """`POST /api/gpts/{id}/mcp_servers` from the form (its tools are listed now)."""
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    values = await _form(request)
    body, refused = mcp_body(values, editing=False)
    return await draft.save(
        McpServerCreate,
        body,
        lambda d: draft.tools.create_mcp_server(draft.gpt, d),
        values,
        refused,
        form="mcp",
    )


@post("/builder/{gpt_id:uuid}/tools/mcp_servers/{server_id:uuid}")
async def edit_mcp_server(
    request: Request,
    gpt_id: uuid.UUID,
    server_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    row = await draft.tools.mcp_server(draft.gpt, server_id)
    values = await _form(request)
    body, refused = mcp_body(values, editing=True)
    return await draft.save(
        McpServerUpdate,
        body,
        lambda d: draft.tools.update_mcp_server(draft.gpt, row, d),
        values,
        refused,
        editing=str(server_id),
    )


@post("/builder/{gpt_id:uuid}/tools/mcp_servers/{server_id:uuid}/delete")
async def delete_mcp_server(
    request: Request,
    gpt_id: uuid.UUID,
    server_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    draft = await _Draft.of(request, page_user, db_session, settings, gpt_id)
    await draft.tools.delete_mcp_server(draft.gpt, await draft.tools.mcp_server(draft.gpt, server_id))
    return _back(gpt_id)


tools_handlers = [
    tools_page, add_action, edit_action, delete_action, test_action, add_mcp_server, edit_mcp_server,
    delete_mcp_server,
]  # fmt: skip
