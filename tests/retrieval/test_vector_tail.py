"""The vector tail (docs/ingestion.md#the-vector-tail): a chunk is searchable the moment its file is
`completed`, before the indexer moved its vector into the HNSW index, and found exactly once after; the
indexer is safe twice at once and when killed; deletions take the tail with them."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from core.db import Database, create_engine
from retrieval import search as search_module
from retrieval.indexer import _MOVE, index_tail, move_batch, tail_rows
from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk, KnowledgeChunkTail
from retrieval.reindex import reindex
from tests.retrieval.conftest import Live
from tests.retrieval.test_ingestion import (
    SMALL_CHUNKS,
    FakeEmbedder,
    create_gpt,
    harbour_log,
    search,
    upload,
)

EMBEDDER = FakeEmbedder()


async def chunk_state(session, dataset_id) -> tuple[int, int, int]:
    """(chunks, chunks with their vector in the index column, tail rows) of a dataset."""
    chunks = await session.scalar(sa.select(sa.func.count()).where(KnowledgeChunk.dataset_id == dataset_id))
    indexed = await session.scalar(
        sa.select(sa.func.count()).where(
            KnowledgeChunk.dataset_id == dataset_id, KnowledgeChunk.embedding.is_not(None)
        )
    )
    return chunks, indexed, await tail_rows(session, dataset_id, 10**9)


def found_once(hits: list[dict]) -> list[str]:
    ids = [h["chunk_id"] for h in hits]
    assert len(ids) == len(set(ids)), "a chunk was returned twice"
    return ids


@pytest.mark.parametrize("strategy", ["exact", "hnsw"])
async def test_a_chunk_is_found_before_the_indexer_ran_and_exactly_once_after(
    strategy, client, creator_headers, db, settings, session, monkeypatch
):
    monkeypatch.setattr(search_module, "EXACT_SCAN_MAX_CHUNKS", 10**9 if strategy == "exact" else 0)
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(12))
    assert await ingest(db, settings, file_id) == "completed"  # the model the search route embeds with
    dataset_id = uuid.UUID(gpt_id)
    chunks, indexed, tail = await chunk_state(session, dataset_id)
    assert chunks >= 12 and indexed == 0 and tail == chunks  # nothing in the HNSW index yet

    query = "Entry 7 closes with remark number 52 of the lighthouse keeper"
    target = await session.scalar(
        sa.select(KnowledgeChunk.id).where(
            KnowledgeChunk.file_id == file_id, KnowledgeChunk.text.contains("remark number 52 ")
        )
    )
    before = await search(client, creator_headers, gpt_id, query, mode="vector", k=5)
    assert found_once(before)[0] == str(target)

    # Half moved: one snapshot sees every chunk once, some in the index, the rest in the tail. The tail is
    # scanned exactly, so all of it is found; HNSW is approximate (other tests' chunks share its graph), so
    # of the indexed half the exact strategy finds all and HNSW may miss one at the edge, never repeat one.
    settings.vector_indexer_batch_rows = chunks // 2
    assert await move_batch(db, settings.vector_indexer_batch_rows) == chunks // 2
    half = await search(client, creator_headers, gpt_id, query, mode="vector", k=chunks)
    every = {str(i) for i in await chunk_ids(session, file_id)}
    waiting = {
        str(i)
        for i in await session.scalars(
            sa.select(KnowledgeChunkTail.chunk_id).where(KnowledgeChunkTail.file_id == file_id)
        )
    }
    assert len(waiting) == chunks - chunks // 2
    assert waiting <= set(found_once(half)) <= every
    if strategy == "exact":
        assert set(found_once(half)) == every

    assert await index_tail(db, settings, yield_to_ingestion=False) == chunks - chunks // 2
    assert await chunk_state(session, dataset_id) == (chunks, chunks, 0)
    after = await search(client, creator_headers, gpt_id, query, mode="vector", k=chunks)
    assert found_once(after)[0] == str(target)
    assert set(found_once(after)) <= every
    if strategy == "exact":
        assert len(after) == chunks
    hybrid = await search(client, creator_headers, gpt_id, query, mode="hybrid", k=5)
    assert found_once(hybrid)[0] == str(target)
    assert await index_tail(db, settings) == 0  # idempotent: nothing left to move


async def chunk_ids(session, file_id) -> list[uuid.UUID]:
    return list(await session.scalars(sa.select(KnowledgeChunk.id).where(KnowledgeChunk.file_id == file_id)))


async def test_a_dataset_over_the_tail_cap_writes_straight_into_the_index(
    client, creator_headers, db, settings, session
):
    settings.vector_tail_max_rows = 5
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    dataset_id = uuid.UUID(gpt_id)
    first = await upload(client, creator_headers, gpt_id, "a.md", harbour_log(8))
    assert await ingest(db, settings, first, embedder=EMBEDDER) == "completed"
    chunks, indexed, tail = await chunk_state(session, dataset_id)
    assert indexed == 0 and tail == chunks >= 8  # under the cap when it started: one file may overshoot
    second = await upload(client, creator_headers, gpt_id, "b.md", harbour_log(8, place="port"))
    assert await ingest(db, settings, second, embedder=EMBEDDER) == "completed"
    total, indexed, tail = await chunk_state(session, dataset_id)
    assert (indexed, tail) == (total - chunks, chunks)  # the second file went into the index
    settings.vector_tail_max_rows = 0  # the tail off: every write goes into the index
    third = await upload(client, creator_headers, gpt_id, "c.md", harbour_log(3, place="bay"))
    assert await ingest(db, settings, third, embedder=EMBEDDER) == "completed"
    assert (await chunk_state(session, dataset_id))[2] == chunks


async def test_deleting_a_file_or_its_dataset_removes_its_tail(
    client, creator_headers, db, settings, session
):
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    files = [
        await upload(client, creator_headers, gpt_id, f"{place}.md", harbour_log(4, place=place))
        for place in ("harbour", "port")
    ]
    for file_id in files:
        assert await ingest(db, settings, file_id, embedder=EMBEDDER) == "completed"
    in_tail = sa.select(sa.func.count()).where(KnowledgeChunkTail.file_id == files[0])
    assert await session.scalar(in_tail) > 0
    deleted = await client.delete(f"/api/gpts/{gpt_id}/files/{files[0]}", headers=creator_headers)
    assert deleted.status_code == 204
    assert await session.scalar(in_tail) == 0
    assert (await chunk_state(session, uuid.UUID(gpt_id)))[2] > 0  # the other file's rows stay
    deleted = await client.delete(f"/api/gpts/{gpt_id}", headers=creator_headers)
    assert deleted.status_code == 204
    assert (await chunk_state(session, uuid.UUID(gpt_id))) == (0, 0, 0)


async def test_reembedding_drops_the_old_models_tail(client, creator_headers, db, settings, session):
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(5))
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder("fake-old")) == "completed"
    chunks = (await chunk_state(session, uuid.UUID(gpt_id)))[0]
    assert await reindex(db, settings, embedder=FakeEmbedder("fake-new")) == chunks
    # The new vectors went straight into the index; the old ones must not come back from the tail.
    assert await chunk_state(session, uuid.UUID(gpt_id)) == (chunks, chunks, 0)
    assert await index_tail(db, settings) == 0


# Two indexers, and a killed one: on committed transactions ------------------------------------------------


async def fill_tail(live: Live, settings, files: int) -> tuple[uuid.UUID, dict[uuid.UUID, np.ndarray]]:
    gpt_id = await create_gpt(live.client, live.headers, **SMALL_CHUNKS)
    for n in range(files):
        file_id = await upload(live.client, live.headers, gpt_id, f"{n}.md", harbour_log(10, place=f"p{n}"))
        assert await ingest(live.db, settings, file_id, embedder=EMBEDDER) == "completed"
    async with live.db.session_scope() as session:
        rows = (
            await session.execute(
                sa.select(KnowledgeChunkTail.chunk_id, KnowledgeChunkTail.embedding).where(
                    KnowledgeChunkTail.dataset_id == uuid.UUID(gpt_id)
                )
            )
        ).all()
    return uuid.UUID(gpt_id), {row.chunk_id: row.embedding.to_numpy() for row in rows}


async def assert_all_indexed(live: Live, dataset_id: uuid.UUID, vectors: dict[uuid.UUID, np.ndarray]):
    async with live.db.session_scope() as session:
        assert (await chunk_state(session, dataset_id))[1:] == (len(vectors), 0)
        rows = (
            await session.execute(
                sa.select(KnowledgeChunk.id, KnowledgeChunk.embedding).where(
                    KnowledgeChunk.dataset_id == dataset_id
                )
            )
        ).all()
    assert {row.id for row in rows} == set(vectors)
    for row in rows:
        assert np.allclose(row.embedding.to_numpy(), vectors[row.id])


async def test_two_indexers_at_once_move_every_vector_exactly_once(live, settings, database_url):
    dataset_id, vectors = await fill_tail(live, settings, files=3)
    settings.vector_indexer_batch_rows = 4  # many small batches, so the two interleave
    engine = create_engine(database_url, pool_size=4)
    try:
        dbs = [Database(engine), Database(engine)]
        moved = await asyncio.gather(*(index_tail(db, settings, yield_to_ingestion=False) for db in dbs))
    finally:
        await engine.dispose()
    assert sum(moved) == len(vectors)
    await assert_all_indexed(live, dataset_id, vectors)


async def test_an_indexer_killed_mid_batch_leaves_its_batch_for_the_next_run(live, settings, database_url):
    dataset_id, vectors = await fill_tail(live, settings, files=1)
    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.connect() as victim, engine.connect() as killer:
            pid = await victim.scalar(sa.text("SELECT pg_backend_pid()"))
            moved = (await victim.execute(_MOVE, {"rows": 5})).one()
            assert moved.moved == 5  # moved, not committed
            await killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa.exc.DBAPIError):
                await victim.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    async with live.db.session_scope() as session:
        assert (await chunk_state(session, dataset_id))[1:] == (0, len(vectors))
    assert await index_tail(live.db, settings, yield_to_ingestion=False) == len(vectors)
    await assert_all_indexed(live, dataset_id, vectors)
