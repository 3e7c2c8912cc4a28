"""The creator's side of the store: the dashboard of their GPTs, and replies to reviews."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from store.creators import CreatorService
from store.feedback import FeedbackService, ReplyCreate
from web.forms import form_values, submit
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
    feedback = FeedbackService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        ReplyCreate,
        await form_values(request, "text"),
        lambda data: feedback.reply(page_user, gpt_id, review_id, data.text),
    )
    if outcome.ok:
        return Redirect(f"/g/{gpt_id}#review-{review_id}", status_code=303)
    message, status = next(iter(outcome.errors.values())), outcome.status
    # A field error goes to the reply's form; a refusal (already replied, not the creator) above the reviews.
    errors = {f"reply_{review_id}": message} if status == 422 else {"reply": message}
    return await gpt_view(
        request, gpt_id, page_user, db_session, settings, redis, errors=errors, status_code=status
    )


creator_handlers = [dashboard, reply]
