"""Ingestion jobs: parse, chunk, embed and index one file; resume what a crash interrupted; re-embed.

A run is idempotent per file: chunks are numbered, a run continues after the last committed one, and a
Redis lock keeps two runs of one file apart. Progress is committed batch by batch. `reindex` moves the
chunks of an earlier embedding model to the current one, also batch by batch, so it too can be resumed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa
from redis.asyncio import Redis
from saq import Queue

from core.db import Database, utcnow
from core.settings import Settings
from retrieval.chunking import Chunk, chunk_and_count
from retrieval.embedding import Embedder, EmbeddingError, get_embedder
from retrieval.models import KnowledgeBase, KnowledgeChunk, KnowledgeFile
from retrieval.parsing import ParseError, parse_document
from retrieval.search import ensure_vector_index
from retrieval.service import ACTIVE, KnowledgeService, blob_store

logger = logging.getLogger("gptstore.retrieval")

BATCH = 32  # chunks per embedding call
WRITE_ROWS = 256  # chunks per write transaction at most (bench/retrieval.py)
STALE_AFTER_SECONDS = 120
MAX_ATTEMPTS = 5
# Renewed after every batch; shorter than STALE_AFTER_SECONDS, so a dead run's lock is gone before a resume.
LOCK_SECONDS = 100
COPY_COLUMNS = [
    "id", "file_id", "gpt_id", "ord", "text", "token_count", "page", "heading", "char_start", "char_end",
    "embedding_model", "embedding", "text_search_config",
]  # fmt: skip


class _Stop(Exception):
    """The file was deleted or cancelled while it was being ingested."""


async def enqueue_ingestion(queue: Queue, file_id: uuid.UUID, attempt: int = 0) -> None:
    await queue.enqueue(
        "retrieval.ingest_file",
        key=f"ingest:{file_id}:{attempt}",
        file_id=str(file_id),
        timeout=0,
        retries=1,
    )


async def _fail(db: Database, file_id: uuid.UUID, code: str, message: str) -> None:
    """End the file `failed`; chunks of a partial run go, so a failed file is never half searchable."""
    async with db.session_scope() as session:
        failed = await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == file_id, KnowledgeFile.status == ACTIVE)
            .values(
                status="failed",
                error_code=code,
                error_message=message[:1000],
                chunks_done=0,
                updated_at=utcnow(),
            )
        )
        if failed.rowcount:
            await session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.file_id == file_id))


async def _write_batch(
    db: Database, row_id: uuid.UUID, gpt_id: uuid.UUID, model: str, config: str, batch: list[Chunk], vectors
) -> None:
    async with db.session_scope() as session:
        status = await session.scalar(
            sa.select(KnowledgeFile.status).where(KnowledgeFile.id == row_id).with_for_update()
        )
        if status != ACTIVE:
            raise _Stop
        records = [
            (uuid.uuid4(), row_id, gpt_id, c.index, c.text, c.token_count, c.page, c.heading, c.char_start,
             c.char_end, model, np.asarray(v, dtype=np.float32), config)
            for c, v in zip(batch, vectors, strict=True)
        ]  # fmt: skip
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            "knowledge_chunk", records=records, columns=COPY_COLUMNS
        )
        await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == row_id)
            .values(chunks_done=batch[-1].index + 1, updated_at=utcnow())
        )


async def ingest(
    db: Database,
    settings: Settings,
    file_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
    redis: Redis | None = None,
) -> str:
    """Ingest one file to a final state (or until it is deleted); returns the status it ended in."""
    lock = redis.lock(f"gptstore:ingest:{file_id}", timeout=LOCK_SECONDS, blocking=False) if redis else None
    if lock is not None and not await lock.acquire():
        return "locked"
    try:
        return await _ingest(db, settings, file_id, embedder or get_embedder(settings), lock)
    finally:
        if lock is not None:
            try:
                await lock.release()
            except Exception:  # expired while we worked: nothing to release
                pass


async def _ingest(db: Database, settings: Settings, file_id: uuid.UUID, embedder: Embedder, lock) -> str:
    async with db.session_scope() as session:
        row = await session.get(KnowledgeFile, file_id)
        if row is None or row.status != ACTIVE:
            return row.status if row else "deleted"
        base = await session.get(KnowledgeBase, row.gpt_id)
        row.attempts += 1
        if row.attempts > MAX_ATTEMPTS:
            row.status, row.error_code = "failed", "server_error"
            row.error_message = f"Ingestion was interrupted {MAX_ATTEMPTS} times; upload the file again"
            return "failed"
        filename, chunk_size, overlap = row.filename, row.chunk_size, row.chunk_overlap
        gpt_id = row.gpt_id
        config = await session.scalar(  # the OID of the full-text configuration, for binary COPY
            sa.text("SELECT CAST(CAST(:config AS text) AS regconfig)::oid"),
            {"config": base.text_search_config},
        )
        done = await session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(KnowledgeChunk.ord) + 1, 0)).where(
                KnowledgeChunk.file_id == file_id
            )
        )
    try:
        data = await asyncio.to_thread(blob_store(settings).read, file_id)
        parsed = await asyncio.to_thread(
            parse_document,
            data,
            filename,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
            max_compression_ratio=settings.max_compression_ratio,
        )
        del data
        chunks, tokens = await asyncio.to_thread(_chunk, parsed.sections, chunk_size, overlap)
    except ParseError as exc:
        await _fail(db, file_id, exc.code, str(exc))
        return "failed"
    except FileNotFoundError:
        await _fail(db, file_id, "server_error", "The uploaded file is missing from storage; upload it again")
        return "failed"
    if not chunks:
        await _fail(db, file_id, "invalid_file", "No text was found in the file")
        return "failed"
    if tokens > settings.max_file_tokens:
        await _fail(
            db,
            file_id,
            "too_large",
            f"The file has {tokens:,} tokens; the limit is {settings.max_file_tokens:,}",
        )
        return "failed"
    try:
        await embedder.load()
        model = embedder.model_id
        async with db.session_scope() as session:
            await ensure_vector_index(session, model, embedder.dimensions)
            await session.execute(
                sa.update(KnowledgeFile)
                .where(KnowledgeFile.id == file_id)
                .values(
                    media_type=parsed.media_type,
                    warning=parsed.warning and parsed.warning[:1000],
                    chunks_total=len(chunks),
                    chunks_done=done,
                    embedding_model=model,
                    updated_at=utcnow(),
                )
            )
        pending: list[Chunk] = []
        pending_vectors: list = []
        last_write = time.monotonic()
        for start in range(done, len(chunks), BATCH):
            batch = chunks[start : start + BATCH]
            pending += batch
            pending_vectors += await embedder.embed_documents([c.text for c in batch])
            # Few large transactions write faster; a slow embedder still shows progress every second.
            if (
                len(pending) >= WRITE_ROWS
                or time.monotonic() - last_write >= 1
                or start + BATCH >= len(chunks)
            ):
                await _write_batch(db, file_id, gpt_id, model, config, pending, pending_vectors)
                pending, pending_vectors, last_write = [], [], time.monotonic()
                if lock is not None:
                    await lock.reacquire()
    except _Stop:
        return "cancelled"
    except EmbeddingError as exc:
        await _fail(db, file_id, "server_error", f"Embedding failed: {exc}")
        return "failed"
    except sa.exc.IntegrityError:  # the file row went away between batches
        return "deleted"
    async with db.session_scope() as session:
        await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == file_id, KnowledgeFile.status == ACTIVE)
            .values(
                status="completed",
                chunk_count=len(chunks),
                token_count=tokens,
                error_code=None,
                error_message=None,
                updated_at=utcnow(),
            )
        )
    return "completed"


def _chunk(sections, chunk_size: int, overlap: int) -> tuple[list[Chunk], int]:
    return chunk_and_count(sections, chunk_size=chunk_size, chunk_overlap=overlap)


async def resume_stale(db: Database, settings: Settings, queue: Queue) -> int:
    """Re-queue ingestions whose worker died (no progress for a while); returns how many."""
    async with db.session_scope() as session:
        stale = await KnowledgeService(session, settings).stale_ingestions(STALE_AFTER_SECONDS)
        for row in stale:
            row.updated_at = utcnow()
        pending = [(row.id, row.attempts) for row in stale]
    for file_id, attempts in pending:
        await enqueue_ingestion(queue, file_id, attempts)
    if pending:
        logger.info("re-queued %d interrupted ingestions", len(pending))
    return len(pending)


async def chunks_to_reindex(db: Database, model_id: str, gpt_id: uuid.UUID | None = None) -> int:
    """How many chunks (of one GPT, or of all) were embedded by another model than `model_id`."""
    async with db.session_scope() as session:
        return await session.scalar(sa.select(sa.func.count()).where(*_other_model(model_id, gpt_id)))


def _other_model(model_id: str, gpt_id: uuid.UUID | None) -> list[Any]:
    criteria = [KnowledgeChunk.embedding_model != model_id]
    if gpt_id is not None:
        criteria.append(KnowledgeChunk.gpt_id == gpt_id)
    return criteria


async def reindex(
    db: Database,
    settings: Settings,
    *,
    gpt_id: uuid.UUID | None = None,
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
            .where(*_other_model(model, gpt_id))
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
            await _mark_reindexed_files(session, model, gpt_id, {row.file_id for row in rows})
        done += len(rows)
        after = (rows[-1].file_id, rows[-1].ord)
        if progress is not None:
            progress(len(rows))
    async with db.session_scope() as session:  # files without chunks left of the old model
        await _mark_reindexed_files(session, model, gpt_id, None)
    if done:
        logger.info("re-embedded %d chunks with %s", done, model)
    return done


async def _mark_reindexed_files(
    session, model: str, gpt_id: uuid.UUID | None, file_ids: set[uuid.UUID] | None
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
    if gpt_id is not None:
        query = query.where(KnowledgeFile.gpt_id == gpt_id)
    if file_ids is not None:
        query = query.where(KnowledgeFile.id.in_(file_ids))
    await session.execute(query)


# SAQ entry points ----------------------------------------------------------------------------------------


async def ingest_file(ctx: dict[str, Any], *, file_id: str) -> str:
    return await ingest(ctx["db"], ctx["settings"], uuid.UUID(file_id), redis=ctx["redis"])


async def resume_ingestion(ctx: dict[str, Any]) -> int:
    return await resume_stale(ctx["db"], ctx["settings"], ctx["queue"])


functions = [("retrieval.ingest_file", ingest_file), ("retrieval.resume_ingestion", resume_ingestion)]
