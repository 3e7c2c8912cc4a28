"""Request-scoped providers shared by every context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import provide_current_user, provide_optional_user
from core.settings import Settings


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed after the handler returns, rolled back if it raised."""
    async with state.db.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_redis(state: State) -> Redis:
    return state.redis


dependencies = {
    "db_session": Provide(provide_db_session),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
    "current_user": Provide(provide_current_user),
    "optional_user": Provide(provide_optional_user),
}
