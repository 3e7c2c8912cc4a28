"""Store reads on a read replica (`GPTSTORE_DATABASE_REPLICA_URL`, core.db / core.deps.read_session).

The "replica" is the test server itself reached as a role whose every transaction is read-only, so what
goes through it is visible (its connections carry that role in pg_stat_activity) and cannot write. The
database is a committed copy of the migrated template (a replica sees only committed rows).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from core.app import create_app
from core.db import Database, create_engine
from core.settings import Settings
from retrieval.models import Dataset
from store.feedback import FeedbackService
from store.publishing import invalidate
from tests.asgi import app_client, app_client_for
from tests.conftest import _drop_database, migrated_database
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt

READER = "gptstore_test_replica_reader"


@pytest.fixture
async def replica_urls(
    server_urls: tuple[str, str], migrated_template: str
) -> AsyncIterator[tuple[str, str]]:
    """(primary URL, replica URL): a fresh committed database, and the same one as the read-only READER."""
    admin_url = server_urls[0]
    name = f"gptstore_replica_{os.getpid()}"
    primary = await migrated_database(admin_url, name, migrated_template)
    admin = create_engine(primary, pool_size=1)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            sa.text(
                f"DO $$ BEGIN CREATE ROLE {READER} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
        # What a hot standby enforces by itself: no transaction there can write.
        await conn.execute(sa.text(f"ALTER ROLE {READER} SET default_transaction_read_only = on"))
        await conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}"))
    await admin.dispose()
    replica = sa.make_url(primary).set(username=READER).render_as_string(hide_password=False)
    yield primary, replica
    await _drop_database(admin_url, name)


def replica_settings(settings: Settings, primary: str, replica: str) -> Settings:
    return settings.model_copy(update={"database_url": primary, "database_replica_url": replica})


async def reader_connections(db: Database) -> int:
    """Connections of READER to this database now (pg_stat_activity, read on the primary)."""
    async with db.session_scope() as session:
        return await session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :role AND datname = current_database()"
                " AND application_name = 'gptstore-replica'"
            ),
            {"role": READER},
        )


@pytest.fixture
async def replica_db(settings: Settings, replica_urls: tuple[str, str]) -> AsyncIterator[Database]:
    settings = replica_settings(settings, *replica_urls)
    db = Database.from_settings(settings, settings.database_url)
    yield db
    await db.dispose()


async def test_store_reads_go_to_the_replica_and_what_writes_or_names_a_user_stays_on_the_primary(
    settings: Settings, replica_urls: tuple[str, str], replica_db: Database, redis: Redis
) -> None:
    db = replica_db
    async with db.session_scope() as session:
        owner = await create_user(session, settings, plan="plus")
        visitor = await create_user(session, settings)
        listing = await create_published_gpt(session, owner, name="Replica Fjords")
        await create_conversation(session, visitor, listing.gpt_id)  # so the visitor may rate it
        dataset = Dataset(owner_id=owner.id, name="Fjord notes", access="open", license="CC-BY-4.0")
        session.add(dataset)
    gpt_id, dataset_id = listing.gpt_id, dataset.id
    app = create_app(replica_settings(settings, *replica_urls), db=db, redis=redis)

    reads = [
        "/api/store/gpts",
        "/api/store/gpts?q=fjords",
        "/api/store/categories",
        f"/api/store/gpts/{gpt_id}",
        f"/api/store/gpts/{gpt_id}/reviews",
        f"/api/store/creators/{owner.handle}",
        "/api/store/datasets",
        "/api/store/datasets/licenses",
        f"/api/store/datasets/{dataset_id}",
        "/",
        "/search?q=fjords",
        f"/g/{gpt_id}",
        f"/creators/{owner.handle}",
        "/datasets",
        f"/datasets/{dataset_id}",
    ]
    async with app_client(app) as client:
        for path in reads:
            await db.replica.dispose()  # no replica connection left from the previous read
            assert await reader_connections(db) == 0
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            assert await reader_connections(db) >= 1, f"{path} was not read on the replica"
        assert "Replica Fjords" in (await client.get("/api/store/gpts")).text  # the replica's rows

        # A signed-in reader may have just written: the primary answers, the replica is not opened.
        headers = auth_headers(visitor, settings)
        await db.replica.dispose()
        for path in (f"/api/store/gpts/{gpt_id}", "/api/store/gpts", f"/api/store/gpts/{gpt_id}/reviews"):
            assert (await client.get(path, headers=headers)).status_code == 200
        assert await reader_connections(db) == 0

        # Writes never touch it, and read their own write at once.
        rated = await client.put(f"/api/store/gpts/{gpt_id}/rating", json={"stars": 4}, headers=headers)
        assert rated.status_code == 200, rated.text
        mine = await client.get(f"/api/store/gpts/{gpt_id}/rating", headers=headers)
        assert mine.json()["stars"] == 4
        assert await reader_connections(db) == 0
    async with db.session_scope() as session:
        assert (await FeedbackService(session, settings).my_rating(visitor, gpt_id)).stars == 4


async def test_a_listing_read_on_the_replica_just_after_a_change_is_served_but_not_cached(
    settings: Settings, replica_urls: tuple[str, str], replica_db: Database, redis: Redis
) -> None:
    db = replica_db
    async with db.session_scope() as session:
        owner = await create_user(session, settings, plan="plus")
        listing = await create_published_gpt(session, owner, name="Lagging Fjords")
    settings = replica_settings(settings, *replica_urls).model_copy(
        update={"database_replica_lag_seconds": 60.0}
    )

    async def rename(name: str) -> None:  # behind the cache's back: no invalidation
        async with db.session_scope() as session:
            await session.execute(
                sa.text("UPDATE listing SET name = :name WHERE gpt_id = :id"),
                {"name": name, "id": listing.gpt_id},
            )

    async with app_client_for(settings, db=db, redis=redis) as client:

        async def listed() -> str:
            [item] = (await client.get("/api/store/gpts?sort=new")).json()["data"]
            return item["name"]

        assert await listed() == "Lagging Fjords"
        await rename("Renamed quietly")
        assert await listed() == "Lagging Fjords"  # no change announced: read on the replica, and cached
        await invalidate(redis, listing.gpt_id)  # what every store change does
        await rename("Renamed after the change")
        # Within the replica's lag of a change, what the replica shows may predate it: not kept.
        assert await listed() == "Renamed after the change"
        await rename("Renamed again")
        assert await listed() == "Renamed again"


async def test_nothing_can_write_through_the_replica(replica_db: Database) -> None:
    session = await replica_db.replica_session()
    assert session is not None
    async with session:
        assert await session.scalar(sa.text("SHOW transaction_read_only")) == "on"
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            await session.execute(
                sa.text("UPDATE listing SET name = 'written through the replica' WHERE false")
            )
    async with replica_db.read_session_scope() as session:
        assert await session.scalar(sa.text("SELECT current_user")) == READER


async def test_a_replica_that_is_down_sends_store_reads_to_the_primary_with_a_log_line(
    settings: Settings, replica_urls: tuple[str, str], redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    primary, _ = replica_urls
    down = sa.make_url(primary).set(database=f"no_such_database_{uuid.uuid4().hex[:8]}")
    settings = replica_settings(settings, primary, down.render_as_string(hide_password=False))
    db = Database.from_settings(settings, primary)
    try:
        async with db.session_scope() as session:
            owner = await create_user(session, settings, plan="plus")
            listing = await create_published_gpt(session, owner, name="Primary Fjords")
        async with app_client_for(settings, db=db, redis=redis) as client:
            with caplog.at_level(logging.WARNING, logger="gptstore.db"):
                first = await client.get("/api/store/gpts")
                page = await client.get(f"/api/store/gpts/{listing.gpt_id}")
        assert first.status_code == 200 and "Primary Fjords" in first.text
        assert page.status_code == 200
        warnings = [r for r in caplog.records if "read replica unavailable" in r.getMessage()]
        assert len(warnings) == 1  # the second read did not try the replica again within the retry time
        assert "no_such_database" in warnings[0].getMessage()
    finally:
        await db.dispose()


async def test_without_a_replica_setting_every_read_is_on_the_primary(settings: Settings) -> None:
    assert settings.database_replica_url is None
    db = Database.from_settings(settings, settings.database_url)
    try:
        assert db.replica is None
        assert await db.replica_session() is None
        async with db.read_session_scope() as session:
            assert await session.scalar(sa.text("SHOW transaction_read_only")) == "off"
    finally:
        await db.dispose()


def test_a_replica_needs_a_primary_server_url(tmp_path) -> None:
    with pytest.raises(ValueError, match="embedded server has no replica"):
        Settings(data_dir=tmp_path, database_replica_url="postgresql+asyncpg://reader@replica:5432/gptstore")
