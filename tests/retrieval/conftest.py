"""Fixtures of the retrieval tests: the app on committed transactions (`live`: ingestion jobs and requests
side by side, as in a worker), and for the web import tests the local site (one per run, emptied per test)
and the app with 127.0.0.1 allowed, as an operator would list an intranet host."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from core.db import Database
from core.models import User
from core.settings import Settings
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.retrieval.web_site import LocalSite
from tests.tools.servers import loopback_settings


@pytest.fixture(scope="session")
def local_site() -> Iterator[LocalSite]:
    with LocalSite() as site:
        yield site


@pytest.fixture
def site(local_site: LocalSite) -> LocalSite:
    local_site.reset()
    return local_site


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """The test settings with 127.0.0.1 (the site) allowed, as an operator would list an intranet host."""
    return loopback_settings(settings)


@pytest.fixture
async def web_client(web_settings: Settings, db: Database, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client_for(web_settings, db=db, redis=redis) as client:
        yield client


@dataclass
class Live:
    db: Database
    client: httpx.AsyncClient
    headers: dict[str, str]


@pytest.fixture
async def live(engine, settings: Settings, redis: Redis) -> AsyncIterator[Live]:
    """An app on committed transactions from the pool: the job and the requests run side by side (the
    `db` fixture's sessions share one connection and roll back)."""
    db = Database(engine)
    async with db.session_scope() as session:
        user = await create_user(session, settings, plan="plus")
    try:
        async with app_client_for(settings, db=db, redis=redis) as client:
            yield Live(db, client, auth_headers(user, settings))
    finally:
        async with db.session_scope() as session:  # GPTs, files, chunks and their tail go with their owner
            await session.execute(sa.delete(User).where(User.id == user.id))
