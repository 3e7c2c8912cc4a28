"""Migration 0026: GPTs whose language tag has a region or script (`pt-BR`) get their language's full-text
configuration, their chunks re-indexed with it (stemmed matches); the downgrade puts `simple` back."""

import asyncio
import uuid

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core import migrate
from core.db import create_engine
from core.models import User
from retrieval.models import Dataset, KnowledgeFile
from tests.conftest import _recreate_database

PREVIOUS = "0025_attachments_same_owner"
TEXT = "As viagens pelos fiordes partem de Bergen."


async def test_region_tags_get_their_languages_configuration(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_region_language_migration")
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
    engine = create_engine(url, pool_size=2)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            owner = User(email="p@example.com", handle="p", display_name="P", password_hash="x", plan="plus")
            session.add(owner)
            await session.flush()

            def gpt(language: str | None, config: str) -> uuid.UUID:
                row = Gpt(owner_id=owner.id, name="G", language=language)
                session.add(row)
                session.add(Dataset(id=row.id, home_gpt_id=row.id, owner_id=owner.id, name="",
                                    text_search_config=config))  # fmt: skip
                return row.id

            brazil = gpt("pt-BR", "simple")  # stored before subtags were read
            serbian = gpt("sr-Latn-RS", "simple")
            british = gpt("en-GB", "english")  # saved since: already right
            german = gpt("de", "simple")  # no subtag: the old code read it, so `simple` was chosen elsewhere
            unknown = gpt("xx-YY", "simple")  # no configuration for its language
            await session.flush()
            for dataset_id in (brazil, german):
                file = KnowledgeFile(dataset_id=dataset_id, owner_id=owner.id, filename="f.md",
                                     media_type="text/markdown", bytes=len(TEXT), sha256="0" * 64,
                                     status="completed", chunk_size=512, chunk_overlap=64)  # fmt: skip
                session.add(file)
                await session.flush()
                await session.execute(
                    sa.text(
                        "INSERT INTO knowledge_chunk (id, file_id, dataset_id, ord, text, token_count,"
                        " char_start, char_end, embedding_model, text_search_config)"
                        " VALUES (:id, :file, :dataset, 0, :text, 9, 0, 42, 'm', CAST('simple' AS regconfig))"
                    ),
                    {"id": uuid.uuid4(), "file": file.id, "dataset": dataset_id, "text": TEXT},
                )
            await session.commit()

        stemmed = "SELECT dataset_id FROM knowledge_chunk WHERE tsv @@ to_tsquery('portuguese', 'fiorde')"
        configs = "SELECT id, text_search_config FROM dataset"
        chunk_configs = "SELECT dataset_id, CAST(text_search_config AS text) FROM knowledge_chunk"
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text(stemmed))).all() == []

        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            assert dict((await conn.execute(sa.text(configs))).all()) == {
                brazil: "portuguese",
                serbian: "serbian",
                british: "english",
                german: "simple",
                unknown: "simple",
            }
            assert dict((await conn.execute(sa.text(chunk_configs))).all()) == {
                brazil: "portuguese",
                german: "simple",
            }
            assert (await conn.execute(sa.text(stemmed))).scalars().all() == [brazil]

        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
        async with engine.connect() as conn:
            assert dict((await conn.execute(sa.text(configs))).all()) == {
                brazil: "simple",
                serbian: "simple",
                british: "simple",
                german: "simple",
                unknown: "simple",
            }
            assert dict((await conn.execute(sa.text(chunk_configs))).all()) == {
                brazil: "simple",
                german: "simple",
            }
    finally:
        await engine.dispose()
