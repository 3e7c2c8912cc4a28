"""Knowledge: datasets and their files, ingestion into chunks, and search over the datasets a GPT uses.

Builder and store use retrieval only through this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, after_commit, after_rollback, serialize, unique_or_conflict, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from core.filenames import clean_filename
from core.models import User
from core.settings import Settings
from core.storage import StoredObject, storage_of
from orgs import access
from retrieval.attribution import DatasetOwner, organization_owners, owner_of
from retrieval.child_tasks import sniff_media_type
from retrieval.dataset_access import gpt_may_use
from retrieval.embedding import Embedder, get_embedder
from retrieval.fusion import DEFAULT_FUSION, Fusion
from retrieval.isolation import ChildLimits, run_in_child
from retrieval.models import Dataset, GptDataset, KnowledgeBase, KnowledgeFile
from retrieval.parsing import ParseError
from retrieval.rerank import Reranker, get_reranker, rerank_hits
from retrieval.schemas import FileRead
from retrieval.search import Hit, Mode, search_chunks, text_search_config_for

logger = logging.getLogger("gptstore.retrieval")

ACTIVE = "in_progress"
FINAL_STATES = ("completed", "failed", "cancelled")


def upload_key(file_id: uuid.UUID) -> str:
    """The storage key of an upload (core/storage.py): `files/<first two hex digits>/<id>`."""
    name = str(file_id)
    return f"files/{name[:2]}/{name}"


async def _spool_upload(path: Path, chunks: AsyncIterator[bytes], limit: int) -> tuple[int, str]:
    """Stream an upload into the local file `path`; returns (bytes, sha256). Raises TooLarge past `limit`."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(
                    f"The file is larger than the limit of {limit:,} bytes per file",
                    errors=[{"field": "file", "message": "too large"}],
                    limit="max_file_bytes",
                )
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


class UploadBlobs:
    """Uploads by file id over the configured storage (`core.storage`: a directory or a bucket), for
    callers that store many files before their rows exist (file batches, `gptstore ingest`)."""

    def __init__(self, settings: Settings):
        self.storage = storage_of(settings)

    async def write_stream(
        self, file_id: uuid.UUID, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        """Store an upload (spooled locally for the hash and the size limit, then put); returns (bytes,
        sha256). Raises TooLarge past `limit`, storing nothing."""
        key = upload_key(file_id)
        spool = self.storage.spool_path(key)
        try:
            size, sha256 = await _spool_upload(spool, chunks, limit)
            await self.storage.put_file(key, spool)
        finally:
            spool.unlink(missing_ok=True)
        return size, sha256

    def delete(self, file_id: uuid.UUID) -> None:
        """Remove a stored upload in the background (`Storage.delete_soon`)."""
        self.storage.delete_soon([upload_key(file_id)])


def upload_blobs(settings: Settings) -> UploadBlobs:
    return UploadBlobs(settings)


SNIFF_LIMIT = 64 * 1024 * 1024
# Sniffing decodes text and may parse JSON. Up to this size that takes milliseconds and is done in a
# thread; above it, in a parse child (retrieval.isolation), and only briefly, since it holds a request.
SNIFF_IN_PROCESS_BYTES = 1024 * 1024
SNIFF_TIMEOUT_SECONDS = 10.0


async def _sniff_media_type(settings: Settings, path: Path, filename: str, size: int) -> str:
    """The media type judged from the content at upload (the ingestion job parses and checks it again)."""
    if size > SNIFF_LIMIT:
        return "application/octet-stream"
    if size <= SNIFF_IN_PROCESS_BYTES:
        return await asyncio.to_thread(sniff_media_type, str(path), filename)
    limits = ChildLimits.of(settings)
    limits = ChildLimits(min(limits.timeout_seconds, SNIFF_TIMEOUT_SECONDS), limits.memory_bytes)
    try:
        return await run_in_child(sniff_media_type, str(path), filename, limits=limits, what="sniff")
    except ParseError:  # over a limit: the job reports it
        return "application/octet-stream"


def default_chunking(settings: Settings) -> tuple[int, int]:
    """OpenAI's 800/400 for OpenAI embeddings; 256/64 for the offline models, which read 256 word pieces."""
    return (800, 400) if settings.effective_embedding_provider == "openai" else (256, 64)


@dataclass
class SourcedHit:
    """A hit with what a citation names: the file, its dataset and the dataset's license."""

    hit: Hit
    filename: str
    access: str
    dataset_id: uuid.UUID | None = None
    dataset_name: str = ""
    license: str | None = None
    attribution: str | None = None
    source_url: str | None = None  # the web page the file was imported from
    home: bool = True  # the answering GPT's own home dataset: its citations name no dataset (data-library.md)
    owner: DatasetOwner | None = None


class KnowledgeService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
    ):
        self.session = session
        self.settings = settings
        self._embedder = embedder
        self.reranker = reranker if reranker is not None else get_reranker(settings)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings)
        return self._embedder

    # Knowledge bases -------------------------------------------------------------------------------

    async def open_knowledge_base(
        self,
        gpt_id: uuid.UUID,
        owner_id: uuid.UUID,
        language: str | None,
        organization_id: uuid.UUID | None = None,
    ) -> None:
        """Create the home dataset of a new GPT (same id as the GPT) and attach it."""
        self.session.add(
            Dataset(
                id=gpt_id,
                home_gpt_id=gpt_id,
                owner_id=owner_id,
                organization_id=organization_id,
                text_search_config=text_search_config_for(language),
            )
        )
        await self.session.flush()
        self.session.add(GptDataset(gpt_id=gpt_id, dataset_id=gpt_id))
        await self.session.flush()

    async def configure(
        self,
        gpt_id: uuid.UUID,
        *,
        language: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        score_threshold: float | None = None,
        set_language: bool = False,
    ) -> None:
        """Change ingestion settings; a new language re-indexes the full-text column of existing chunks."""
        base = await self.session.get(KnowledgeBase, gpt_id)
        if base is None:
            raise NotFound("No such GPT")
        if chunk_size is not None:
            base.chunk_size = chunk_size
        if chunk_overlap is not None:
            base.chunk_overlap = chunk_overlap
        if score_threshold is not None:
            base.score_threshold = score_threshold
        if set_language:
            config = text_search_config_for(language)
            if config != base.text_search_config:
                base.text_search_config = config
                await self.session.execute(
                    sa.text(
                        "UPDATE knowledge_chunk"
                        " SET text_search_config = CAST(CAST(:config AS text) AS regconfig)"
                        " WHERE dataset_id = :dataset_id"
                    ),
                    {"config": config, "dataset_id": gpt_id},
                )
        await self.session.flush()

    async def load_bases(self, gpt_ids: list[uuid.UUID]) -> None:
        """Load several knowledge bases at once (later `session.get` calls find them in the session)."""
        if gpt_ids:
            await self.session.scalars(sa.select(Dataset).where(Dataset.id.in_(gpt_ids)))

    async def chunking_of(self, dataset_id: uuid.UUID) -> tuple[int, int]:
        base = await self.session.get(Dataset, dataset_id)
        size, overlap = default_chunking(self.settings)
        if base is not None and base.chunk_size:
            size = base.chunk_size
            overlap = base.chunk_overlap if base.chunk_overlap is not None else min(overlap, size // 2)
        return size, overlap

    async def score_threshold_of(self, gpt_id: uuid.UUID) -> float:
        """The relevance below which the GPT's answers use no passage: its own, else the setting's."""
        base = await self.session.get(KnowledgeBase, gpt_id)
        if base is not None and base.score_threshold is not None:
            return base.score_threshold
        return self.settings.retrieval_score_threshold

    async def knowledge_base_of(self, gpt_id: uuid.UUID) -> KnowledgeBase:
        base = await self.session.get(KnowledgeBase, gpt_id)
        if base is None:
            raise NotFound("No such GPT")
        return base

    async def knowledge_base_for(self, user: User, gpt_id: uuid.UUID) -> KnowledgeBase:
        """The GPT's knowledge base if `user` may edit the GPT (`orgs.access`: its owner, its organisation's
        builders, site admins); 403 naming the role for a member of its organisation below that, 404 for
        everyone else."""
        base = await self.session.get(KnowledgeBase, gpt_id)
        if base is None or not await self.may_edit(user, base, site_admin=True):
            if base is not None and await access.can_view(
                self.session, user, base.owner_id, base.organization_id
            ):
                needed = access.needed_role("edit")
                raise Forbidden(
                    f"This needs the role '{needed}' or higher in the GPT's organisation",
                    required_role=needed,
                )
            raise NotFound("No such GPT")
        return base

    async def may_edit(self, user: User, base: Dataset, *, site_admin: bool) -> bool:
        """Whether `user` edits the dataset: a GPT's home dataset as the GPT (its owner, its organisation's
        builders), another by its own owner and organisation (`orgs.access`); `site_admin=False`: as one
        of its owners (private passages stay with them, docs/trust.md). A home dataset's owner and
        organisation are its GPT's (kept in step on creation and transfer: `orgs.transfers`), so no
        statement reads the GPT."""
        return await access.can_edit(
            self.session, user, base.owner_id, base.organization_id, site_admin=site_admin
        )

    # Files --------------------------------------------------------------------------------------------

    def _attached(self, dataset_id: uuid.UUID) -> sa.Select:
        return sa.select(KnowledgeFile).where(
            KnowledgeFile.dataset_id == dataset_id, KnowledgeFile.detached_at.is_(None)
        )

    async def _bump_version(self, dataset_id: uuid.UUID) -> None:
        """A file came or went: the dataset's version grows by one (published GPTs keep theirs)."""
        await self.session.execute(
            sa.update(Dataset)
            .where(Dataset.id == dataset_id)
            .values(version=Dataset.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def add_file(
        self,
        base: KnowledgeBase,
        filename: str,
        content: AsyncIterator[bytes],
        *,
        access: str = "private",
        license: str | None = None,
        source_url: str | None = None,
    ) -> KnowledgeFile:
        """Store an upload and register it for ingestion; refused whole when over a limit or a duplicate.
        `source_url`: the web page it was fetched from (web imports), shown with its citations.

        Concurrent uploads of one creator take their turns between the checks and the insert (see
        `_check_upload`), so limits, quota and duplicates hold as if they came one by one; the bytes of
        a refused upload are removed.
        """
        filename = clean_filename(filename)
        if await self._file_count(base.id) >= self.file_limit(base):
            raise self._too_many_files(base)  # early, before the bytes are streamed; checked again below
        storage = storage_of(self.settings)
        file_id = uuid.uuid4()
        key = upload_key(file_id)
        spool = storage.spool_path(key)
        stored = False
        try:
            size, sha256 = await _spool_upload(spool, content, self.settings.max_file_bytes)
            media_type = await _sniff_media_type(self.settings, spool, filename, size)
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
        """How many more files the dataset takes (GPTSTORE_MAX_FILES_PER_GPT)."""
        return max(0, self.settings.max_files_per_gpt - await self._file_count(base.id))

    async def _file_count(self, dataset_id: uuid.UUID) -> int:
        return await self.session.scalar(
            sa.select(sa.func.count()).select_from(self._attached(dataset_id).subquery())
        )

    def file_limit(self, base: Dataset) -> int:
        """Files a dataset may hold: `max_files_per_gpt` in a GPT's home dataset (OpenAI's GPT knowledge),
        `max_files_per_dataset` in any other (OpenAI's vector stores)."""
        return self.settings.max_files_per_gpt if base.home_gpt_id else self.settings.max_files_per_dataset

    def _too_many_files(self, base: Dataset) -> Invalid:
        limit = self.file_limit(base)
        return Invalid(
            f"A dataset can have at most {limit} knowledge files; delete one first",
            field="file",
            limit="max_files_per_gpt" if base.home_gpt_id else "max_files_per_dataset",
        )

    async def _check_upload(self, base: KnowledgeBase, size: int, sha256: str) -> tuple[str, str | None]:
        """The checks of an upload, under the creator's upload lock (held until the request commits).
        Returns the dataset's access and license as they are now: a change of them waits for this upload
        (the dataset row stays key-share locked), so its files never miss one."""
        if size == 0:
            raise Invalid("The file is empty", field="file")
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
        if await self._file_count(base.id) >= self.file_limit(base):
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

    async def _check_duplicate(self, base: KnowledgeBase, sha256: str) -> None:
        existing = await self.session.scalar(self._attached(base.id).where(KnowledgeFile.sha256 == sha256))
        if existing is not None:
            raise Conflict(
                f"{'This GPT' if base.home_gpt_id else 'This dataset'} already has this content"
                f" as '{existing.filename}' ({existing.id})",
                existing_file_id=str(existing.id),
            )

    async def list_files(self, base: KnowledgeBase) -> list[KnowledgeFile]:
        rows = await self.session.scalars(
            self._attached(base.id).order_by(
                KnowledgeFile.created_at, KnowledgeFile.filename, KnowledgeFile.id
            )
        )
        return list(rows)

    async def get_file(
        self, base: KnowledgeBase, file_id: uuid.UUID, *, for_update: bool = False
    ) -> KnowledgeFile:
        """The attached file; `for_update` locks it, so a concurrent delete finds it gone (404)."""
        query = self._attached(base.id).where(KnowledgeFile.id == file_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = await self.session.scalar(query)
        if row is None:
            raise NotFound("No such file")
        return row

    async def delete_file(self, base: KnowledgeBase, file_id: uuid.UUID) -> None:
        """Remove a file and its chunks (a running ingestion stops); a published version keeps its copy.
        The stored upload goes only once the transaction commits."""
        row = await self.get_file(base, file_id, for_update=True)
        await self._bump_version(base.id)
        if row.pinned:
            row.detached_at = utcnow()
            if row.status == ACTIVE:
                row.status = "cancelled"
            await self.session.flush()
            return
        await self.session.delete(row)
        await self.session.flush()
        storage = storage_of(self.settings)  # once the row is gone for good (as in `forget_blobs`)
        after_commit(self.session, lambda: storage.delete_soon([upload_key(file_id)]))

    async def forget_blobs(self, dataset_id: uuid.UUID) -> None:
        """Delete the stored uploads of a dataset (a GPT's home dataset goes with the GPT) whose rows are
        being deleted (its chunks go by cascade)."""
        owner_id = await self.session.scalar(sa.select(Dataset.owner_id).where(Dataset.id == dataset_id))
        if owner_id is not None:  # no upload of the owner slips in between this listing and the delete
            await serialize(self.session, "knowledge", owner_id)
        ids = list(
            await self.session.scalars(
                sa.select(KnowledgeFile.id).where(KnowledgeFile.dataset_id == dataset_id)
            )
        )
        storage = storage_of(self.settings)
        # Only once the rows are gone for good: a deletion that fails (a deadlock with a concurrent request,
        # answered 503) keeps the GPT, and it must keep its uploads too.
        after_commit(self.session, lambda: storage.delete_soon(upload_key(file_id) for file_id in ids))

    async def open_upload(self, file_id: uuid.UUID) -> StoredObject:
        """The stored bytes of a file, to stream (size, chunks); NotFound when storage lost them."""
        try:
            return await storage_of(self.settings).open(upload_key(file_id))
        except FileNotFoundError:
            raise NotFound("The file's content is missing from storage") from None

    async def read_upload(self, file_id: uuid.UUID) -> bytes:
        """The stored bytes of a file, whole (for an export archive); NotFound when storage lost them."""
        try:
            return await storage_of(self.settings).read(upload_key(file_id))
        except FileNotFoundError:
            raise NotFound("The file's content is missing from storage") from None

    async def attached_datasets(self, gpt_id: uuid.UUID) -> list[tuple[Dataset, bool]]:
        """The datasets a GPT draft uses, home first, each with its `follow_latest` choice."""
        rows = (
            await self.session.execute(
                sa.select(Dataset, GptDataset.follow_latest)
                .join(GptDataset, GptDataset.dataset_id == Dataset.id)
                .where(GptDataset.gpt_id == gpt_id)
                .order_by((Dataset.id == gpt_id).desc(), GptDataset.created_at, Dataset.id)
            )
        ).all()
        return [(row[0], row[1]) for row in rows]

    async def pin_files(self, gpt_id: uuid.UUID) -> tuple[list[uuid.UUID], list[dict[str, Any]]]:
        """What a version publishes: the completed files of the datasets the draft uses (marked as used by a
        published version, so deleting them from a dataset only detaches them), and the datasets
        `[{"id", "version", "follow_latest"}]`. Files of "follow latest" datasets are not listed: the
        version reads those datasets' current files (`version_file_ids`)."""
        # A dataset being deleted waits for this publish (then refuses: the version uses it), or this
        # publish waits for the deletion and no longer finds it attached.
        await self.session.execute(
            sa.select(Dataset.id)
            .where(Dataset.id.in_(sa.select(GptDataset.dataset_id).where(GptDataset.gpt_id == gpt_id)))
            .with_for_update(key_share=True)
        )
        attached = await self.attached_datasets(gpt_id)
        pinned = [dataset.id for dataset, follow in attached if not follow]
        rows = []
        if pinned:
            rows = list(
                await self.session.scalars(
                    sa.select(KnowledgeFile).where(
                        KnowledgeFile.dataset_id.in_(pinned),
                        KnowledgeFile.detached_at.is_(None),
                        KnowledgeFile.status == "completed",
                    )
                )
            )
        for row in rows:
            row.pinned = True
        await self.session.flush()
        datasets = [
            {"id": str(dataset.id), "version": dataset.version, "follow_latest": follow}
            for dataset, follow in attached
        ]
        return [row.id for row in rows], datasets

    async def version_file_ids(
        self, file_ids: Iterable[str], datasets: Iterable[dict[str, Any]]
    ) -> list[uuid.UUID]:
        """The files a published version answers from: those it pinned, plus the current completed files
        of the datasets it follows (`follow_latest`)."""
        ids = [uuid.UUID(str(f)) for f in file_ids]
        follow = [uuid.UUID(d["id"]) for d in datasets if d.get("follow_latest")]
        if follow:
            ids += list(
                await self.session.scalars(
                    sa.select(KnowledgeFile.id).where(
                        KnowledgeFile.dataset_id.in_(follow),
                        KnowledgeFile.detached_at.is_(None),
                        KnowledgeFile.status == "completed",
                    )
                )
            )
        return list(dict.fromkeys(ids))

    async def files_by_ids(self, file_ids: Iterable[uuid.UUID]) -> list[KnowledgeFile]:
        ids = list(file_ids)
        if not ids:
            return []
        rows = await self.session.scalars(
            sa.select(KnowledgeFile).where(KnowledgeFile.id.in_(ids)).order_by(KnowledgeFile.created_at)
        )
        return list(rows)

    async def stale_ingestions(self, older_than_seconds: int) -> list[KnowledgeFile]:
        cutoff = datetime.now(UTC).timestamp() - older_than_seconds
        rows = await self.session.scalars(
            sa.select(KnowledgeFile).where(
                KnowledgeFile.status == ACTIVE,
                KnowledgeFile.dispatched.is_(
                    True
                ),  # waiting files are the scheduler's (retrieval.scheduling)
                KnowledgeFile.updated_at < sa.func.to_timestamp(cutoff),
            )
        )
        return list(rows)

    # Search -------------------------------------------------------------------------------------------

    async def search(
        self,
        gpt_id: uuid.UUID,
        query: str,
        *,
        k: int = 8,
        file_ids: list[uuid.UUID] | None = None,
        follow: Iterable[uuid.UUID] = (),
        only: Iterable[uuid.UUID] | None = None,
        score_threshold: float | None = None,
        mode: Mode = "hybrid",
        fusion: Fusion | None = None,
        for_answer: bool = False,
    ) -> list[SourcedHit]:
        """Hybrid search over the datasets a GPT uses, chunks embedded by the current model.

        `file_ids`: these files (a published version's pinned ones) plus the current completed files of the
        datasets in `follow` (those it follows, `follow_latest`); without `file_ids`, the current files of
        every dataset attached to the draft. `only` (a client's filter) narrows that scope and never widens
        it: a file outside it finds nothing. All datasets are searched in one query (`dataset_id =
        ANY(...)`), never one round trip per dataset. Keyword search reads the query with the GPT's own
        (home dataset's) text search configuration.

        `for_answer`: without a `score_threshold`, apply the GPT's own (else the setting's), so an answer
        gets no passage when the knowledge holds nothing on the question.

        Two statements: the datasets' files (for the strategy, the filter and the sources), then the search.
        """
        embedder = self.embedder
        await embedder.load()
        model_id = embedder.model_id
        attached = sa.select(GptDataset.dataset_id).where(GptDataset.gpt_id == gpt_id)
        if file_ids is None:  # the draft: files detached from it stay searchable only for their versions
            in_scope = KnowledgeFile.detached_at.is_(None)
            datasets = sa.or_(Dataset.id == gpt_id, Dataset.id.in_(attached))
        else:
            follow = list(follow)
            in_scope = sa.or_(
                KnowledgeFile.id.in_(file_ids),
                sa.and_(
                    KnowledgeFile.dataset_id.in_(follow),
                    KnowledgeFile.detached_at.is_(None),
                    KnowledgeFile.status == "completed",
                ),
            )
            holding = sa.select(KnowledgeFile.dataset_id).where(KnowledgeFile.id.in_(file_ids))
            datasets = sa.or_(Dataset.id == gpt_id, Dataset.id.in_(holding), Dataset.id.in_(follow))
        rows = (
            await self.session.execute(
                sa.select(
                    Dataset.id.label("dataset_id"),
                    Dataset.name.label("dataset_name"),
                    Dataset.access.label("dataset_access"),
                    Dataset.owner_id,
                    Dataset.organization_id,
                    Dataset.attribution,
                    Dataset.text_search_config,
                    Dataset.score_threshold,
                    Dataset.organization_id,
                    User.handle.label("owner_handle"),
                    User.display_name.label("owner_name"),
                    KnowledgeFile.id,
                    KnowledgeFile.filename,
                    KnowledgeFile.access,
                    KnowledgeFile.license,
                    KnowledgeFile.source_url,
                    KnowledgeFile.chunks_done,
                    KnowledgeFile.embedding_model,
                )
                .select_from(Dataset)
                .join(User, User.id == Dataset.owner_id)
                .outerjoin(KnowledgeFile, sa.and_(KnowledgeFile.dataset_id == Dataset.id, in_scope))
                .where(datasets)
            )
        ).all()
        home = next((row for row in rows if row.dataset_id == gpt_id), None)
        if home is None:
            return []
        # A dataset made private since it was attached no longer answers in other owners' GPTs.
        files = {
            row.id: row
            for row in rows
            if row.id is not None
            and gpt_may_use(
                home.owner_id, home.organization_id, row.dataset_access, row.owner_id, row.organization_id
            )
        }
        if only is not None:
            wanted = set(only)
            files = {file_id: row for file_id, row in files.items() if file_id in wanted}
        total = sum(row.chunks_done for row in files.values() if row.embedding_model == model_id)
        if not total:
            return []
        if for_answer and score_threshold is None:
            own = home.score_threshold
            score_threshold = own if own is not None else self.settings.retrieval_score_threshold
        query_vector = await embedder.embed_query(query) if mode != "keyword" else None
        # A reranker reorders the fused best `rerank_candidates` (hybrid search only; the scores stay).
        rerank = self.reranker is not None and mode == "hybrid"
        window = max(k, self.settings.rerank_candidates) if rerank else k
        hits = await search_chunks(
            self.session,
            dataset_ids=sorted({row.dataset_id for row in files.values()}),
            model_id=model_id,
            dimensions=embedder.dimensions,
            query_vector=query_vector,
            query_text=query,
            text_search_config=home.text_search_config,
            k=window,
            chunk_total=total,
            file_ids=list(files),
            mode=mode,
            score_threshold=score_threshold,
            fusion=fusion or DEFAULT_FUSION,
        )
        if rerank:
            hits = await rerank_hits(self.reranker, query, hits, lambda h: h.text, k)
        cited = [files[h.file_id] for h in hits]
        organizations = await organization_owners(self.session, (row.organization_id for row in cited))
        return [_sourced(h, files[h.file_id], organizations, gpt_id) for h in hits]


def _sourced(
    hit: Hit, row: Any, organizations: dict[uuid.UUID, DatasetOwner], gpt_id: uuid.UUID
) -> SourcedHit:
    # A file's access and license follow its dataset's (kept in step when the dataset changes), except in
    # a GPT's home dataset, where each file has its own.
    return SourcedHit(
        hit=hit,
        filename=row.filename,
        access=row.access,
        dataset_id=row.dataset_id,
        dataset_name=row.dataset_name,
        license=row.license,
        attribution=row.attribution,
        source_url=row.source_url,
        home=row.dataset_id == gpt_id,  # another GPT's open home dataset is named like any dataset
        owner=owner_of(row.organization_id, row.owner_handle, row.owner_name, organizations),
    )


PROGRESS_POLL_SECONDS = 0.5


async def file_progress_events(
    db: Database, dataset_id: uuid.UUID, file_id: uuid.UUID
) -> AsyncIterator[dict[str, Any]]:
    """SSE events of one file's ingestion (the caller checked access): `progress` with the `FileRead`
    whenever it changes, then `done` once it is final, or `deleted` `{id}` if it goes. Polls the row every
    `PROGRESS_POLL_SECONDS`, each time in a short transaction of its own."""
    last = None
    while True:
        async with db.session_scope() as session:
            row = await session.get(KnowledgeFile, file_id)
            snapshot = (
                FileRead.of(row).model_dump(mode="json") if row and row.dataset_id == dataset_id else None
            )
        if snapshot is None:
            yield {"event": "deleted", "data": json.dumps({"id": str(file_id)})}
            return
        if snapshot != last:
            event = "done" if snapshot["status"] in FINAL_STATES else "progress"
            yield {"event": event, "data": json.dumps(snapshot)}
            last = snapshot
            if event == "done":
                return
        await asyncio.sleep(PROGRESS_POLL_SECONDS)
