"""Adding files to a dataset: an upload stored and registered for ingestion, under the dataset's file
limit, the owner's storage quota and the no-duplicate rule, which hold even for concurrent uploads.

A part of `retrieval.service.KnowledgeService` (a mixin over its session, settings and file queries);
callers use it through that class.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.archives import shown
from core.concurrency import after_rollback, serialize, unique_or_conflict
from core.errors import Conflict, Invalid, NotFound, TooLarge
from core.filenames import clean_filename, clean_member_name
from core.storage import storage_of
from retrieval.licenses import file_license
from retrieval.models import Dataset, KnowledgeBase, KnowledgeFile
from retrieval.uploads import holds_no_text, sniff_upload, spool_upload, upload_key

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.settings import Settings

# Files that hold nothing searchable and never will: the same content uploaded again replaces them
# (`FileUploads.replace_gone`), it is no duplicate of them, and they take no place under the file limit.
GONE_STATES = ("failed", "cancelled")


class FileUploads:
    """`KnowledgeService`'s uploads: `add_file` and the limits, quota and duplicate checks it makes (with
    the service's `_attached`, `chunking_of`, `_bump_version` and `delete_file`)."""

    session: AsyncSession
    settings: Settings

    async def add_file(
        self,
        base: KnowledgeBase,
        filename: str,
        content: AsyncIterator[bytes],
        *,
        access: str = "private",
        license: str | None = None,
        source_url: str | None = None,
        folders: bool = False,
    ) -> KnowledgeFile:
        """Store an upload and register it for ingestion; refused whole when over a limit or a duplicate.
        `source_url`: the web page it was fetched from (web imports), shown with its citations;
        `folders`: `filename` is an archive path whose folders are kept (`a/same.md`,
        `core.filenames.clean_member_name`).

        Concurrent uploads of one creator take their turns between the checks and the insert (see
        `_check_upload`), so limits, quota and duplicates hold as if they came one by one; the bytes of
        a refused upload are removed.
        """
        filename = clean_member_name(filename) if folders else clean_filename(filename)
        if base.home_gpt_id is not None:  # every way in checks it earlier, naming its own field
            license = file_license(access, license)
        if await self.file_count(base.id) >= self.file_limit(base):
            raise self._too_many_files(base)  # early, before the bytes are streamed; checked again below
        storage = storage_of(self.settings)
        file_id = uuid.uuid4()
        key = upload_key(file_id)
        spool = storage.spool_path(key)
        stored = False
        try:
            size, sha256 = await spool_upload(spool, content, self.settings.max_file_bytes)
            if await asyncio.to_thread(holds_no_text, spool, filename, size):
                raise empty_file(filename)
            media_type = await sniff_upload(self.settings, spool, filename, size)
            # Stored before the row is written, so no row ever names a missing object; refused or rolled
            # back, the object goes (and `retrieval.orphans` collects one a crash left behind).
            await storage.put_file(key, spool)
            stored = True
            rights = await self._check_upload(base, size, sha256)
            if base.home_gpt_id is None:  # files of a dataset follow it (in a home dataset: their own)
                access, license = rights
            chunk_size, chunk_overlap = await self.chunking_of(base.id)
            row = KnowledgeFile(
                id=file_id,
                dataset_id=base.id,
                owner_id=base.owner_id,
                filename=filename,
                media_type=media_type,
                bytes=size,
                sha256=sha256,
                access=access,
                license=license,
                source_url=source_url,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
            )
            async with unique_or_conflict(self.session, lambda: self._check_duplicate(base, sha256)):
                self.session.add(row)
            await self._bump_version(base.id)
        except BaseException:
            if stored:
                storage.delete_soon([key])
            raise
        finally:
            spool.unlink(missing_ok=True)
        after_rollback(self.session, lambda: storage.delete_soon([key]))
        return row

    async def file_slots_left(self, base: Dataset) -> int:
        """How many more files the dataset takes (`file_limit` less `file_count`)."""
        return max(0, self.file_limit(base) - await self.file_count(base.id))

    async def file_count(self, dataset_id: uuid.UUID) -> int:
        """The files that count against the dataset's file limit: those that hold or will hold knowledge
        (ingesting or done). A failed or cancelled file holds none and is replaced by an upload of the same
        content, so it takes no place: cancelling files never keeps new ones out."""
        return await self.session.scalar(
            sa.select(sa.func.count()).select_from(
                self._attached(dataset_id).where(KnowledgeFile.status.not_in(GONE_STATES)).subquery()
            )
        )

    def file_limit(self, base: Dataset) -> int:
        """Files a dataset may hold: `max_files_per_gpt` in a GPT's home dataset (OpenAI's GPT knowledge),
        `max_files_per_dataset` in any other (OpenAI's vector stores)."""
        return self.settings.max_files_per_gpt if base.home_gpt_id else self.settings.max_files_per_dataset

    def _too_many_files(self, base: Dataset) -> Invalid:
        limit = self.file_limit(base)
        return Invalid(
            f"{holder_of(base)} can have at most {limit} knowledge files; delete one first",
            field="file",
            limit="max_files_per_gpt" if base.home_gpt_id else "max_files_per_dataset",
        )

    async def _check_upload(self, base: KnowledgeBase, size: int, sha256: str) -> tuple[str, str | None]:
        """The checks of an upload, under the creator's upload lock (held until the request commits).
        Returns the dataset's access and license as they are now: a change of them waits for this upload
        (the dataset row stays key-share locked), so its files never miss one."""
        # The file limit is per dataset and the quota per owner: one lock per owner covers both.
        await serialize(self.session, "knowledge", base.owner_id)
        alive = (
            await self.session.execute(
                sa.select(Dataset.access, Dataset.license)
                .where(Dataset.id == base.id)
                .with_for_update(key_share=True)
            )
        ).first()
        if alive is None:  # the GPT or dataset was deleted while the bytes streamed
            raise NotFound("No such dataset" if base.home_gpt_id is None else "No such GPT")
        await self.replace_gone(base, [sha256])
        if await self.file_count(base.id) >= self.file_limit(base):
            raise self._too_many_files(base)
        used = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(KnowledgeFile.bytes), 0)).where(
                KnowledgeFile.owner_id == base.owner_id
            )
        )
        if used + size > self.settings.storage_quota_bytes:
            raise TooLarge(
                f"This upload would exceed your storage quota of {self.settings.storage_quota_bytes:,} bytes "
                f"({used:,} used)",
                errors=[{"field": "file", "message": "storage quota exceeded"}],
                limit="storage_quota_bytes",
            )
        await self._check_duplicate(base, sha256)
        return alive.access, alive.license

    async def replace_gone(self, base: KnowledgeBase, sha256s: Iterable[str]) -> list[uuid.UUID]:
        """Remove the dataset's failed and cancelled files with one of these contents (as `delete_file`
        does: a version that pinned one keeps it), so that uploading the same bytes again ingests them
        instead of answering "duplicate". Call under the owner's upload lock. Returns the removed ids."""
        gone = list(
            await self.session.scalars(
                self._attached(base.id)
                .where(KnowledgeFile.sha256.in_(list(sha256s)), KnowledgeFile.status.in_(GONE_STATES))
                .with_only_columns(KnowledgeFile.id)
            )
        )
        for file_id in gone:
            await self.delete_file(base, file_id)
        return gone

    async def _check_duplicate(self, base: KnowledgeBase, sha256: str) -> None:
        """409 when the dataset holds this content in a file that is ingesting or done (a failed or
        cancelled one is replaced: `replace_gone`)."""
        existing = await self.session.scalar(
            self._attached(base.id).where(
                KnowledgeFile.sha256 == sha256, KnowledgeFile.status.not_in(GONE_STATES)
            )
        )
        if existing is not None:
            raise Conflict(
                f"{'This GPT' if base.home_gpt_id else 'This dataset'} already has this content"
                f" as '{existing.filename}' ({existing.id})",
                existing_file_id=str(existing.id),
            )


def empty_file(filename: str) -> Invalid:
    """The 422 for an upload that holds no text (`retrieval.uploads.holds_no_text`), naming the file; a
    batch skips such a file as `empty` instead."""
    return Invalid(f"The file '{shown(filename)}' is empty: it holds no text to search", field="file")


def holder_of(base: Dataset) -> str:
    """What holds the files, as its creator calls it: a GPT's own knowledge, or a dataset."""
    return "This GPT's knowledge" if base.home_gpt_id is not None else "The dataset"
