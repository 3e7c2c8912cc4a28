"""Store pages: the front, search, a GPT's page with rating and report forms, and creator pages."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Literal, get_args

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import User
from core.settings import Settings
from store.creators import CreatorService
from store.feedback import FeedbackService
from store.feedback_schemas import RatingRead, RatingWrite, ReportCreate, ReportReason
from store.search import StoreSearch
from store.service import StoreService
from tools.chat import approval_reads
from web.forms import SEARCH_MAX_CHARS, form_values, search_words, submit
from web.session import login_required
from web.templates import render

HOME_SECTIONS = (("featured", "Featured"), ("trending", "Trending"), ("top", "Top rated"), ("new", "New"))
HOME_SECTION_SIZE = 8
RESULTS_PAGE_SIZE = 24
REVIEWS_PAGE_SIZE = 10
REPORT_REASONS = get_args(ReportReason)


@get("/", name="home")
async def home(
    request: Request, page_user: User | None, read_session: AsyncSession, settings: Settings, redis: Redis
) -> Template:
    """The store's front: search, categories, featured/trending/top/new rows (`GET /api/store/gpts`)."""
    search = StoreSearch(read_session, settings, redis)
    sections = []
    for sort, title in HOME_SECTIONS:
        page = await search.browse(q=None, category=None, sort=sort, limit=HOME_SECTION_SIZE, cursor=None)
        sections.append({"sort": sort, "title": title, "page": page})
    categories = await search.categories()
    return render(request, "home.html", page_user, sections=sections, categories=categories)


@get("/search", name="search")
async def search(
    request: Request,
    page_user: User | None,
    read_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    q: str | None = None,  # longer than the API's 200 characters: cut, with the error at the search box
    category: str | None = None,
    sort: Literal["trending", "top", "new", "featured"] = "trending",
    cursor: str | None = Parameter(default=None, max_length=500),
) -> Template:
    """Results of `GET /api/store/gpts` with the same parameters; `next_cursor` becomes a 'More' link."""
    category = category or None
    q, q_error = search_words(q, SEARCH_MAX_CHARS)
    store = StoreSearch(read_session, settings, redis)
    page = await store.browse(q=q, category=category, sort=sort, limit=RESULTS_PAGE_SIZE, cursor=cursor)
    return render(
        request,
        "search.html",
        page_user,
        page=page,
        q=q,
        q_error=q_error,
        category=category,
        sort=sort,
        categories=await store.categories(),
    )


async def gpt_view(
    request: Request,
    gpt_id: uuid.UUID,
    user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    *,
    reviews_cursor: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The GPT page over `GptPage` and `ReviewPage`, with the visitor's own rating when there is one."""
    store = StoreService(db_session, settings, redis)
    gpt = await store.served_page(gpt_id, user, str(request.base_url))
    feedback = FeedbackService(db_session, settings, redis)
    reviews = await feedback.reviews(gpt_id, user, "newest", reviews_cursor, REVIEWS_PAGE_SIZE)
    mine = None
    creates = await store.creates(user, gpt_id)
    approvals = await approval_reads(db_session, settings, gpt_id, user.id) if user else []
    if user is not None and not creates:
        with contextlib.suppress(NotFound):
            mine = RatingRead.model_validate(await feedback.my_rating(user, gpt_id), from_attributes=True)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render(
        request,
        "gpt.html",
        user,
        gpt=gpt,
        reviews=reviews,
        my_rating=mine,
        creates=creates,
        approvals=approvals,
        report_reasons=REPORT_REASONS,
        status_code=status_code,
        **context,
    )


@get("/g/{gpt_id:uuid}", name="gpt")
async def gpt_page(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    read_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    reviews_cursor: str | None = Parameter(default=None, max_length=500),
    reported: bool = False,
) -> Template:
    """The GPT's page (`GET /api/store/gpts/{id}`) with its reviews (`GET .../reviews`)."""
    return await gpt_view(
        request,
        gpt_id,
        page_user,
        read_session,
        settings,
        redis,
        reviews_cursor=reviews_cursor,
        reported=reported,
    )


@post("/g/{gpt_id:uuid}/rating")
async def rate(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Rate with stars and an optional review (`PUT /api/store/gpts/{id}/rating`); errors at the form."""
    if redirect := login_required(page_user, request, f"/g/{gpt_id}"):
        return redirect
    values = await form_values(request, "stars", "review")
    feedback = FeedbackService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        RatingWrite,
        values,
        lambda data: feedback.rate(page_user, gpt_id, data.stars, data.review),
    )
    if outcome.ok:
        return Redirect(f"/g/{gpt_id}#h-reviews", status_code=303)
    errors, status = {f"rating_{k}": v for k, v in outcome.errors.items()}, outcome.status
    return await gpt_view(
        request,
        gpt_id,
        page_user,
        db_session,
        settings,
        redis,
        values=values,
        errors=errors,
        status_code=status,
    )


@post("/g/{gpt_id:uuid}/report")
async def report(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Report the GPT (`POST /api/store/gpts/{id}/reports`); errors at the form."""
    if redirect := login_required(page_user, request, f"/g/{gpt_id}"):
        return redirect
    values = await form_values(request, "reason", "details")
    feedback = FeedbackService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        ReportCreate,
        values,
        lambda data: feedback.report(page_user, gpt_id, data.reason, data.details),
    )
    if outcome.ok:
        return Redirect(f"/g/{gpt_id}?reported=true#h-report", status_code=303)
    errors, status = {f"report_{k}": v for k, v in outcome.errors.items()}, outcome.status
    return await gpt_view(
        request,
        gpt_id,
        page_user,
        db_session,
        settings,
        redis,
        values=values,
        errors=errors,
        status_code=status,
    )


@get("/creators/{handle:str}", name="creator")
async def creator_page(
    request: Request,
    handle: str,
    page_user: User | None,
    read_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Template:
    """A creator's profile and listed GPTs (`GET /api/store/creators/{handle}`)."""
    creator = await CreatorService(read_session, settings, redis).page(handle)
    return render(request, "creator.html", page_user, creator=creator)


store_handlers = [home, search, gpt_page, rate, report, creator_page]
