"""Account pages, and the assembly of every page router (store, chat and builder pages in their modules).

Each page is a template over the same `*Read` data its JSON twin returns.

Which pages a process serves follows `serve --service` (see `page_routes`). Every page router carries the
CSRF guard, the page security headers, the `page_user` (cookie session) dependency and the answer to
`LoginRequired` (the login page; web/pages.py).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Router, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import API_KEY_PREFIX, AccountService, client_ip
from core.errors import AppError, RateLimited
from core.models import User
from core.schemas import LoginRequest, SignupRequest
from core.settings import Settings
from web.account_routes import account_handlers
from web.admin_accounts import admin_account_handlers
from web.admin_routes import admin_handlers
from web.approval_routes import approval_handlers
from web.builder_chat_routes import builder_chat_handlers
from web.builder_files_routes import builder_files_handlers
from web.builder_publish_routes import builder_publish_handlers
from web.builder_routes import builder_handlers
from web.chat_routes import chat_handlers
from web.creator_routes import creator_handlers
from web.dataset_pages import dataset_page_handlers
from web.dataset_routes import dataset_handlers
from web.embed_routes import embed_handlers
from web.forms import form_values, parse, safe_next, submit
from web.import_routes import import_handlers
from web.invitation_routes import invitation_handlers
from web.org_routes import org_handlers
from web.pages import LoginRequired, login_redirect
from web.security import page_security
from web.session import (
    SESSION_COOKIE,
    cleared_session_cookie,
    csrf_guard,
    issue_session,
    provide_page_user,
    session_cookie,
)
from web.store_routes import store_handlers
from web.templates import STATIC, render
from web.tools_routes import tools_handlers

# Accounts ----------------------------------------------------------------------------------------------


@get("/signup", name="signup")
async def signup_form(request: Request, page_user: User | None, next: str | None = None) -> Template:
    return render(request, "signup.html", page_user, values={}, errors={}, next=safe_next(next))


@post("/signup")
async def signup(request: Request, db_session: AsyncSession, settings: Settings) -> Any:
    """Create the account through `AccountService.signup` and start a session."""
    values = await form_values(request, "email", "password", "display_name", "next")
    target = safe_next(values.pop("next"))
    service = AccountService(db_session, settings)
    outcome = await submit(
        db_session,
        SignupRequest,
        values,
        lambda data: service.signup(data.email, data.password, data.display_name),
    )
    if outcome.ok:
        token, ttl = issue_session(settings, db_session, outcome.value)
        return Redirect(target, status_code=303, cookies=[session_cookie(request, token, ttl)])
    values.pop("password")
    return render(
        request, "signup.html", None, values=values, errors=outcome.errors, next=target, status_code=422
    )


@get("/login", name="login")
async def login_form(request: Request, page_user: User | None, next: str | None = None) -> Template:
    return render(request, "login.html", page_user, values={}, errors={}, next=safe_next(next))


@post("/login")
async def login(request: Request, db_session: AsyncSession, settings: Settings, redis: Redis) -> Any:
    """Log in through `AccountService.log_in` (throttled: past the limit, the 429 error page)."""
    values = await form_values(request, "email", "password", "next")
    target = safe_next(values.pop("next"))
    data, errors = parse(LoginRequest, values)
    if data is not None:
        service = AccountService(db_session, settings, redis)
        try:
            user = await service.log_in(data.email, data.password, client_ip(request))
        except RateLimited:
            raise
        except AppError as exc:
            errors = {"form": exc.detail}
        else:
            token, ttl = issue_session(settings, db_session, user)
            return Redirect(target, status_code=303, cookies=[session_cookie(request, token, ttl)])
    values.pop("password")
    status = 401 if data is not None else 422  # credentials refused, or a field the schema refuses
    return render(request, "login.html", None, values=values, errors=errors, next=target, status_code=status)


@post("/logout")
async def logout(request: Request, db_session: AsyncSession, settings: Settings, redis: Redis) -> Redirect:
    """Revoke the session's access token server-side (`AccountService.revoke_token`) and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and not token.startswith(API_KEY_PREFIX):
        await AccountService(db_session, settings, redis).revoke_token(token)
    return Redirect("/", status_code=303, cookies=[cleared_session_cookie(request)])


# Builder-only front page ------------------------------------------------------------------------------


@get("/", name="builder_home")
async def builder_only_home() -> Redirect:
    """With `--service builder` there is no store: the front page is the builder's list."""
    return Redirect("/builder", status_code=303)


# Assembly ----------------------------------------------------------------------------------------------

auth_handlers = [signup_form, signup, login_form, login, logout]


def page_routes(service: Literal["all", "builder", "store"]) -> list[Any]:
    """The page router and the static files of a process serving `service`."""
    handlers: list[Any] = [*auth_handlers, *account_handlers, *org_handlers, *invitation_handlers]
    if service in ("all", "store"):
        handlers += (
            approval_handlers
            + store_handlers
            + chat_handlers
            + creator_handlers
            + embed_handlers
            + admin_handlers
            + admin_account_handlers
        )
        handlers += dataset_handlers
    if service in ("all", "builder"):
        handlers += (
            builder_handlers
            + builder_chat_handlers
            + builder_files_handlers
            + import_handlers
            + builder_publish_handlers
            + tools_handlers
            + dataset_page_handlers
        )
    if service == "builder":
        handlers.append(builder_only_home)
    pages = Router(
        path="/",
        route_handlers=handlers,
        guards=[csrf_guard],
        middleware=[page_security],
        dependencies={"page_user": Provide(provide_page_user)},
        exception_handlers={LoginRequired: login_redirect},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC], include_in_schema=False, cache_control=None
    )
    return [pages, static]
