"""Migration 0024: `gpt.language` takes the longest tags the schema accepts (`es-Latn-419`); the downgrade
keeps their language and script, in drafts and in the published versions they may be restored from."""

import asyncio
import json
import uuid

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import create_engine
from tests.conftest import _recreate_database

PREVIOUS = "0023_dataset_used_by"


async def test_long_tags_are_stored_and_cut_to_language_and_script_on_the_way_down(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_language_length_migration")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url, pool_size=2)
    owner, long_tag, short_tag = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO user_account (id, email, handle, display_name, password_hash, plan,"
                    " is_admin) VALUES (:id, 'polyglot@example.com', 'polyglot', 'P', 'x', 'plus', false)"
                ),
                {"id": owner},
            )
            for gpt_id, tag in ((long_tag, "es-Latn-419"), (short_tag, "pt-BR")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO gpt (id, owner_id, name, description, instructions, welcome_message,"
                        " conversation_starters, tags, top_k, language)"
                        " VALUES (:id, :owner, 'P', '', '', '', '[]', '[]', 6, :tag)"
                    ),
                    {"id": gpt_id, "owner": owner, "tag": tag},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO gpt_version (id, gpt_id, number, visibility, review_status,"
                        " review_reasons, config, file_ids)"
                        " VALUES (:id, :gpt, 1, 'private', 'approved', '[]', CAST(:config AS jsonb), '[]')"
                    ),
                    {"id": uuid.uuid4(), "gpt": gpt_id, "config": json.dumps({"language": tag, "name": "P"})},
                )

        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
        async with engine.connect() as conn:
            drafts = dict((await conn.execute(sa.text("SELECT id, language FROM gpt"))).all())
            assert drafts == {long_tag: "es-Latn", short_tag: "pt-BR"}
            versions = dict(
                (await conn.execute(sa.text("SELECT gpt_id, config->>'language' FROM gpt_version"))).all()
            )
            assert versions == {long_tag: "es-Latn", short_tag: "pt-BR"}
            length = await conn.scalar(
                sa.text(
                    "SELECT character_maximum_length FROM information_schema.columns"
                    " WHERE table_name = 'gpt' AND column_name = 'language'"
                )
            )
            assert length == 8
        await asyncio.to_thread(migrate.upgrade, url)  # and up again
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE gpt SET language = 'zh-Hant-TW' WHERE id = :id"), {"id": long_tag}
            )
    finally:
        await engine.dispose()
