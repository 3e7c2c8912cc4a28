"""Knowledge: datasets and their files, ingestion into chunks, and search over the datasets a GPT uses.

Builder and store use retrieval only through this module.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.concurrency import after_commit, serialize
from core.db import utcnow
from core.errors import Invalid, NotFound
from core.models import User
from core.settings import Settings
from core.storage import StoredObject, storage_of
from orgs import access
from retrieval.embedding import Embedder, get_embedder
from retrieval.file_uploads import FileUploads
from retrieval.knowledge_search import KnowledgeSearch
from retrieval.models import Dataset, GptDataset, KnowledgeBase, KnowledgeFile
from retrieval.published_files import PublishedFiles
from retrieval.rerank import Reranker, get_reranker
from retrieval.schemas import MAX_FOLLOWED_FILES, overlap_too_large
from retrieval.search import text_search_config_for
from retrieval.uploads import upload_key

logger = logging.getLogger("gptstore.retrieval")

ACTIVE = "in_progress"
FINAL_STATES = ("completed", "failed", "cancelled")


def default_chunking(settings: Settings) -> tuple[int, int]:
    """OpenAI's 800/400 for OpenAI embeddings; 256/64 for the offline models, which read 256 word pieces."""
    return (800, 400) if settings.effective_embedding_provider == "openai" else (256, 64)


class KnowledgeService(FileUploads, PublishedFiles, KnowledgeSearch):
    """Datasets' files and their search: uploads (`retrieval.file_uploads`), what versions answer from
    (`retrieval.published_files`), search (`retrieval.knowledge_search`), and the rest here."""

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
        if chunk_size is not None or chunk_overlap is not None:
            self._check_chunking(base, overlap_sent=chunk_overlap is not None)
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
        """(chunk size, overlap) in tokens for the dataset's new files: its own, else the defaults."""
        return self._chunking(await self.session.get(Dataset, dataset_id))

    def _chunking(self, base: Dataset | None) -> tuple[int, int]:
        size, overlap = default_chunking(self.settings)
        if base is not None:
            size = base.chunk_size or size
            overlap = base.chunk_overlap if base.chunk_overlap is not None else min(overlap, size // 2)
        return size, overlap

    def _check_chunking(self, base: Dataset, *, overlap_sent: bool) -> None:
        """A 422 when the overlap, as set now, is over half the chunk size, naming the field that was sent
        (the overlap when both were) with the limit it has against the other."""
        size, overlap = self._chunking(base)
        if overlap_sent and (reason := overlap_too_large(overlap, size)):
            raise Invalid(reason, field="retrieval.chunk_overlap")
        if not overlap_sent and overlap_too_large(overlap, size):
            raise Invalid(
                f"chunk_size must be at least {2 * overlap:,}, twice chunk_overlap ({overlap:,})",
                field="retrieval.chunk_size",
            )

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

    async def require_edit(
        self, user: access.Principal, base: Dataset | Any | None, *, role: access.RoleOrAsk = access.ASK
    ) -> None:
        """`knowledge_base_for`'s check on a home dataset already read (None: there is no such GPT), as a
        `Dataset` or any row with its `owner_id` and `organization_id` (the search's scope row); `role`:
        the user's role in its organisation when already read (`orgs.access.can`)."""
        if base is None:
            raise NotFound("No such GPT")
        await access.require(
            self.session,
            user,
            base.owner_id,
            base.organization_id,
            "edit",
            not_found="No such GPT",
            role=role,
        )

    async def may_edit(
        self,
        user: access.Principal,
        base: Dataset | Any,
        *,
        site_admin: bool,
        role: access.RoleOrAsk = access.ASK,
    ) -> bool:
        """Whether `user` edits the dataset: a GPT's home dataset as the GPT (its owner, its organisation's
        builders), another by its own owner and organisation (`orgs.access`); `site_admin=False`: as one
        of its owners (private passages stay with them, docs/trust.md). A home dataset's owner and
        organisation are its GPT's (kept in step on creation and transfer: `orgs.transfers`), so no
        statement reads the GPT."""
        return await access.can_edit(
            self.session, user, base.owner_id, base.organization_id, site_admin=site_admin, role=role
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
