"""Request-scoped providers shared by every context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Scope
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import carries_credentials, provide_current_user, provide_optional_user, require_admin
from core.models import User
from core.settings import Settings

REQUEST_SESSION = "gptstore_db_session"  # the request's session, in its scope's state


async def provide_db_session(state: State, scope: Scope) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed after the handler returns, rolled back if it raised."""
    async with state.db.sessionmaker() as session:
        scope.setdefault("state", {})[REQUEST_SESSION] = session
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def close_request_session(exc: Exception, scope: Scope) -> None:
    """`after_exception` hook: roll back and close the request's session when a dependency raised (a 404
    or 403 from a provider such as `retrieval.deps`, a login redirect of a page family). Litestar cleans
    up generator dependencies only once all of them are resolved, so without this the session would stay
    open, in its transaction, until the garbage collector finalises `provide_db_session` at some later
    moment, racing whatever then uses the connection. After a handler's own error the session is closed
    already and this does nothing."""
    session = scope.get("state", {}).pop(REQUEST_SESSION, None)
    if session is not None and session.in_transaction():
        await session.rollback()
        await session.close()


async def provide_read_session(
    request: Request, state: State, db_session: AsyncSession
) -> AsyncIterator[AsyncSession]:
    """A session for store reads that tolerate replica lag (listings, search, GPT and dataset pages,
    reviews, downloads of open files): read-only on the replica for requests without credentials; the
    request's own `db_session` on the primary when there is no replica, it is down (`Database.
    replica_session`), or the request names a user, who may be reading what they just wrote. Declared by
    the handler (`read_session: AsyncSession`) instead of `db_session`; docs/scaling.md."""
    replica = None if carries_credentials(request) else await state.db.replica_session()
    if replica is None:
        yield db_session
        return
    async with replica:  # closing rolls the read-only transaction back and returns the connection
        yield replica  # db_session, unused, never opens a connection


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_redis(state: State) -> Redis:
    return state.redis


def provide_site_admin(current_user: User) -> User:
    """The caller if a site administrator, else 403. A provider, so the check runs before the request's
    body is validated (litestar resolves dependencies first): whoever may not call an admin route is told
    so, not what is wrong with what they sent."""
    require_admin(current_user)
    return current_user


dependencies = {
    "db_session": Provide(provide_db_session),
    "read_session": Provide(provide_read_session),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
    "current_user": Provide(provide_current_user),
    "optional_user": Provide(provide_optional_user),
    "site_admin": Provide(provide_site_admin, sync_to_thread=False),
}
