"""Migration 0023: each open dataset's "used by" count moves from `dataset_usage` onto its row and back on
the downgrade; nothing counted is lost either way."""

import asyncio
import uuid

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import create_engine
from tests.conftest import _recreate_database

PREVIOUS = "0022_cjk_fast_path"


async def test_the_count_moves_onto_the_dataset_row_and_back(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_used_by_migration")
    await asyncio.to_thread(migrate.upgrade, url, PREVIOUS)
    engine = create_engine(url, pool_size=2)
    owner, used, unused = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO user_account (id, email, handle, display_name, password_hash, plan,"
                    " is_admin) VALUES (:id, 'old@example.com', 'old', 'Old', 'x', 'creator', false)"
                ),
                {"id": owner},
            )
            for dataset_id, name in ((used, "Ferries"), (unused, "Volcanoes")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO dataset (id, owner_id, name, access, license, text_search_config)"
                        " VALUES (:id, :owner, :name, 'open', 'CC0-1.0', 'simple')"
                    ),
                    {"id": dataset_id, "owner": owner, "name": name},
                )
            await conn.execute(
                sa.text("INSERT INTO dataset_usage (dataset_id, public_gpts) VALUES (:id, 7)"), {"id": used}
            )

        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            counts = dict((await conn.execute(sa.text("SELECT id, used_by FROM dataset"))).all())
            assert counts == {used: 7, unused: 0}
            assert await conn.scalar(sa.text("SELECT to_regclass('dataset_usage')")) is None

        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT dataset_id, public_gpts FROM dataset_usage"))).all()
            assert dict(rows) == {used: 7}
        await asyncio.to_thread(migrate.upgrade, url)  # and up again
    finally:
        await engine.dispose()
