"""The creator's side of the store: the dashboard of their GPTs, per-GPT stats, and replies to reviews."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import User
from core.settings import Settings
from store.creators import CreatorService
from store.feedback import FeedbackService
from store.feedback_schemas import ReplyCreate
from web import charts
from web.forms import form_values, submit
from web.session import login_required
from web.store_routes import gpt_view
from web.templates import render

STATS_PERIODS = (7, 30, 90)


@get("/creator", name="dashboard")
async def dashboard(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Own GPTs with visibility, review outcome, version and totals (`GET /api/creator/gpts`)."""
    if redirect := login_required(page_user, request):
        return redirect
    board = await CreatorService(db_session, settings).dashboard(page_user)
    return render(request, "dashboard.html", page_user, board=board)


async def stats_view(
    request: Request,
    user: User,
    gpt_id: uuid.UUID,
    days: int,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    reviews_cursor: str | None = None,
) -> Any:
    """Charts of `GET /api/gpts/{id}/stats` (`StatsRead`), the GPT's totals, and its reviews to reply to."""
    creators = CreatorService(db_session, settings)
    stats = await creators.stats(user, gpt_id, days)  # 404 unless the caller edits the GPT or is an admin
    gpt = next(g for g in (await creators.dashboard(user)).data if g.id == gpt_id)
    dates = [d.date for d in stats.days]
    figures = [
        charts.daily("conversations", "Conversations per day", dates, [d.conversations for d in stats.days]),
        charts.daily("users", "Users per day", dates, [d.users for d in stats.days]),
        charts.daily("messages", "Messages per day", dates, [d.messages for d in stats.days]),
        charts.ratings_by_day(dates, [d.distribution for d in stats.ratings_by_day]),
        charts.rating_distribution(stats.rating_distribution),
    ]
    try:
        reviews = await FeedbackService(db_session, settings, redis).reviews(
            gpt_id, user, "newest", reviews_cursor, 20
        )
    except NotFound:  # never published: no store page, no reviews
        reviews = None
    return render(
        request,
        "stats.html",
        user,
        gpt=gpt,
        days=days,
        periods=STATS_PERIODS,
        charts=figures,
        reviews=reviews,
        errors=errors or {},
        status_code=status_code,
    )


@get("/creator/gpts/{gpt_id:uuid}/stats", name="gpt_stats")
async def stats(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    days: Annotated[int, Parameter(ge=1, le=365)] = 30,
    reviews_cursor: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Any:
    """Daily conversations, users, messages and ratings of the owner's GPT, and its reviews."""
    if redirect := login_required(page_user, request):
        return redirect
    return await stats_view(
        request, page_user, gpt_id, days, db_session, settings, redis, reviews_cursor=reviews_cursor
    )


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
    """The creator's one reply to a review (`POST /api/store/gpts/{id}/reviews/{review_id}/reply`), from
    the GPT page or from its stats page (`back=stats`), which the answer returns to."""
    values = await form_values(request, "text", "back")
    from_stats = values.pop("back") == "stats"
    back = f"/creator/gpts/{gpt_id}/stats" if from_stats else f"/g/{gpt_id}"
    if redirect := login_required(page_user, request, back):
        return redirect
    feedback = FeedbackService(db_session, settings, redis)
    outcome = await submit(
        db_session, ReplyCreate, values, lambda data: feedback.reply(page_user, gpt_id, review_id, data.text)
    )
    if outcome.ok:
        return Redirect(f"{back}#review-{review_id}", status_code=303)
    message, status = next(iter(outcome.errors.values())), outcome.status
    # A field error goes to the reply's form; a refusal (already replied, not the creator) above the reviews.
    errors = {f"reply_{review_id}": message} if status == 422 else {"reply": message}
    if from_stats:
        days = STATS_PERIODS[1]
        return await stats_view(
            request, page_user, gpt_id, days, db_session, settings, redis, errors=errors, status_code=status
        )
    return await gpt_view(
        request, gpt_id, page_user, db_session, settings, redis, errors=errors, status_code=status
    )


creator_handlers = [dashboard, stats, reply]
