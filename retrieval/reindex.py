"""Re-embedding: `reindex` moves the chunks of an earlier embedding model to the current one, batch by
batch (each commits on its own), so an interrupted run is continued by running it again
(`gptstore reindex`, docs/ingestion.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa

from core.db import Database
from core.settings import Settings
from retrieval.embedding import Embedder, get_embedder
from retrieval.models import KnowledgeChunk, KnowledgeChunkTail, KnowledgeFile
from retrieval.search import ensure_vector_index

logger = logging.getLogger("gptstore.retrieval")


async def chunks_to_reindex(db: Database, model_id: str, dataset_id: uuid.UUID | None = None) -> int:
    """How many chunks (of one dataset, or of all) were embedded by another model than `model_id`."""
    async with db.session_scope() as session:
        return await session.scalar(sa.select(sa.func.count()).where(*_other_model(model_id, dataset_id)))


def _other_model(model_id: str, dataset_id: uuid.UUID | None) -> list[Any]:
    criteria = [KnowledgeChunk.embedding_model != model_id]
    if dataset_id is not None:
        criteria.append(KnowledgeChunk.dataset_id == dataset_id)
    return criteria


async def reindex(
    db: Database,
    settings: Settings,
    *,
    dataset_id: uuid.UUID | None = None,
    embedder: Embedder | None = None,
    batch_size: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Re-embed chunks made by another model with the current one; returns how many were re-embedded.

    Each batch commits on its own and only chunks of another model are read, so an interrupted run is
    continued by running it again. A file counts as the new model's (and becomes searchable with it) once
    all its chunks are.
    """
    embedder = embedder or get_embedder(settings)
    await embedder.load()
    model = embedder.model_id
    async with db.session_scope() as session:
        await ensure_vector_index(session, model, embedder.dimensions)
    done = 0
    after: tuple[uuid.UUID, int] | None = None
    key = sa.tuple_(KnowledgeChunk.file_id, KnowledgeChunk.ord)
    while True:
        query = (
            sa.select(KnowledgeChunk.id, KnowledgeChunk.file_id, KnowledgeChunk.ord, KnowledgeChunk.text)
            .where(*_other_model(model, dataset_id))
            .order_by(KnowledgeChunk.file_id, KnowledgeChunk.ord)
            .limit(batch_size)
        )
        if after is not None:  # keyset paging: a chunk that could not be updated is not read again
            query = query.where(key > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
        async with db.session_scope() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            break
        vectors = await embedder.embed_documents([row.text for row in rows])
        async with db.session_scope() as session:
            await session.execute(
                sa.update(KnowledgeChunk.__table__)
                .where(KnowledgeChunk.id == sa.bindparam("chunk_id"))
                .values(embedding=sa.bindparam("vector"), embedding_model=model),
                [
                    {"chunk_id": row.id, "vector": np.asarray(vector, dtype=np.float32)}
                    for row, vector in zip(rows, vectors, strict=True)
                ],
            )
            # A vector still waiting in the tail is the old model's: the indexer must not bring it back.
            await session.execute(
                sa.delete(KnowledgeChunkTail).where(KnowledgeChunkTail.chunk_id.in_([row.id for row in rows]))
            )
            await _mark_reindexed_files(session, model, dataset_id, {row.file_id for row in rows})
        done += len(rows)
        after = (rows[-1].file_id, rows[-1].ord)
        if progress is not None:
            progress(len(rows))
    async with db.session_scope() as session:  # files without chunks left of the old model
        await _mark_reindexed_files(session, model, dataset_id, None)
    if done:
        logger.info("re-embedded %d chunks with %s", done, model)
    return done


async def _mark_reindexed_files(
    session, model: str, dataset_id: uuid.UUID | None, file_ids: set[uuid.UUID] | None
) -> None:
    old_chunks = sa.exists().where(
        KnowledgeChunk.file_id == KnowledgeFile.id, KnowledgeChunk.embedding_model != model
    )
    query = (
        sa.update(KnowledgeFile)
        .where(
            KnowledgeFile.embedding_model.is_not(None),
            KnowledgeFile.embedding_model != model,
            ~old_chunks,
        )
        # Not a sign of life of the file's ingestion: an interrupted one must still look stale.
        .values(embedding_model=model, updated_at=KnowledgeFile.updated_at)
        .execution_options(synchronize_session=False)
    )
    if dataset_id is not None:
        query = query.where(KnowledgeFile.dataset_id == dataset_id)
    if file_ids is not None:
        query = query.where(KnowledgeFile.id.in_(file_ids))
    await session.execute(query)
