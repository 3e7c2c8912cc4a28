"""What a family of pages works with, given once by its controller's dependency instead of each handler.

A family's controller provides `page` (`Page`): the request, the signed-in user, the session, the
settings and the family's service. A signed-out visitor never reaches the handler: the provider raises
`LoginRequired`, which the page router answers with the 303 to `/login?next=...` that comes back to the
handler's `opt["back"]` (formatted with the path parameters; a form's page, since a login cannot come
back to a POST) or else to the requested path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from litestar import Request
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings

S = TypeVar("S")


class LoginRequired(Exception):
    """A page for signed-in users was asked for without a session; `back` is where the login returns."""

    def __init__(self, back: str):
        super().__init__(back)
        self.back = back


def login_redirect(_: Request, exc: LoginRequired) -> Redirect:
    """The page router's answer to `LoginRequired`: the login page, coming back to `exc.back`."""
    return Redirect(f"/login?next={quote(exc.back)}", status_code=303)


def signed_in(request: Request, user: User | None) -> User:
    """The page's user, or `LoginRequired` naming where to come back to (see the module's docstring)."""
    if user is not None:
        return user
    back = request.route_handler.opt.get("back")
    raise LoginRequired(back.format(**request.path_params) if back else request.url.path)


@dataclass
class Page(Generic[S]):
    """A page request of one family: who asks, in which transaction, and the family's service."""

    request: Request
    user: User
    session: AsyncSession
    settings: Settings
    service: S
    redis: Any


def page_provider(make_service: Callable[..., S]) -> Callable[..., Any]:
    """A dependency giving `Page` with `make_service(session, settings, redis)` for a signed-in user."""

    async def provide_page(
        request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings, redis: Any
    ) -> Page[S]:
        user = signed_in(request, page_user)
        service = make_service(db_session, settings, redis)
        return Page(request, user, db_session, settings, service, redis)

    return provide_page
