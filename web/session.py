"""The browser's session: an access token in an HttpOnly cookie, and a double-submit CSRF token.

The JSON API keeps bearer tokens (core/auth.py) and needs no CSRF protection, since a browser never sends
an `Authorization` header on its own. Pages authenticate with the same access token, carried in the
`gptstore_session` cookie, and resolve it through the same `AccountService.user_for_credential`.

CSRF: every page response sets a random `gptstore_csrf` cookie (HttpOnly, SameSite=Lax) once; every form
carries the same value in a hidden `csrf_token` field and htmx/fetch requests in an `X-CSRF-Token` header
(read from `<meta name="csrf-token">`). A state-changing request whose token is missing or differs from
the cookie is refused with 403 before its handler runs (`csrf_guard`). A cross-site page can neither read
the cookie nor set it, so it cannot forge the pair (OWASP "double submit cookie").
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import SESSION_COOKIE, AccountService
from core.errors import AppError, Forbidden, Unauthorized
from core.models import User
from core.settings import Settings

CSRF_COOKIE = "gptstore_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
NEW_CSRF_TOKEN = "gptstore_new_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _secure(request: ASGIConnection) -> bool:
    """Secure cookies when the browser reached us over HTTPS (directly or via a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def session_cookie(request: ASGIConnection, token: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def cleared_session_cookie(request: ASGIConnection) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        max_age=0,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def csrf_token(connection: ASGIConnection) -> str:
    """The request's CSRF token: the cookie's, or the new one `web.security` sets with this response."""
    token = connection.cookies.get(CSRF_COOKIE)
    if token and len(token) >= 32:
        return token
    state = connection.scope.setdefault("state", {})
    return state.setdefault(NEW_CSRF_TOKEN, secrets.token_urlsafe(32))


def minted_csrf_cookie(connection: ASGIConnection) -> Cookie | None:
    """The CSRF cookie to set when this request minted a new token, else None."""
    token = connection.scope.get("state", {}).get(NEW_CSRF_TOKEN)
    if not token:
        return None
    return Cookie(
        key=CSRF_COOKIE, value=token, path="/", httponly=True, samesite="lax", secure=_secure(connection)
    )


async def csrf_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Refuse a state-changing page request whose CSRF token does not match the cookie (403)."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    expected = connection.cookies.get(CSRF_COOKIE)
    sent = connection.headers.get(CSRF_HEADER)
    if sent is None and isinstance(connection, Request):
        content_type = connection.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await connection.form()  # cached on the request: the handler reads it again
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden(
            "The form's security token is missing or expired; reload the page and try again.",
            errors=[{"field": CSRF_FIELD, "message": "missing or does not match the csrf cookie"}],
        )


async def provide_page_user(request: Request, db_session: AsyncSession, state: State) -> User | None:
    """The signed-in user of a page request, or None (an expired or unknown session reads as signed out)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await AccountService(db_session, state.settings, state.redis).user_for_credential(
            token, api_key=False
        )
    except AppError:
        return None


def issue_session(settings: Settings, session: AsyncSession, user: User) -> tuple[str, int]:
    """A session token for `user`: the same access token the JSON API issues, and its lifetime in s."""
    return AccountService(session, settings).issue_token(user)


def login_required(user: User | None, request: Request, back: str | None = None) -> Redirect | None:
    """None when signed in; else the redirect to the login page that comes back (here, or to `back`).

    A page's script asking for JSON or a stream (`Accept: application/json`: an upload, a batch;
    `text/event-stream`: a chat message) gets a 401 problem instead: `fetch` would follow the redirect to
    the login page's HTML and take it for success ("The request failed (200)")."""
    if user is not None:
        return None
    accept = request.headers.get("accept", "")
    if ("application/json" in accept or "text/event-stream" in accept) and "text/html" not in accept:
        raise Unauthorized(
            "Your session has ended (logged out or expired): log in again, then retry. Nothing was saved.",
            headers={},
        )
    return Redirect(f"/login?next={quote(back or request.url.path)}", status_code=303)
