"""The write half of ingestion: a file's chunks streamed from its parse child (`stream_prepared`,
`PartReader`) and written in transactions of up to `WRITE_ROWS` rows, two at once (`PairedWriter`).

Each write is one transaction: COPY of the chunk rows (and, through the vector tail, of their vectors), a
status check of the file and the progress, so a crash leaves whole batches; `committed_prefix` is where a
resumed run continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, utcnow
from core.settings import Settings
from core.storage import storage_of
from core.tokens import seed_tiktoken_cache
from retrieval.child_tasks import FileLimits, PreparedFile, PreparedPart, prepare_file_parts
from retrieval.chunking import Chunk
from retrieval.isolation import ChildLimits, stream_in_child
from retrieval.models import KnowledgeChunk, KnowledgeFile
from retrieval.service import ACTIVE
from retrieval.uploads import upload_key

COPY_COLUMNS = [
    "id", "file_id", "dataset_id", "ord", "text", "token_count", "page", "heading", "char_start", "char_end",
    "embedding_model", "embedding", "text_search_config",
]  # fmt: skip
TAIL_COLUMNS = ["chunk_id", "dataset_id", "file_id", "embedding_model", "embedding"]


class FileStopped(Exception):
    """The file was deleted or cancelled while it was being ingested."""


async def write_batch(
    db: Database,
    row_id: uuid.UUID,
    dataset_id: uuid.UUID,
    model: str,
    config: str,
    batch: list[Chunk],
    vectors,
    *,
    durable: bool = False,
    tail: bool = False,
    chunks_total: int | None = None,
    progress: bool = True,
) -> None:
    """COPY one batch of chunks and record the progress, in one transaction (stops if the file is gone).

    Two batches of a file are written at once, on two connections, so the database's work (the GIN and
    `tsv` upkeep above all) runs on two cores: each takes the file row `FOR SHARE` first (a cancellation or
    a deletion waits for both, then they stop), and only the second of a pair records the progress; its
    UPDATE waits for the first one's end, so the pair commits in order.

    With `tail`, the vectors go to `knowledge_chunk_tail` and the chunk rows keep `embedding` NULL: the
    write skips the HNSW insert, which the indexer does later (retrieval.indexer).
    The commit does not wait for the WAL flush unless `durable` (`synchronous_commit = off` for this
    transaction only): a crash can lose the last few hundred milliseconds of batches, never corrupt them,
    and a resumed run continues after the last chunk that did reach the disk (docs/performance.md).
    """
    async with db.session_scope() as session:
        if not durable:
            await session.execute(sa.text("SET LOCAL synchronous_commit = off"))
        status = await session.scalar(
            sa.select(KnowledgeFile.status).where(KnowledgeFile.id == row_id).with_for_update(read=True)
        )
        if status != ACTIVE:
            raise FileStopped
        ids = [uuid.uuid4() for _ in batch]
        arrays = [np.asarray(v, dtype=np.float32) for v in vectors]
        records = [
            (chunk_id, row_id, dataset_id, c.index, c.text, c.token_count, c.page, c.heading,
             c.char_start, c.char_end, model, None if tail else v, config)
            for chunk_id, c, v in zip(ids, batch, arrays, strict=True)
        ]  # fmt: skip
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table("knowledge_chunk", records=records, columns=COPY_COLUMNS)
        if tail:
            await raw.copy_records_to_table(
                "knowledge_chunk_tail",
                records=[(i, dataset_id, row_id, model, v) for i, v in zip(ids, arrays, strict=True)],
                columns=TAIL_COLUMNS,
            )
        if not progress:
            return
        await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == row_id)
            .values(
                chunks_done=batch[-1].index + 1,
                updated_at=utcnow(),
                **({"chunks_total": chunks_total} if chunks_total is not None else {}),
            )
        )


async def committed_prefix(session: AsyncSession, file_id: uuid.UUID) -> int:
    """How many chunks `0..n-1` of the file an earlier run committed, without a gap; chunks after a gap
    are deleted, so a resumed run writes each chunk once. (A pair of writes commits in order, so a gap
    needs the first write of a pair to fail at its commit while the second went through.)"""
    done = await session.scalar(
        sa.text(
            "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM knowledge_chunk WHERE file_id = :file AND ord = 0)"
            " THEN 0 ELSE (SELECT min(c.ord) + 1 FROM knowledge_chunk c WHERE c.file_id = :file"
            " AND NOT EXISTS (SELECT 1 FROM knowledge_chunk n WHERE n.file_id = :file AND n.ord = c.ord + 1))"
            " END"
        ),
        {"file": file_id},
    )
    await session.execute(
        sa.delete(KnowledgeChunk).where(KnowledgeChunk.file_id == file_id, KnowledgeChunk.ord >= done)
    )
    return done


async def _both(*writes: asyncio.Future | None) -> None:
    """Wait for the writes; if one fails, cancel the others and raise its error once they ended."""
    running = [w for w in writes if w is not None]
    try:
        await asyncio.gather(*running)
    except BaseException:
        for write in running:
            write.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise


class PairedWriter:
    """Writes one file's batches in order, two at a time when the database allows it (`write_batch`):
    the first of a pair runs while the next batch is embedded, the second records the progress."""

    def __init__(
        self, db: Database, file_id: uuid.UUID, dataset_id: uuid.UUID, model: str, config: str, *, tail: bool
    ) -> None:
        self._args = (db, file_id, dataset_id, model, config)
        self._tail = tail
        self._pairs = db.concurrent_sessions  # the tests' sessions share one connection: one at a time
        self._first: asyncio.Future | None = None
        self._total: int | None = None  # a `chunks_total` not yet written

    async def write(
        self,
        batch: list[Chunk],
        vectors: list,
        *,
        last: bool = False,
        chunks_total: int | None = None,
        pair: bool = True,
    ) -> bool:
        """Write `batch` (`last`: no batch follows; `chunks_total`: set it with the progress; `pair`: it may
        be the first of a pair, which returns at once). True once the progress is recorded (the write, and
        the first of its pair, committed); False for the first of a pair, still running."""
        self._total = chunks_total if chunks_total is not None else self._total  # for the next progress
        if not batch:
            await self.close()
            return True
        if self._pairs and pair and self._first is None and not last:
            self._first = asyncio.ensure_future(
                write_batch(*self._args, batch, vectors, tail=self._tail, progress=False)
            )
            return False
        first, self._first = self._first, None
        total, self._total = self._total, None
        second = asyncio.ensure_future(
            write_batch(*self._args, batch, vectors, tail=self._tail, chunks_total=total)
        )
        await _both(first, second)
        return True

    async def close(self) -> None:
        """Wait for a first write still running (after an error elsewhere: its own error is dropped)."""
        first, self._first = self._first, None
        if first is not None:
            with contextlib.suppress(Exception):
                await _both(first)


class PartReader:
    """The parse child's parts, read by a task of their own as they come (`stream_prepared`): `chunks`
    holds every chunk so far, `first` the first part, `last` the final one once it came."""

    def __init__(self, parts: AsyncIterator[PreparedPart]) -> None:
        self.chunks: list[Chunk] = []
        self.first: PreparedPart | None = None
        self.last: PreparedPart | None = None
        self._arrived = asyncio.Event()
        self._task = asyncio.ensure_future(self._read(parts))

    async def _read(self, parts: AsyncIterator[PreparedPart]) -> None:
        async with contextlib.aclosing(parts):
            async for part in parts:
                self.first = self.first or part
                self.chunks += part.chunks
                if part.last:
                    self.last = part
                self._arrived.set()

    async def wait(self) -> None:
        """Until a part came since the last call, or the reading ended; raises what the child raised."""
        if not self._arrived.is_set() and not self._task.done():
            arrived = asyncio.ensure_future(self._arrived.wait())
            try:
                await asyncio.wait([self._task, arrived], return_when=asyncio.FIRST_COMPLETED)
            finally:
                arrived.cancel()
        self._arrived.clear()
        if self._task.done():
            self._task.result()

    async def close(self) -> None:
        """Stop reading (the child is killed if it still runs)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


def child_limits(settings: Settings) -> tuple[ChildLimits, FileLimits]:
    limits = ChildLimits.of(settings)
    file_limits = FileLimits(
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_compression_ratio=settings.max_compression_ratio,
        max_file_tokens=settings.max_file_tokens,
        memory_bytes=limits.memory_bytes,
        tiktoken_cache=str(seed_tiktoken_cache(settings.data_dir / "tiktoken")),
    )
    return limits, file_limits


async def stream_prepared(
    settings: Settings, file_id: uuid.UUID, filename: str, chunk_size: int, overlap: int
) -> AsyncIterator[PreparedPart]:
    """The parts of a stored upload as a child parses and chunks it under the parse limits
    (`retrieval.child_tasks.prepare_file_parts`, `retrieval.isolation.stream_in_child`); errors as
    `prepare_in_child`. Close it (`contextlib.aclosing`) to stop the child."""
    limits, file_limits = child_limits(settings)
    # The child reads a local file: the upload itself, or a copy streamed from a bucket.
    async with storage_of(settings).local_file(upload_key(file_id)) as path:
        parts = stream_in_child(
            prepare_file_parts, str(path), filename, chunk_size, overlap, file_limits, limits=limits,
            what="parse",
        )  # fmt: skip
        async with contextlib.aclosing(parts):
            async for part in parts:
                yield part


async def prepare_in_child(
    settings: Settings, file_id: uuid.UUID, filename: str, chunk_size: int, overlap: int
) -> PreparedFile:
    """Parse and chunk a stored upload in a child process under the parse limits (`retrieval.isolation`);
    `ParseError` for what cannot be indexed, FileNotFoundError when the upload is gone."""
    chunks: list[Chunk] = []
    parts = stream_prepared(settings, file_id, filename, chunk_size, overlap)
    async with contextlib.aclosing(parts):
        async for part in parts:
            chunks += part.chunks
    return PreparedFile(part.media_type, chunks, part.token_count, part.warning)
