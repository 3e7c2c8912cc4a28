import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core import migrate
from core.db import create_engine
from core.registry import metadata
from tests.conftest import _recreate_database


def _diff(connection) -> list:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": migrate.include_object}
    )
    return compare_metadata(context, metadata)


async def test_migrations_build_an_empty_database_that_matches_the_models(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_migrations_check")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            extension = await conn.scalar(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
            assert extension is not None
        assert await migrate.schema_state(engine) == ("current", migrate.head_revision())
    finally:
        await engine.dispose()
