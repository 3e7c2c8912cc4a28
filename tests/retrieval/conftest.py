"""Fixtures of the web import tests: the local site (one per run, emptied per test) and the app with
127.0.0.1 allowed, as an operator would list an intranet host."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from core.db import Database
from core.settings import Settings
from tests.asgi import app_client_for
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
