"""Knowledge: datasets and their files, ingestion into chunks, and search over the datasets a GPT uses.

Builder and store use retrieval only through this module.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import after_commit, after_rollback, serialize, unique_or_conflict, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from core.filenames import clean_filename, clean_member_name
from core.models import User
from core.settings import Settings
from core.storage import StoredObject, storage_of
from orgs import access
from retrieval.embedding import Embedder, get_embedder
from retrieval.knowledge_search import KnowledgeSearch
from retrieval.licenses import file_license
from retrieval.models import Dataset, GptDataset, KnowledgeBase, KnowledgeFile
from retrieval.rerank import Reranker, get_reranker
from retrieval.schemas import MAX_FOLLOWED_FILES
from retrieval.search import text_search_config_for
from retrieval.uploads import sniff_upload, spool_upload, upload_key

logger = logging.getLogger("gptstore.retrieval")

ACTIVE = "in_progress"
FINAL_STATES = ("completed", "failed", "cancelled")
# Files that hold nothing searchable and never will: the same content uploaded again replaces them
# (`KnowledgeService.replace_gone`), it is no duplicate of them.
GONE_STATES = ("failed", "cancelled")


def default_chunking(settings: Settings) -> tuple[int, int]:
    """OpenAI's 800/400 for OpenAI embeddings; 256/64 for the offline models, which read 256 word pieces."""
    return (800, 400) if settings.effective_embedding_provider == "openai" else (256, 64)


class KnowledgeService(KnowledgeSearch):
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

    async def load_bases(self, gpt_ids: list[uuid.UUID]) -> list[Dataset]:
        """Load several knowledge bases at once: later `session.get` calls find them in the session while
        the caller holds the returned list (the identity map keeps objects only weakly)."""
        if not gpt_ids:
            return []
        return list(await self.session.scalars(sa.select(Dataset).where(Dataset.id.in_(gpt_ids))))

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
        await self.require_edit(user, base)
        return base

    async def require_edit(self, user: User, base: Dataset | Any | None) -> None:
        """`knowledge_base_for`'s check on a home dataset already read (None: there is no such GPT), as a
        `Dataset` or any row with its `owner_id` and `organization_id` (the search's scope row)."""
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

    async def may_edit(self, user: User, base: Dataset | Any, *, site_admin: bool) -> bool:
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
        if await self._file_count(base.id) >= self.file_limit(base):
            raise self._too_many_files(base)  # early, before the bytes are streamed; checked again below
        storage = storage_of(self.settings)
        file_id = uuid.uuid4()
        key = upload_key(file_id)
        spool = storage.spool_path(key)
        stored = False
        try:
            size, sha256 = await spool_upload(spool, content, self.settings.max_file_bytes)
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
        await self.replace_gone(base, [sha256])
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

    async def list_files(self, base: KnowledgeBase) -> list[KnowledgeFile]:
        rows = await self.session.scalars(
            self._attached(base.id).order_by(
                KnowledgeFile.created_at, KnowledgeFile.filename, KnowledgeFile.id
            )
        )
        return list(rows)

    async def followed_files(
        self, base: KnowledgeBase, ids: list[uuid.UUID] | None, limit: int = MAX_FOLLOWED_FILES
    ) -> list[uuid.UUID]:
        """The files an events stream follows: `ids` as given (one that is not a file of `base` is
        answered `deleted` by the stream), else the first `limit` still in progress, in upload order."""
        if ids is not None:
            return ids
        query = self._attached(base.id).where(KnowledgeFile.status == ACTIVE)
        order = (KnowledgeFile.created_at, KnowledgeFile.filename, KnowledgeFile.id)
        return list(
            await self.session.scalars(
                query.with_only_columns(KnowledgeFile.id).order_by(*order).limit(limit)
            )
        )

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
        return (await self.attached_datasets_of([gpt_id]))[gpt_id]

    async def attached_datasets_of(
        self, gpt_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[Dataset, bool]]]:
        """`attached_datasets` of many drafts in one statement (a list page): `{gpt_id: [...]}`, every
        asked id present."""
        if not gpt_ids:
            return {}
        rows = (
            await self.session.execute(
                sa.select(GptDataset.gpt_id, Dataset, GptDataset.follow_latest)
                .join(GptDataset, GptDataset.dataset_id == Dataset.id)
                .where(GptDataset.gpt_id.in_(gpt_ids))
                .order_by(
                    GptDataset.gpt_id,
                    (Dataset.id == GptDataset.gpt_id).desc(),
                    GptDataset.created_at,
                    Dataset.id,
                )
            )
        ).all()
        attached: dict[uuid.UUID, list[tuple[Dataset, bool]]] = {gpt_id: [] for gpt_id in gpt_ids}
        for gpt_id, dataset, follow in rows:
            attached[gpt_id].append((dataset, follow))
        return attached

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
