"""Migration 0018: each GPT's knowledge becomes its home dataset with the same files and chunks.

A database is built at the previous revision (0017), filled with a GPT, a published version, a file and
its embedded chunks through the old columns, then upgraded: nothing is copied or re-embedded (same ids,
same vectors), the GPT's routes still list the file, and search still finds the chunk.
"""

import asyncio
import uuid

import numpy as np
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import Database, create_engine
from retrieval.service import KnowledgeService
from tests.conftest import _recreate_database
from tests.retrieval.test_ingestion import FakeEmbedder

MODEL = "fake-embedder"


async def _fill_previous_schema(conn, vector: list[float]) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in ("user", "gpt", "file", "chunk", "version")}
    await conn.execute(
        sa.text(
            "INSERT INTO user_account (id, email, handle, display_name, password_hash, plan, is_admin)"
            " VALUES (:id, 'old@example.com', 'old', 'Old', 'x', 'creator', false)"
        ),
        {"id": ids["user"]},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO gpt (id, owner_id, name, description, instructions, welcome_message,"
            " conversation_starters, tags, top_k)"
            " VALUES (:id, :owner, 'Fjord Guide', '', '', '', '[]', '[]', 6)"
        ),
        {"id": ids["gpt"], "owner": ids["user"]},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO knowledge_base (gpt_id, owner_id, text_search_config) VALUES (:g, :o, 'english')"
        ),
        {"g": ids["gpt"], "o": ids["user"]},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO knowledge_file (id, gpt_id, owner_id, filename, media_type, bytes, sha256, access,"
            " status, chunks_done, chunks_total, chunk_count, token_count, chunk_size, chunk_overlap,"
            " embedding_model, attempts, pinned) VALUES (:id, :g, :o, 'ferries.md', 'text/markdown', 80,"
            " :sha, 'open', 'completed', 1, 1, 1, 12, 256, 64, :model, 1, true)"
        ),
        {"id": ids["file"], "g": ids["gpt"], "o": ids["user"], "sha": "a" * 64, "model": MODEL},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO knowledge_chunk (id, file_id, gpt_id, ord, text, token_count, char_start, char_end,"
            " embedding_model, embedding, text_search_config) VALUES (:id, :f, :g, 0,"
            " 'The Geiranger ferry runs four times a day.', 12, 0, 42, :model, :v, 'english')"
        ),
        {
            "id": ids["chunk"],
            "f": ids["file"],
            "g": ids["gpt"],
            "model": MODEL,
            "v": np.asarray(vector, dtype=np.float32),
        },
    )
    await conn.execute(
        sa.text(
            "INSERT INTO gpt_version (id, gpt_id, number, visibility, review_status, review_reasons, config,"
            " file_ids) VALUES (:id, :g, 1, 'public', 'approved', '[]', '{}', CAST(:files AS jsonb))"
        ),
        {"id": ids["version"], "g": ids["gpt"], "files": f'["{ids["file"]}"]'},
    )
    return ids


async def test_previous_knowledge_becomes_home_datasets_without_reembedding(server_urls, settings):
    url = await _recreate_database(server_urls[0], "gptstore_datasets_migration")
    embedder = FakeEmbedder(model_id=MODEL)
    vector = (await embedder.embed_documents(["The Geiranger ferry runs four times a day."]))[0]
    await asyncio.to_thread(migrate.upgrade, url, "0017_embed")
    engine = create_engine(url, pool_size=2)
    try:
        async with engine.begin() as conn:
            ids = await _fill_previous_schema(conn, vector)
        await asyncio.to_thread(migrate.upgrade, url)

        async with engine.connect() as conn:
            dataset = (await conn.execute(sa.text("SELECT * FROM dataset"))).one()
            assert (dataset.id, dataset.home_gpt_id, dataset.owner_id) == (
                ids["gpt"],
                ids["gpt"],
                ids["user"],
            )
            assert (dataset.name, dataset.access, dataset.version) == ("Fjord Guide", "private", 1)
            assert dataset.text_search_config == "english"
            file = (await conn.execute(sa.text("SELECT * FROM knowledge_file"))).one()
            assert (file.id, file.dataset_id, file.access, file.pinned) == (
                ids["file"],
                ids["gpt"],
                "open",
                True,
            )
            chunk = (
                await conn.execute(sa.text("SELECT id, dataset_id, embedding FROM knowledge_chunk"))
            ).one()
            assert (chunk.id, chunk.dataset_id) == (ids["chunk"], ids["gpt"])
            assert np.allclose(chunk.embedding.to_numpy(), vector)  # not re-embedded
            attached = (await conn.execute(sa.text("SELECT gpt_id, dataset_id FROM gpt_dataset"))).all()
            assert attached == [(ids["gpt"], ids["gpt"])]
            version = (await conn.execute(sa.text("SELECT file_ids, datasets FROM gpt_version"))).one()
            assert version.file_ids == [str(ids["file"])]
            assert version.datasets == [{"id": str(ids["gpt"]), "version": 1, "follow_latest": False}]

        db = Database.from_settings(settings, url)
        try:
            async with db.session_scope() as session:
                knowledge = KnowledgeService(session, settings, embedder=embedder)
                base = await knowledge.knowledge_base_of(ids["gpt"])
                assert [f.id for f in await knowledge.list_files(base)] == [ids["file"]]
                draft = await knowledge.search(ids["gpt"], "Geiranger ferry", k=3)
                pinned = await knowledge.search(ids["gpt"], "Geiranger ferry", k=3, file_ids=[ids["file"]])
                for hits in (draft, pinned):
                    assert [h.hit.chunk_id for h in hits] == [ids["chunk"]]
                    assert (hits[0].dataset_id, hits[0].dataset_name, hits[0].access) == (
                        ids["gpt"],
                        "Fjord Guide",
                        "open",
                    )
        finally:
            await db.dispose()

        # And back: the downgrade restores the previous tables with the same rows.
        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), "0017_embed")
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT id, gpt_id FROM knowledge_chunk"))).one()
            assert (row.id, row.gpt_id) == (ids["chunk"], ids["gpt"])
            assert await conn.scalar(sa.text("SELECT gpt_id FROM knowledge_base")) == ids["gpt"]
    finally:
        await engine.dispose()
