"""The editor's Knowledge tab: "Import from the web" (docs/web.md). The form takes the fields of
`POST /api/gpts/{id}/files/imports` (`WebImportCreate`: a page, a list of pages one a line, or a sitemap;
access and license) and goes through `WebImportService`, as the API does; its errors are shown at the
form's fields. Each import is listed with its status and a Resync button (`.../resync`)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.errors import AppError
from core.models import User
from core.settings import Settings
from retrieval.imports import WebImportService, enqueue_import
from retrieval.schemas import WebImportCreate
from retrieval.service import KnowledgeService
from web.builder_routes import editor
from web.forms import form_values, submit
from web.session import login_required

IMPORT_FIELDS = ("url", "urls", "sitemap_url", "access", "license")


def import_body(values: dict[str, str]) -> dict[str, Any]:
    """The API's JSON body from the form: blank fields left out, `urls` one URL a line."""
    body: dict[str, Any] = {k: v.strip() for k, v in values.items() if k != "urls" and v.strip()}
    lines = [line.strip() for line in values.get("urls", "").splitlines() if line.strip()]
    if lines:
        body["urls"] = lines
    return body


def _at_inputs(errors: dict[str, str]) -> dict[str, str]:
    """The form shows `urls[2]`'s error at its `urls` box, naming the line."""
    shown: dict[str, str] = {}
    for name, message in errors.items():
        if match := re.fullmatch(r"urls\[(\d+)\]", name):
            name, message = "urls", f"Line {int(match.group(1)) + 1}: {message}"
        shown.setdefault(name, message)
    return shown


@post("/builder/{gpt_id:uuid}/imports")
async def start_import(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Import pages into the GPT's knowledge (`POST /api/gpts/{id}/files/imports`); back to the tab."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    base = await KnowledgeService(db_session, settings).knowledge_base_for(page_user, gpt_id)
    values = await form_values(request, *IMPORT_FIELDS)
    imports = WebImportService(db_session, settings)
    outcome = await submit(
        db_session, WebImportCreate, import_body(values), lambda data: imports.create(base, data)
    )
    if not outcome.ok:
        row = await GptService(db_session, settings).get_owned(page_user, gpt_id)
        return await editor(
            request, page_user, db_session, settings, redis, row, tab="knowledge",
            import_values=values, import_errors=_at_inputs(outcome.errors), status_code=outcome.status,
        )  # fmt: skip
    queued = BackgroundTask(enqueue_import, state.queue, outcome.value.id)
    target = f"/builder/{gpt_id}?tab=knowledge&done=import-started#imports"
    return Redirect(target, status_code=303, background=queued)


@post("/builder/{gpt_id:uuid}/imports/{import_id:uuid}/resync")
async def resync_import(
    request: Request,
    gpt_id: uuid.UUID,
    import_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Fetch an import's pages again (`POST .../imports/{id}/resync`); a refusal (already running) is shown
    at the import."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    base = await KnowledgeService(db_session, settings).knowledge_base_for(page_user, gpt_id)
    try:
        async with db_session.begin_nested():
            row = await WebImportService(db_session, settings).resync(base, import_id)
    except AppError as exc:
        gpt = await GptService(db_session, settings).get_owned(page_user, gpt_id)
        return await editor(
            request, page_user, db_session, settings, redis, gpt, tab="knowledge",
            import_refusal={"id": import_id, "message": exc.detail}, status_code=exc.status,
        )  # fmt: skip
    queued = BackgroundTask(enqueue_import, state.queue, row.id)
    target = f"/builder/{gpt_id}?tab=knowledge&done=import-resynced#imports"
    return Redirect(target, status_code=303, background=queued)


import_handlers = [start_import, resync_import]
