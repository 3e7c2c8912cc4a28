"""Migration 0021: chunks keep their vectors; new vectors may wait in the tail; the downgrade puts any
waiting vector back into its chunk row before `embedding` is NOT NULL again."""

import asyncio
import uuid

import numpy as np
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import create_engine
from tests.conftest import _recreate_database

MODEL = "fake-embedder"
PREVIOUS = "0020_file_batches"


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return vector / np.linalg.norm(vector)


async def _fill(conn, chunks: int) -> dict:
    ids = {"user": uuid.uuid4(), "dataset": uuid.uuid4(), "file": uuid.uuid4()}
    await conn.execute(
        sa.text(
            "INSERT INTO user_account (id, email, handle, display_name, password_hash, plan, is_admin)"
            " VALUES (:id, 'old@example.com', 'old', 'Old', 'x', 'creator', false)"
        ),
        {"id": ids["user"]},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO dataset (id, owner_id, name, text_search_config)"
            " VALUES (:id, :owner, 'Harbour', 'simple')"
        ),
        {"id": ids["dataset"], "owner": ids["user"]},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO knowledge_file (id, dataset_id, owner_id, filename, media_type, bytes, sha256,"
            " access, status, chunks_done, chunks_total, chunk_count, token_count, chunk_size, chunk_overlap,"
            " embedding_model, attempts, pinned) VALUES (:id, :d, :o, 'log.md', 'text/markdown', 80,"
            " :sha, 'private', 'completed', :n, :n, :n, 12, 256, 64, :model, 1, false)"
        ),
        {
            "id": ids["file"],
            "d": ids["dataset"],
            "o": ids["user"],
            "sha": "a" * 64,
            "n": chunks,
            "model": MODEL,
        },
    )
    ids["chunks"] = {}
    for n in range(chunks):
        chunk_id = uuid.uuid4()
        ids["chunks"][chunk_id] = unit(n)
        await conn.execute(
            sa.text(
                "INSERT INTO knowledge_chunk (id, file_id, dataset_id, ord, text, token_count, char_start,"
                " char_end, embedding_model, embedding) VALUES (:id, :f, :d, :n, :text, 5, 0, 10, :model, :v)"
            ),
            {
                "id": chunk_id,
                "f": ids["file"],
                "d": ids["dataset"],
                "n": n,
                "text": f"entry {n}",
                "model": MODEL,
                "v": unit(n),
            },
        )
    return ids


async def _vectors(conn) -> dict:
    rows = (await conn.execute(sa.text("SELECT id, embedding FROM knowledge_chunk"))).all()
    return {row.id: row.embedding for row in rows}


async def test_chunks_keep_their_vectors_up_and_the_tail_goes_back_into_them_down(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_deferred_index_migration")
    await asyncio.to_thread(migrate.upgrade, url, PREVIOUS)
    engine = create_engine(url, pool_size=2)
    try:
        async with engine.begin() as conn:
            ids = await _fill(conn, chunks=4)
        await asyncio.to_thread(migrate.upgrade, url)

        async with engine.begin() as conn:
            vectors = await _vectors(conn)
            assert set(vectors) == set(ids["chunks"])
            for chunk_id, vector in vectors.items():
                assert np.allclose(vector.to_numpy(), ids["chunks"][chunk_id])  # untouched
            assert await conn.scalar(sa.text("SELECT count(*) FROM knowledge_chunk_tail")) == 0
            # Two chunks wait in the tail, as ingestion leaves them before the indexer runs.
            waiting = list(ids["chunks"])[:2]
            await conn.execute(
                sa.text("UPDATE knowledge_chunk SET embedding = NULL WHERE id = ANY(:ids)"), {"ids": waiting}
            )
            for chunk_id in waiting:
                await conn.execute(
                    sa.text(
                        "INSERT INTO knowledge_chunk_tail (chunk_id, dataset_id, file_id, embedding_model,"
                        " embedding) VALUES (:c, :d, :f, :model, :v)"
                    ),
                    {
                        "c": chunk_id,
                        "d": ids["dataset"],
                        "f": ids["file"],
                        "model": MODEL,
                        "v": ids["chunks"][chunk_id],
                    },
                )

        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
        async with engine.connect() as conn:
            vectors = await _vectors(conn)
            for chunk_id, vector in vectors.items():
                assert np.allclose(vector.to_numpy(), ids["chunks"][chunk_id])
            assert await conn.scalar(sa.text("SELECT to_regclass('knowledge_chunk_tail')")) is None
            nullable = await conn.scalar(
                sa.text(
                    "SELECT is_nullable FROM information_schema.columns"
                    " WHERE table_name = 'knowledge_chunk' AND column_name = 'embedding'"
                )
            )
            assert nullable == "NO"
        await asyncio.to_thread(migrate.upgrade, url)  # and up again
    finally:
        await engine.dispose()
