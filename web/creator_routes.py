"""The creator's side of the store: the dashboard of their GPTs, and replies to reviews."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError
from core.models import User
from core.settings import Settings
from store.creators import CreatorService
from store.feedback import FeedbackService, ReplyCreate
from web.forms import field_errors, form_values, parse
from web.session import login_required
from web.store_routes import gpt_view
from web.templates import render


@get("/creator", name="dashboard")
async def dashboard(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Own GPTs with visibility, review outcome, version and totals (`GET /api/creator/gpts`)."""
    if redirect := login_required(page_user, request):
        return redirect
    board = await CreatorService(db_session, settings).dashboard(page_user)
    return render(request, "dashboard.html", page_user, board=board)


@post("/g/{gpt_id:uuid}/reviews/{review_id:uuid}/reply")
async def reply(
    request: Request,
    gpt_id: uuid.UUID,
    review_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """The creator's one reply to a review (`POST /api/store/gpts/{id}/reviews/{review_id}/reply`)."""
    if redirect := login_required(page_user, request, f"/g/{gpt_id}"):
        return redirect
    data, errors = parse(ReplyCreate, await form_values(request, "text"))
    status = 422
    if data is not None:
        try:
            async with db_session.begin_nested():  # nothing of a refused reply is kept
                await FeedbackService(db_session, settings, redis).reply(
                    page_user, gpt_id, review_id, data.text
                )
        except AppError as exc:
            errors, status = field_errors(exc), exc.status
        else:
            return Redirect(f"/g/{gpt_id}#review-{review_id}", status_code=303)
    message = next(iter(errors.values()))
    # A field error goes to the reply's form; a refusal (already replied, not the creator) above the reviews.
    errors = {f"reply_{review_id}": message} if status == 422 else {"reply": message}
    return await gpt_view(
        request, gpt_id, page_user, db_session, settings, redis, errors=errors, status_code=status
    )


creator_handlers = [dashboard, reply]
