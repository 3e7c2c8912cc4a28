"""File batches: many files added to a dataset in one request, watched and cancelled as one
(OpenAI's vector store file batches; docs/ingestion.md).

A batch is accepted once its bytes are in blob storage and its rows inserted (in one statement); the
ingestion is queued (`retrieval.scheduling`), never done in the request. Its status and `file_counts` are
read from its files' statuses in one grouped query.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.concurrency import serialize
from core.db import Database, utcnow
from core.errors import Invalid, NotFound, TooLarge
from core.pagination import keyset_page
from core.settings import Settings
from core.sse import polled_events
from core.text import counted
from retrieval.batch_upload import StagedBatch, removed_on_failure, stage_archive, stage_batch
from retrieval.file_handling import upload_rights
from retrieval.file_uploads import holder_of
from retrieval.licenses import file_license
from retrieval.models import Dataset, FileBatch, KnowledgeChunk, KnowledgeFile
from retrieval.schemas import BatchFileStatus, FileBatchRead, FileCounts
from retrieval.service import ACTIVE, KnowledgeService
from retrieval.uploads import upload_blobs

ACCESS = ("private", "open")
MAX_LICENSE_CHARS = 200


def batch_read(batch: FileBatch, counts: dict[str, int]) -> FileBatchRead:
    """The batch object: `in_progress` while any file is; then `cancelled` if it was cancelled, `failed` if
    every file failed, else `completed` (OpenAI's statuses)."""
    file_counts = FileCounts(
        in_progress=counts.get("in_progress", 0),
        completed=counts.get("completed", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        total=sum(counts.values()),
    )
    if file_counts.in_progress:
        status = "in_progress"
    elif batch.cancelled_at is not None:
        status = "cancelled"
    elif file_counts.total and file_counts.failed == file_counts.total:
        status = "failed"
    else:
        status = "completed"
    return FileBatchRead(
        id=batch.id,
        dataset_id=batch.dataset_id,
        status=status,
        file_counts=file_counts,
        skipped=batch.skipped,
        created_at=batch.created_at,
    )


async def batch_counts(session: AsyncSession, batch_id: uuid.UUID) -> dict[str, int]:
    """How many files of the batch are in each status (one grouped query over `ix_knowledge_file_batch`)."""
    rows = await session.execute(
        sa.select(KnowledgeFile.status, sa.func.count())
        .where(KnowledgeFile.batch_id == batch_id)
        .group_by(KnowledgeFile.status)
    )
    return {status: count for status, count in rows.all()}


class BatchService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.knowledge = KnowledgeService(session, settings)

    async def create_from_request(
        self, base: Dataset, content_type: tuple[str, dict[str, str]], body: AsyncIterator[bytes]
    ) -> FileBatch:
        """A batch from a multipart request body (`retrieval.batch_upload`): its parts are streamed to
        blob storage, then registered; on any refusal the stored bytes are removed again."""
        kind, options = content_type
        if kind != "multipart/form-data" or not options.get("boundary"):
            raise Invalid("Send the files as multipart/form-data", field="file")
        blobs = upload_blobs(self.settings)
        staged = await stage_batch(body, options["boundary"].encode(), self.settings, blobs)
        with removed_on_failure(staged, blobs):
            return await self.create(base, staged)

    async def create_from_archive(
        self, base: Dataset, filename: str, content: AsyncIterator[bytes], fields: dict[str, str]
    ) -> FileBatch:
        """A batch of the members of one archive that came as a form's file (`is_unpacked_archive`), with
        the form's `fields` (access, license): as a batch request's `archive` part, refused the same."""
        blobs = upload_blobs(self.settings)
        staged = await stage_archive(content, filename, fields, self.settings, blobs)
        with removed_on_failure(staged, blobs):
            return await self.create(base, staged)

    async def create(self, base: Dataset, staged: StagedBatch) -> FileBatch:
        """Register staged files as one batch; refused whole (nothing kept) over a limit or the quota.

        Empty files (no text: `retrieval.uploads.holds_no_text`) and content the dataset already has (or
        that came twice) are not added; the batch names them in `skipped`. Files of a GPT's home dataset
        take the form's `access`/`license`; files of any other dataset follow the dataset's.
        """
        access, license = self._access(base, staged.fields)
        await serialize(self.session, "knowledge", base.owner_id)  # as single uploads: see add_file
        alive = await self.session.scalar(
            sa.select(Dataset.id).where(Dataset.id == base.id).with_for_update(key_share=True)
        )
        if alive is None:
            raise NotFound("No such dataset" if base.home_gpt_id is None else "No such GPT")
        hashes = list({item.sha256 for item in staged.files})
        await self.knowledge.replace_gone(base, hashes)  # failed or cancelled: ingested anew, no duplicate
        existing = dict(
            (
                await self.session.execute(
                    sa.select(KnowledgeFile.sha256, KnowledgeFile.id).where(
                        KnowledgeFile.dataset_id == base.id,
                        KnowledgeFile.detached_at.is_(None),
                        KnowledgeFile.sha256.in_(hashes),
                    )
                )
            ).all()
        )
        added, skipped = [], list(staged.skipped)
        for item in staged.files:
            if item.bytes == 0 or item.blank:
                skipped.append({"filename": item.filename, "reason": "empty"})
            elif item.sha256 in existing:
                skipped.append(
                    {
                        "filename": item.filename,
                        "reason": "duplicate",
                        "existing_file_id": str(existing[item.sha256]),
                    }
                )
            else:
                existing[item.sha256] = item.id
                added.append(item)
        limit = self.knowledge.file_limit(base)
        count = await self.knowledge.file_count(base.id)
        if count + len(added) > limit:
            raise Invalid(
                f"{holder_of(base)} has {counted(count, 'file')} and holds at most {limit:,};"
                f" this batch adds {len(added)}",
                field="file",
                limit="max_files_per_dataset" if base.home_gpt_id is None else "max_files_per_gpt",
            )
        used = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(KnowledgeFile.bytes), 0)).where(
                KnowledgeFile.owner_id == base.owner_id
            )
        )
        size = sum(item.bytes for item in added)
        if used + size > self.settings.storage_quota_bytes:
            raise TooLarge(
                f"This batch would exceed your storage quota of {self.settings.storage_quota_bytes:,} bytes "
                f"({used:,} used, {size:,} more)",
                errors=[{"field": "file", "message": "storage quota exceeded"}],
                limit="storage_quota_bytes",
            )
        batch = FileBatch(dataset_id=base.id, owner_id=base.owner_id, skipped=skipped)
        self.session.add(batch)
        await self.session.flush()
        chunk_size, chunk_overlap = await self.knowledge.chunking_of(base.id)
        now = utcnow()
        if added:
            await self.session.execute(
                sa.insert(KnowledgeFile),
                [
                    {
                        "id": item.id,
                        "dataset_id": base.id,
                        "owner_id": base.owner_id,
                        "batch_id": batch.id,
                        "filename": item.filename,
                        # Judged from the content by the ingestion job; the name's type until then.
                        "media_type": mimetypes.guess_type(item.filename)[0] or "application/octet-stream",
                        "bytes": item.bytes,
                        "sha256": item.sha256,
                        "access": access,
                        "license": license,
                        "chunk_size": chunk_size,
                        "chunk_overlap": chunk_overlap,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for item in added
                ],
            )
            await self.knowledge._bump_version(base.id)
        blobs = upload_blobs(self.settings)
        kept = {item.id for item in added}
        for item in staged.files:
            if item.id not in kept:
                blobs.delete(item.id)
        return batch

    def _access(self, base: Dataset, fields: dict[str, str]) -> tuple[str, str | None]:
        """As a single upload (`retrieval.file_handling.upload_rights`): a home dataset's files take the
        form's access and license; any other dataset's take its own, and a form asking otherwise is a 422."""
        if base.home_gpt_id is None:
            return upload_rights(base, "private", None, fields)
        access, license = fields.get("access") or "private", fields.get("license") or None
        if access not in ACCESS:
            raise Invalid("access must be 'private' or 'open'", field="access")
        if license is not None and len(license) > MAX_LICENSE_CHARS:
            raise Invalid(f"license must be text of at most {MAX_LICENSE_CHARS} characters", field="license")
        return access, file_license(access, license)

    async def get(self, base: Dataset, batch_id: uuid.UUID) -> FileBatch:
        batch = await self.session.get(FileBatch, batch_id)
        if batch is None or batch.dataset_id != base.id:
            raise NotFound("No such file batch")
        return batch

    async def read(self, batch: FileBatch) -> FileBatchRead:
        return batch_read(batch, await batch_counts(self.session, batch.id))

    async def list_batches(self, base: Dataset, limit: int = 20) -> list[FileBatchRead]:
        """The dataset's latest batches, newest first."""
        batches = list(
            await self.session.scalars(
                sa.select(FileBatch)
                .where(FileBatch.dataset_id == base.id)
                .order_by(FileBatch.created_at.desc(), FileBatch.id.desc())
                .limit(limit)
            )
        )
        if not batches:
            return []
        rows = await self.session.execute(
            sa.select(KnowledgeFile.batch_id, KnowledgeFile.status, sa.func.count())
            .where(KnowledgeFile.batch_id.in_([b.id for b in batches]))
            .group_by(KnowledgeFile.batch_id, KnowledgeFile.status)
        )
        counts: dict[uuid.UUID, dict[str, int]] = {}
        for batch_id, status, count in rows.all():
            counts.setdefault(batch_id, {})[status] = count
        return [batch_read(b, counts.get(b.id, {})) for b in batches]

    async def list_files(
        self, batch: FileBatch, status: BatchFileStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[KnowledgeFile], str | None]:
        query = sa.select(KnowledgeFile).where(KnowledgeFile.batch_id == batch.id)
        if status is not None:
            query = query.where(KnowledgeFile.status == status)
        return await keyset_page(
            self.session, query, KnowledgeFile.created_at, KnowledgeFile.id, limit=limit, cursor=cursor,
            descending=False,
        )  # fmt: skip

    async def cancel(self, batch: FileBatch) -> FileBatch:
        """Cancel the batch: its waiting files end `cancelled` now; a running one stops at its next write
        (its status check, as for a deleted file) and its chunks go, so no cancelled file is searchable."""
        cancelled = list(
            await self.session.scalars(
                sa.update(KnowledgeFile)
                .where(KnowledgeFile.batch_id == batch.id, KnowledgeFile.status == ACTIVE)
                .values(status="cancelled", chunks_done=0, updated_at=utcnow())
                .returning(KnowledgeFile.id)
                .execution_options(synchronize_session=False)
            )
        )
        if cancelled:
            await self.session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.file_id.in_(cancelled)))
        if batch.cancelled_at is None and cancelled:
            batch.cancelled_at = utcnow()
        await self.session.flush()
        return batch


BATCH_POLL_SECONDS = 0.5


async def _batch_snapshots(
    session: AsyncSession, batch_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    (batch_id,) = batch_ids
    batch = await session.get(FileBatch, batch_id)
    if batch is None:
        return {}
    return {batch_id: batch_read(batch, await batch_counts(session, batch.id)).model_dump(mode="json")}


def batch_progress_events(
    db: Database,
    batch_id: uuid.UUID,
    still_allowed: Callable[[AsyncSession], Awaitable[bool]] | None = None,
) -> AsyncIterator[dict[str, str]]:
    """SSE events of a batch (the caller checked access; `still_allowed` asks again as the stream goes,
    `core.sse.polled_events`): `progress` with the batch object whenever its counts change, then `done`
    once no file is in progress, or `deleted` if the batch goes. Polls one grouped count every
    `BATCH_POLL_SECONDS`."""
    return polled_events(
        db,
        [batch_id],
        _batch_snapshots,
        final=lambda snapshot: snapshot["status"] != "in_progress",
        poll_seconds=BATCH_POLL_SECONDS,
        still_allowed=still_allowed,
    )
