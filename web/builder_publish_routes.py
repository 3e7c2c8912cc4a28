"""The editor's Publish dialog: publish (visibility, category, release notes) and the review result,
versions with restore, unpublish, export as a download, and deleting the GPT.

The dialog (`builder/_publish.html`) is part of the editor page; `GET /builder/{id}/publish` is the same
content as a page of its own, for browsers without JavaScript. A publish answers with that page showing
the new version's review result and every reason; `static/builder.js` shows it inside the dialog.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService, PortabilityService, export_filename
from core.filenames import content_disposition
from core.models import User
from core.settings import Settings
from store.schemas import AppealCreate, PublishRequest, VersionRead
from store.service import StoreService
from web.forms import form_values, submit
from web.session import login_required
from web.templates import render


async def _publish_page(
    request: Request,
    user: User,
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    gpt_id: uuid.UUID,
    *,
    status_code: int = 200,
    **context: Any,
) -> Any:
    gpts = GptService(session, settings)
    gpt = await gpts.read(await gpts.get_owned(user, gpt_id))
    store = StoreService(session, settings, redis)
    versions, _ = await store.versions(user, gpt_id, 20, None)
    return render(
        request,
        "builder/publish.html",
        user,
        gpt=gpt,
        versions=[VersionRead.of(v) for v in versions],
        categories=settings.categories,
        publish=context.pop("publish", None),
        appeal=await store.appeal_state(gpt_id),
        publish_unchanged=context.pop("publish_unchanged", False),
        publish_errors=context.pop("publish_errors", {}),
        publish_values=context.pop("publish_values", {}),
        notice=context.pop("notice", None),
        appeal_values=context.pop("appeal_values", {}),
        status_code=status_code,
    )


@get("/builder/{gpt_id:uuid}/publish")
async def publish_page(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    done: str | None = Parameter(default=None, max_length=20),
) -> Any:
    """Publish, versions, unpublish, export and delete, on a page of their own."""
    if redirect := login_required(page_user, request):
        return redirect
    notice = "Your appeal went to the moderators." if done == "appealed" else None
    return await _publish_page(request, page_user, db_session, settings, redis, gpt_id, notice=notice)


@post("/builder/{gpt_id:uuid}/publish")
async def publish(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Snapshot the draft as a version (`POST /api/gpts/{id}/publish`, `PublishRequest`) and show its
    review result; a refusal (no category for a public GPT, ...) is named at its field."""
    if redirect := login_required(page_user, request):
        return redirect
    values = await form_values(request, "visibility", "category", "release_notes")
    data = {k: v for k, v in values.items() if v.strip()}
    store = StoreService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        PublishRequest,
        data,
        lambda p: store.publish(page_user, gpt_id, p.visibility, p.category, p.release_notes),
        allowed=lambda: GptService(db_session, settings).get_owned(page_user, gpt_id),
    )
    if not outcome.ok:
        return await _publish_page(
            request, page_user, db_session, settings, redis, gpt_id,
            publish_errors=outcome.errors, publish_values=values, status_code=outcome.status,
        )  # fmt: skip
    version, created = outcome.value
    return await _publish_page(
        request, page_user, db_session, settings, redis, gpt_id,
        publish=VersionRead.of(version), publish_unchanged=not created,
    )  # fmt: skip


@post("/builder/{gpt_id:uuid}/versions/{number:int}/restore")
async def restore(
    request: Request,
    gpt_id: uuid.UUID,
    number: int,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Copy a version's configuration back into the draft (`POST /api/gpts/{id}/versions/{n}/restore`)."""
    if redirect := login_required(page_user, request):
        return redirect
    await StoreService(db_session, settings, redis).restore(page_user, gpt_id, number)
    return Redirect(f"/builder/{gpt_id}?tab=configure&done=restored", status_code=303)


@post("/builder/{gpt_id:uuid}/unpublish")
async def unpublish(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Take the GPT out of the store (`POST /api/gpts/{id}/unpublish`); "not published" at the button."""
    if redirect := login_required(page_user, request):
        return redirect
    store = StoreService(db_session, settings, redis)
    outcome = await submit(db_session, _NoFields, {}, lambda _: store.unpublish(page_user, gpt_id))
    if not outcome.ok:
        errors = {"unpublish": next(iter(outcome.errors.values()))}
        return await _publish_page(
            request, page_user, db_session, settings, redis, gpt_id,
            publish_errors=errors, status_code=outcome.status,
        )  # fmt: skip
    return Redirect(f"/builder/{gpt_id}?done=unpublished", status_code=303)


@get("/builder/{gpt_id:uuid}/export")
async def export(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """The export archive as a download (`GET /api/gpts/{id}/export`)."""
    if redirect := login_required(page_user, request):
        return redirect
    gpt = await GptService(db_session, settings).get_owned(page_user, gpt_id)
    archive = await PortabilityService(db_session, settings).export(gpt, page_user)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": content_disposition(export_filename(gpt))},
    )


@post("/builder/{gpt_id:uuid}/delete")
async def delete_gpt(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Delete the GPT (`DELETE /api/gpts/{id}`) once the confirmation box is ticked."""
    if redirect := login_required(page_user, request):
        return redirect
    service = GptService(db_session, settings)
    row = await service.get_owned(page_user, gpt_id, for_update=True, need="manage")
    form = await form_values(request, "confirm")
    if form["confirm"] != "yes":
        errors = {"confirm": "Tick the box to confirm that the GPT and its files are deleted for good"}
        return await _publish_page(
            request, page_user, db_session, settings, redis, gpt_id, publish_errors=errors, status_code=422
        )
    await service.delete(row)
    return Redirect("/builder", status_code=303)


class _NoFields(BaseModel):
    """The body of a post that sends nothing but its CSRF token."""


@post("/builder/{gpt_id:uuid}/appeal")
async def appeal(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Appeal a rejection or an unlisting (`POST /api/gpts/{id}/appeal`, `AppealCreate`): it goes to the
    admins' Appeals desk; the message comes back at its field when refused."""
    if redirect := login_required(page_user, request):
        return redirect
    values = await form_values(request, "message")
    store = StoreService(db_session, settings, redis)
    outcome = await submit(
        db_session, AppealCreate, values, lambda a: store.appeal(page_user, gpt_id, a.message),
        allowed=lambda: GptService(db_session, settings).get_owned(page_user, gpt_id),
    )  # fmt: skip
    if not outcome.ok:
        errors = {f"appeal_{k}" if k != "form" else "appeal_message": v for k, v in outcome.errors.items()}
        return await _publish_page(
            request, page_user, db_session, settings, redis, gpt_id,
            publish_errors=errors, appeal_values=values, status_code=outcome.status,
        )  # fmt: skip
    return Redirect(f"/builder/{gpt_id}/publish?done=appealed#appeal", status_code=303)  # a reload sends none


builder_publish_handlers = [publish_page, publish, restore, unpublish, export, delete_gpt, appeal]
