"""Pages: accounts, the store, chat and the builder; each a template over its JSON twin's `*Read` data.

Which pages a process serves follows `serve --service` (see `page_routes`). Every page router carries the
CSRF guard, the page security headers and the `page_user` (cookie session) dependency.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Router, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import AccountService
from core.errors import AppError
from core.models import User
from core.schemas import LoginRequest, SignupRequest
from core.settings import Settings
from store.creators import CreatorService
from store.feedback import FeedbackService
from store.schemas import GptPage
from store.search import StoreSearch
from store.service import StoreService
from web.builder_routes import builder_handlers
from web.chat_routes import chat_handlers
from web.forms import field_errors, form_values, parse, safe_next
from web.security import page_security
from web.session import (
    cleared_session_cookie,
    csrf_guard,
    issue_session,
    provide_page_user,
    session_cookie,
)
from web.templates import STATIC, render

HOME_SECTIONS = (("featured", "Featured"), ("trending", "Trending"), ("top", "Top rated"), ("new", "New"))
HOME_SECTION_SIZE = 8
RESULTS_PAGE_SIZE = 24
REVIEWS_PAGE_SIZE = 10

# Accounts ----------------------------------------------------------------------------------------------


@get("/signup", name="signup")
async def signup_form(request: Request, page_user: User | None, next: str | None = None) -> Template:
    return render(request, "signup.html", page_user, values={}, errors={}, next=safe_next(next))


@post("/signup")
async def signup(request: Request, db_session: AsyncSession, settings: Settings) -> Any:
    """Create the account through `AccountService.signup` and start a session."""
    values = await form_values(request, "email", "password", "display_name", "next")
    target = safe_next(values.pop("next"))
    data, errors = parse(SignupRequest, values)
    if data is not None:
        service = AccountService(db_session, settings)
        try:
            user = await service.signup(data.email, data.password, data.display_name)
        except AppError as exc:
            errors = field_errors(exc)
        else:
            token, ttl = issue_session(settings, db_session, user)
            return Redirect(target, status_code=303, cookies=[session_cookie(request, token, ttl)])
    values.pop("password")
    return render(request, "signup.html", None, values=values, errors=errors, next=target, status_code=422)


@get("/login", name="login")
async def login_form(request: Request, page_user: User | None, next: str | None = None) -> Template:
    return render(request, "login.html", page_user, values={}, errors={}, next=safe_next(next))


@post("/login")
async def login(request: Request, db_session: AsyncSession, settings: Settings) -> Any:
    values = await form_values(request, "email", "password", "next")
    target = safe_next(values.pop("next"))
    data, errors = parse(LoginRequest, values)
    if data is not None:
        try:
            user = await AccountService(db_session, settings).authenticate(data.email, data.password)
        except AppError as exc:
            errors = {"form": exc.detail}
        else:
            token, ttl = issue_session(settings, db_session, user)
            return Redirect(target, status_code=303, cookies=[session_cookie(request, token, ttl)])
    values.pop("password")
    return render(request, "login.html", None, values=values, errors=errors, next=target, status_code=401)


@post("/logout")
async def logout(request: Request) -> Redirect:
    return Redirect("/", status_code=303, cookies=[cleared_session_cookie(request)])


# Store -------------------------------------------------------------------------------------------------


@get("/", name="home")
async def home(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings, redis: Redis
) -> Template:
    """The store's front: search, categories, featured/trending/top/new rows (`GET /api/store/gpts`)."""
    search = StoreSearch(db_session, settings, redis)
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
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    q: str | None = Parameter(default=None, max_length=200),
    category: str | None = None,
    sort: Literal["trending", "top", "new", "featured"] = "trending",
    cursor: str | None = Parameter(default=None, max_length=500),
) -> Template:
    """Results of `GET /api/store/gpts` with the same parameters; `next_cursor` becomes a 'More' link."""
    category = category or None
    store = StoreSearch(db_session, settings, redis)
    page = await store.browse(q=q, category=category, sort=sort, limit=RESULTS_PAGE_SIZE, cursor=cursor)
    return render(
        request,
        "search.html",
        page_user,
        page=page,
        q=q or "",
        category=category,
        sort=sort,
        categories=await store.categories(),
    )


@get("/g/{gpt_id:uuid}", name="gpt")
async def gpt_page(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    reviews_cursor: str | None = Parameter(default=None, max_length=500),
) -> Template:
    """The GPT's page (`GET /api/store/gpts/{id}`) with its reviews (`GET .../reviews`)."""

    gpt = GptPage.model_validate(
        await StoreService(db_session, settings, redis).cached_page(gpt_id, page_user)
    )
    reviews = await FeedbackService(db_session, settings).reviews(
        gpt_id, page_user, "newest", reviews_cursor, REVIEWS_PAGE_SIZE
    )
    return render(request, "gpt.html", page_user, gpt=gpt, reviews=reviews)


@get("/creators/{handle:str}", name="creator")
async def creator_page(
    request: Request,
    handle: str,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Template:
    """A creator's profile and listed GPTs (`GET /api/store/creators/{handle}`)."""
    creator = await CreatorService(db_session, settings, redis).page(handle)
    return render(request, "creator.html", page_user, creator=creator)


@get("/", name="builder_home")
async def builder_only_home() -> Redirect:
    """With `--service builder` there is no store: the front page is the builder's list."""
    return Redirect("/builder", status_code=303)


# Assembly ----------------------------------------------------------------------------------------------

account_handlers = [signup_form, signup, login_form, login, logout]
store_handlers = [home, search, gpt_page, creator_page, *chat_handlers]


def page_routes(service: Literal["all", "builder", "store"]) -> list[Any]:
    """The page router and the static files of a process serving `service`."""
    handlers: list[Any] = list(account_handlers)
    if service in ("all", "store"):
        handlers += store_handlers
    if service in ("all", "builder"):
        handlers += builder_handlers
    if service == "builder":
        handlers.append(builder_only_home)
    pages = Router(
        path="/",
        route_handlers=handlers,
        guards=[csrf_guard],
        middleware=[page_security],
        dependencies={"page_user": Provide(provide_page_user)},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC], include_in_schema=False, cache_control=None
    )
    return [pages, static]
