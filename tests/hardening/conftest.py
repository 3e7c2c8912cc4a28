"""Fixtures of the race tests (tests/hardening/test_races*.py).

Races need real concurrency, so these tests do not use the rolled-back `db` of the other tests (one
connection serialises everything): the app runs on its own engine against a database of its own,
emptied before each test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from core.db import Database, create_engine
from core.settings import Settings
from tests.conftest import TEST_SECRET, _drop_database, migrated_database
from tests.hardening.concurrency import PARALLEL, running_app


@pytest.fixture(scope="session")
async def race_database_url(server_urls: tuple[str, str], migrated_template: str) -> AsyncIterator[str]:
    """A database of the race tests: their committed rows never meet the other tests."""
    admin_url = server_urls[0]
    name = f"gptstore_races_{os.getpid()}"
    url = await migrated_database(admin_url, name, migrated_template)
    yield url
    await _drop_database(admin_url, name)


@pytest.fixture
async def race_db(race_database_url: str) -> AsyncIterator[Database]:
    """Real, separate connections on an emptied database (every table hangs off an account or an
    organisation)."""
    db = Database(create_engine(race_database_url, pool_size=2))
    async with db.session_scope() as session:
        await session.execute(sa.text("TRUNCATE user_account, organization CASCADE"))
    yield db
    await db.dispose()


@pytest.fixture
def race_settings(race_database_url: str, server_urls: tuple[str, str], tmp_path: Path) -> Settings:
    return Settings(
        database_url=race_database_url,
        redis_url=server_urls[1],
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        llm_provider="offline",
        db_pool_size=PARALLEL,
    )


@pytest.fixture
async def race_client(
    race_settings: Settings, race_db: Database, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on its own engine (a pool of PARALLEL connections), not on a test transaction."""
    async with running_app(race_settings, redis) as client:
        yield client
