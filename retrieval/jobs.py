"""Ingestion jobs: parse, chunk, embed and index one file; resume what a crash interrupted.

A run is idempotent per file: chunks are numbered, a run continues after the last committed one, and a
Redis lock keeps two runs of one file apart. Progress is committed batch by batch. Re-embedding with a new
model: retrieval/reindex.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError
from saq import Queue

from core.db import Database, utcnow
from core.settings import Settings
from core.storage import Storage, StorageError, storage_of
from retrieval import indexer
from retrieval.chunking import Chunk
from retrieval.embedding import EmbedAhead, Embedder, EmbeddingError, get_embedder
from retrieval.indexer import enqueue_indexer, tail_waiting, use_tail
from retrieval.models import Dataset, KnowledgeChunk, KnowledgeFile
from retrieval.parsing import ParseError
from retrieval.scheduling import dispatch, dispatch_waiting, enqueue_ingestion, owner_of
from retrieval.search import ensure_vector_index
from retrieval.service import ACTIVE, KnowledgeService
from retrieval.uploads import upload_key
from retrieval.writes import (
    FileStopped,
    PairedWriter,
    PartReader,
    committed_prefix,
    stream_prepared,
)

logger = logging.getLogger("gptstore.retrieval")

BATCH = 32  # chunks per embedding call
WRITE_ROWS = 256  # chunks per write transaction at most (bench/retrieval.py)
MAX_ATTEMPTS = 5
# A running ingestion renews its lock and checks that its file is still wanted this often, so a DELETE or
# a cancellation stops it (and kills its parse child) within about this time.
HEARTBEAT_SECONDS = 1.0


async def _fail(
    db: Database, file_id: uuid.UUID, code: str, message: str, media_type: str | None = None
) -> str:
    """End the file `failed`; chunks of a partial run go, so a failed file is never half searchable.
    `media_type`: what the content turned out to be (a PNG named .txt), recorded on the file.

    Returns the state the file ends in: `failed`, or what a concurrent DELETE left (`deleted`, ...)."""
    async with db.session_scope() as session:
        failed = await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == file_id, KnowledgeFile.status == ACTIVE)
            .values(
                status="failed",
                error_code=code,
                error_message=message[:1000],
                chunks_done=0,
                **({"media_type": media_type} if media_type else {}),
                updated_at=utcnow(),
            )
        )
        if failed.rowcount:
            await session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.file_id == file_id))
            return "failed"
        status = await session.scalar(sa.select(KnowledgeFile.status).where(KnowledgeFile.id == file_id))
        return status or "deleted"


def ingestion_lock_name(file_id: uuid.UUID) -> str:
    return f"gptstore:ingest:{file_id}"


async def ingest(
    db: Database,
    settings: Settings,
    file_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
    redis: Redis | None = None,
) -> str:
    """Ingest one file to a final state (or until it is deleted); returns the status it ended in.

    The work runs as a task watched by a heartbeat that renews the Redis lock and stops the work (killing
    its parse child) once the file is deleted, or the lock is lost to another run.
    """
    # The lease outlives many heartbeats, and a killed run's lock is gone before the file looks stale.
    lease = settings.ingestion_lease_seconds
    lock = redis.lock(ingestion_lock_name(file_id), timeout=lease, blocking=False) if redis else None
    if lock is not None and not await lock.acquire():
        return "locked"
    try:
        work = asyncio.create_task(_ingest(db, settings, file_id, embedder or get_embedder(settings)))
        return await _supervise(work, settings, file_id, lock)
    finally:
        if lock is not None:
            try:
                await lock.release()
            except Exception:  # expired or taken over: nothing to release
                pass


async def _supervise(work: asyncio.Task, settings: Settings, file_id: uuid.UUID, lock: Lock | None) -> str:
    """The result of `work`; every HEARTBEAT_SECONDS the lock is renewed and the upload looked for.

    Deleting a file or its GPT removes the upload from the blob store (a pinned file keeps it and is
    stopped by the status check of the next batch write). A stat (a HEAD request on a bucket) is all a
    beat costs: no database connection, so it also works where the job's sessions share one connection
    (the tests).
    """
    storage, key = storage_of(settings), upload_key(file_id)
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=HEARTBEAT_SECONDS)
            if done:
                return work.result()
            if lock is not None:
                try:
                    await lock.reacquire()
                except LockError:
                    logger.warning("lost the ingestion lock of %s; stopping this run", file_id)
                    return "locked"
                except RedisError:  # a blip: the lock outlives many beats, the next one renews it
                    logger.warning("could not renew the ingestion lock of %s", file_id)
            if not await _still_stored(storage, key):
                logger.info("ingestion of %s stopped: the file was deleted", file_id)
                return "deleted"
    finally:
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work


async def _still_stored(storage: Storage, key: str) -> bool:
    try:
        return await storage.exists(key)
    except StorageError as exc:  # a blip of the store: the next beat looks again
        logger.warning("could not look up %s in storage: %s", key, exc)
        return True


async def _ingest(db: Database, settings: Settings, file_id: uuid.UUID, embedder: Embedder) -> str:
    async with db.session_scope() as session:
        # Locked (FOR NO KEY UPDATE): a deletion of the file commits before this read (None) or after this
        # transaction, never between the read and the attempt's count (an UPDATE of no row).
        row = await session.get(KnowledgeFile, file_id, with_for_update={"key_share": True})
        if row is None or row.status != ACTIVE:
            return row.status if row else "deleted"
        base = await session.get(Dataset, row.dataset_id)
        row.attempts += 1
        if row.attempts > MAX_ATTEMPTS:
            row.status, row.error_code = "failed", "server_error"
            row.error_message = f"Ingestion was interrupted {MAX_ATTEMPTS} times; upload the file again"
            return "failed"
        filename, chunk_size, overlap, attempt = row.filename, row.chunk_size, row.chunk_overlap, row.attempts
        dataset_id = row.dataset_id
        config = await session.scalar(  # the OID of the full-text configuration, for binary COPY
            sa.text("SELECT CAST(CAST(:config AS text) AS regconfig)::oid"),
            {"config": base.text_search_config},
        )
        done = await committed_prefix(session, file_id)
    if done:
        logger.info("continuing the ingestion of %s at chunk %d (attempt %d)", file_id, done, attempt)
    # The parse child streams its chunks a run of sections at a time: the first are embedded and written
    # while it cuts the rest, so its work and the database's overlap on two cores (docs/performance.md).
    reader = PartReader(stream_prepared(settings, file_id, filename, chunk_size, overlap))
    ahead: EmbedAhead | None = None
    writer: PairedWriter | None = None
    try:
        taken = done  # chunks handed to the embedder (a resumed run skips what it wrote)
        embedding: collections.deque[list[Chunk]] = collections.deque()  # handed over, in order
        pending: list[Chunk] = []  # embedded, not yet written
        pending_vectors: list = []
        last_write = time.monotonic()
        told_total = False
        while True:
            await reader.wait()
            chunks, finished = reader.chunks, reader.last is not None
            if finished and not chunks:
                return await _fail(db, file_id, "invalid_file", "No text was found in the file")
            if ahead is None and chunks:  # the first chunks: the model, the index and the file's facts
                first = reader.first
                await embedder.load()
                model = embedder.model_id
                async with db.session_scope() as session:
                    await ensure_vector_index(session, model, embedder.dimensions)
                    tail = await use_tail(session, settings, dataset_id)
                    await session.execute(
                        sa.update(KnowledgeFile)
                        .where(KnowledgeFile.id == file_id)
                        .values(
                            media_type=first.media_type,
                            warning=first.warning and first.warning[:1000],
                            # a resumed run keeps the total its first run set until it knows it again
                            **({"chunks_total": len(chunks)} if finished else {}),
                            chunks_done=done,
                            embedding_model=model,
                            updated_at=utcnow(),
                        )
                    )
                told_total = finished
                ahead = EmbedAhead(embedder)
                writer = PairedWriter(db, file_id, dataset_id, model, config, tail=tail)
            stop = len(chunks) if finished else taken + (len(chunks) - taken) // BATCH * BATCH
            ready = [chunks[s : min(s + BATCH, stop)] for s in range(taken, stop, BATCH)]
            taken = max(taken, stop)
            if ahead is not None:
                ahead.add([c.text for c in batch] for batch in ready)
            embedding.extend(ready)
            while embedding:
                pending += embedding.popleft()
                pending_vectors += await ahead.next()
                # Few large transactions write faster; a slow embedder still shows progress every second.
                # Full batches that come faster than they are written go two at once (the first of a pair
                # records no progress), with one that shows the progress at least every second.
                due = time.monotonic() - last_write >= 1
                if len(pending) >= WRITE_ROWS or due:
                    total = len(reader.chunks) if reader.last is not None and not told_total else None
                    if await writer.write(pending, pending_vectors, chunks_total=total, pair=not due):
                        last_write = time.monotonic()
                    told_total = told_total or total is not None
                    pending, pending_vectors = [], []
            if finished:
                break
        tokens, total = reader.last.token_count, len(reader.chunks)
        if writer is not None:  # what is left, and the second write of an open pair
            await writer.write(
                pending, pending_vectors, last=True, chunks_total=(not told_total and total) or None
            )
    except ParseError as exc:
        return await _fail(db, file_id, exc.code, str(exc), exc.media_type)
    except FileNotFoundError:
        missing = "The uploaded file is missing from storage; upload it again"
        return await _fail(db, file_id, "server_error", missing)
    except FileStopped:
        return "cancelled"
    except EmbeddingError as exc:
        return await _fail(db, file_id, "server_error", f"Embedding failed: {exc}")
    except sa.exc.IntegrityError:  # the file row went away between batches
        return "deleted"
    finally:
        if ahead is not None:
            ahead.close()
        await reader.close()
        if writer is not None:  # after an error: a running write must not outlive the run
            await writer.close()
    async with db.session_scope() as session:
        await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == file_id, KnowledgeFile.status == ACTIVE)
            .values(
                status="completed",
                chunk_count=total,
                chunks_done=total,
                chunks_total=total,
                token_count=tokens,
                error_code=None,
                error_message=None,
                updated_at=utcnow(),
            )
        )
    return "completed"


async def resume_stale(db: Database, settings: Settings, queue: Queue, redis: Redis | None = None) -> int:
    """Re-queue ingestions whose worker died: no progress for `ingestion_lease_seconds` and no live lock;
    returns how many. Then owners' backlogs get their free slots (`retrieval.scheduling.dispatch_waiting`).

    A run that is alive (parsing a large file makes no visible progress for minutes) keeps its lock by its
    heartbeat, so it is never queued a second time; a file still waiting in the job queue is enqueued
    under the same key, which SAQ ignores.
    """
    redis = redis if redis is not None else getattr(queue, "redis", None)
    async with db.session_scope() as session:
        stale = await KnowledgeService(session, settings).stale_ingestions(settings.ingestion_lease_seconds)
        pending = []
        for row in stale:
            if redis is not None and await redis.exists(ingestion_lock_name(row.id)):
                continue  # a live run holds it
            row.updated_at = utcnow()
            pending.append((row.id, row.attempts))
    for file_id, attempts in pending:
        await enqueue_ingestion(queue, file_id, attempts, resume=True)
    if pending:
        logger.info("re-queued %d interrupted ingestions", len(pending))
    await dispatch_waiting(db, settings, queue)
    return len(pending)


# SAQ entry points ----------------------------------------------------------------------------------------


async def ingest_file(ctx: dict[str, Any], *, file_id: str) -> str:
    """Ingest one file, then give its owner's slot to the owner's next waiting file (fairness)."""
    db, settings = ctx["db"], ctx["settings"]
    owner_id = await owner_of(db, uuid.UUID(file_id))
    try:
        status = await ingest(db, settings, uuid.UUID(file_id), redis=ctx["redis"])
    finally:
        if owner_id is not None:
            await dispatch(db, settings, ctx["queue"], owner_id)
    if status == "completed":  # its vectors may wait in the tail (retrieval.indexer)
        await enqueue_indexer(ctx["queue"])
    return status


async def resume_ingestion(ctx: dict[str, Any]) -> int:
    """Re-queue interrupted ingestions, and an indexer run when vectors wait in the tail (a killed
    indexer's batch, or a queue that lost its job)."""
    resumed = await resume_stale(ctx["db"], ctx["settings"], ctx["queue"], ctx["redis"])
    if await tail_waiting(ctx["db"]):
        await enqueue_indexer(ctx["queue"])
    return resumed


functions = [
    ("retrieval.ingest_file", ingest_file),
    ("retrieval.resume_ingestion", resume_ingestion),
    *indexer.functions,
]
