"""The vector tail and its indexer: chunk vectors written outside the HNSW graph, moved into it later.

Inserting into an HNSW graph costs far more than the rest of a chunk write (bench/writes.py: COPY into
the table with its HNSW index is several times slower than without), so ingestion writes each chunk with
`embedding` NULL (pgvector's HNSW index skips NULLs) and its vector into `knowledge_chunk_tail`, which has
no vector index. Search reads both, the tail by an exact scan (`retrieval.search`), so a file is
searchable the moment it is `completed`. The indexer job then moves the tail into the chunk rows, and so
into the index, batch by batch. As Milvus searches its growing segments by brute force until they are
sealed and indexed, and Lucene searches new segments until they are merged.

Each batch is one transaction that sets the chunks' `embedding` and deletes their tail rows, so a search
(one statement, one snapshot) sees every chunk exactly once: in the tail before, in the index after. Rows
are claimed with `FOR NO KEY UPDATE ... SKIP LOCKED` on the chunk row (the row a file deletion locks
first), so two indexers move disjoint rows, a deletion is never deadlocked, and a run killed mid-batch
leaves its batch in the tail for the next run.

The tail of a dataset is capped (`vector_tail_max_rows`): a file that starts while its dataset's tail is
over the cap writes straight into the index, so the exact scan stays bounded whatever the import.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.settings import Settings
from retrieval.models import KnowledgeChunkTail, KnowledgeFile

logger = logging.getLogger("gptstore.retrieval")

INDEXER_JOB = "retrieval.index_vectors"

_MOVE = sa.text(
    """
    WITH picked AS MATERIALIZED (
        SELECT c.id FROM knowledge_chunk_tail t JOIN knowledge_chunk c ON c.id = t.chunk_id
        LIMIT :rows FOR NO KEY UPDATE OF c SKIP LOCKED
    ),
    moved AS (
        DELETE FROM knowledge_chunk_tail t USING picked WHERE t.chunk_id = picked.id
        RETURNING t.chunk_id, t.embedding_model, t.embedding
    ),
    indexed AS (
        UPDATE knowledge_chunk c SET embedding = moved.embedding FROM moved
        WHERE c.id = moved.chunk_id AND c.embedding_model = moved.embedding_model
        RETURNING c.id
    )
    SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM indexed) AS indexed
    """
)


async def tail_rows(session: AsyncSession, dataset_id: uuid.UUID, limit: int) -> int:
    """How many of a dataset's vectors wait outside the index, counted up to `limit` (the cap)."""
    inner = sa.select(sa.literal(1)).where(KnowledgeChunkTail.dataset_id == dataset_id).limit(limit)
    return await session.scalar(sa.select(sa.func.count()).select_from(inner.subquery()))


async def use_tail(session: AsyncSession, settings: Settings, dataset_id: uuid.UUID) -> bool:
    """Whether a file starting now writes its vectors to the tail (the dataset's tail is under the cap)."""
    cap = settings.vector_tail_max_rows
    return cap > 0 and await tail_rows(session, dataset_id, cap) < cap


async def move_batch(db: Database, rows: int) -> int:
    """Move up to `rows` tail vectors into their chunk rows (and the HNSW index) in one transaction;
    returns how many left the tail (0: the tail is empty, or all of it is being moved by others)."""
    async with db.session_scope() as session:
        result = (await session.execute(_MOVE, {"rows": rows})).one()
    return result.moved


async def ingestion_running(db: Database) -> bool:
    """Whether some file is being ingested now (the indexer gives way to it)."""
    async with db.session_scope() as session:
        return bool(
            await session.scalar(
                sa.select(
                    sa.exists().where(
                        KnowledgeFile.status == "in_progress", KnowledgeFile.dispatched.is_(True)
                    )
                )
            )
        )


async def index_tail(db: Database, settings: Settings, *, yield_to_ingestion: bool = True) -> int:
    """Move the tail into the index batch by batch; returns how many vectors were moved.

    With `yield_to_ingestion`, stops after the first batch while files are being ingested: every file
    that completes queues the indexer again, and the last one queues the run that empties the tail, so
    ingestion keeps the database to itself and the indexer takes the gaps.
    """
    moved = 0
    while True:
        count = await move_batch(db, settings.vector_indexer_batch_rows)
        moved += count
        if count == 0 or (yield_to_ingestion and await ingestion_running(db)):
            break
    if moved:
        logger.info("moved %d vectors into the HNSW index", moved)
    return moved


async def tail_waiting(db: Database) -> bool:
    async with db.session_scope() as session:
        return bool(
            await session.scalar(sa.select(sa.exists().where(KnowledgeChunkTail.chunk_id.is_not(None))))
        )


async def enqueue_indexer(queue: Queue) -> None:
    """Queue one indexer run (ignored while one is already queued)."""
    await queue.enqueue(INDEXER_JOB, key="index-vectors", timeout=0, retries=1)


# SAQ entry point ------------------------------------------------------------------------------------------


async def index_vectors(ctx: dict[str, Any]) -> int:
    return await index_tail(ctx["db"], ctx["settings"])


functions = [(INDEXER_JOB, index_vectors)]
