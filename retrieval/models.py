"""Retrieval tables: datasets (named collections of knowledge files), their files and chunks, the
datasets each GPT draft uses (docs/data-library.md), and imports from the web."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, REGCONFIG, TSVECTOR
from sqlmodel import Field, SQLModel

from core.db import Vector, created_at_field, id_field, updated_at_field


class Dataset(SQLModel, table=True):
    """A named collection of knowledge files with its ingestion settings (docs/data-library.md).

    Every GPT has a *home* dataset (`home_gpt_id`, same id as the GPT) behind `/api/gpts/{id}/files`; it
    also carries the GPT's `score_threshold`. Others are made on their own and attached to GPTs.
    `version` grows by one whenever a file is added or removed; published GPT versions pin it.
    Owned by a user (`owner_id`, also whose storage quota the files count against) and, when set, by an
    organisation (`organization_id`).
    """

    __tablename__ = "dataset"

    id: uuid.UUID = id_field()
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("organization.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    home_gpt_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), unique=True, nullable=True),
    )
    name: str = Field(default="", max_length=100)
    description: str = Field(default="", sa_type=sa.Text)
    access: str = Field(default="private", max_length=16)  # open | private
    license: str | None = Field(default=None, max_length=100)  # an SPDX id; required when open
    attribution: str | None = Field(default=None, max_length=500)
    version: int = 1
    text_search_config: str = Field(default="simple", max_length=40)
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    # Relevance below which passages are not handed to answers; None: GPTSTORE_RETRIEVAL_SCORE_THRESHOLD.
    score_threshold: float | None = None
    # How many listed GPTs' live versions use it (open datasets): the directory's "used by" and its `used`
    # sort, recomputed by the counters job (store.datasets.refresh_used_by).
    used_by: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


# The name the code used before datasets (a GPT's home dataset is its knowledge base).
KnowledgeBase = Dataset


class GptDataset(SQLModel, table=True):
    """A dataset a GPT draft uses; `follow_latest` lets its later edits reach the live version unpublished."""

    __tablename__ = "gpt_dataset"

    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    dataset_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    follow_latest: bool = False
    created_at: datetime = created_at_field()


class FileBatch(SQLModel, table=True):
    """Files added to a dataset in one request, ingested as one unit one can watch and cancel
    (OpenAI's vector store file batch; docs/ingestion.md). Its status and counts are read from its files;
    `cancelled_at` records a cancellation."""

    __tablename__ = "file_batch"

    id: uuid.UUID = id_field()
    dataset_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    # Parts not added: `[{"filename", "reason", "existing_file_id"?}]` (empty, or content the dataset has).
    skipped: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default="[]")
    )
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class KnowledgeFile(SQLModel, table=True):
    __tablename__ = "knowledge_file"
    __table_args__ = (
        sa.Index("ix_knowledge_file_dataset", "dataset_id"),
        sa.Index("ix_knowledge_file_status", "status"),
        sa.Index("ix_knowledge_file_batch", "batch_id", "status"),
        # The owner's backlog, oldest first: files waiting for an ingestion slot (retrieval.scheduling).
        sa.Index(
            "ix_knowledge_file_backlog",
            "owner_id",
            "created_at",
            postgresql_where=sa.text("NOT dispatched AND status = 'in_progress'"),
        ),
        sa.Index(
            "uq_knowledge_file_dataset_sha256",
            "dataset_id",
            "sha256",
            unique=True,
            postgresql_where=sa.text("detached_at IS NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    dataset_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False)
    )
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    filename: str = Field(max_length=255)
    media_type: str = Field(max_length=120)
    bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    access: str = Field(default="private", max_length=16)
    license: str | None = Field(default=None, max_length=200)
    # The page a web import fetched this file from (docs/retrieval.md#import-from-the-web), for citations.
    source_url: str | None = Field(default=None, max_length=2000)
    status: str = Field(default="in_progress", max_length=16)
    chunks_done: int = 0
    chunks_total: int | None = None
    chunk_count: int = 0
    token_count: int = 0
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, max_length=1000)
    # Set on a completed file whose extracted text is far below what its format holds (parsing warning).
    warning: str | None = Field(default=None, max_length=1000)
    chunk_size: int
    chunk_overlap: int
    embedding_model: str | None = Field(default=None, max_length=120)
    attempts: int = 0
    batch_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("file_batch.id", ondelete="SET NULL"), nullable=True),
    )
    # False while the file waits in its owner's backlog; True once handed to the job queue
    # (retrieval.scheduling keeps at most `ingestion_slots_per_owner` of an owner's files dispatched).
    dispatched: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    pinned: bool = False  # a published version uses it: deleting it from the draft only detaches it
    # Set when the draft drops a file that a published version still uses: kept for that version only.
    detached_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class KnowledgeChunk(SQLModel, table=True):
    __tablename__ = "knowledge_chunk"
    __table_args__ = (
        sa.UniqueConstraint("file_id", "ord", name="uq_knowledge_chunk_file_ord"),
        sa.Index("ix_knowledge_chunk_dataset_model", "dataset_id", "embedding_model"),
        sa.Index("ix_knowledge_chunk_tsv", "tsv", postgresql_using="gin"),
        sa.Index("ix_knowledge_chunk_tsv_ngram", "tsv_ngram", postgresql_using="gin"),
    )

    id: uuid.UUID = id_field()
    file_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("knowledge_file.id", ondelete="CASCADE"), nullable=False)
    )
    dataset_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    ord: int
    text: str = Field(sa_type=sa.Text)
    token_count: int
    page: int | None = None
    heading: str | None = Field(default=None, sa_type=sa.Text)
    char_start: int
    char_end: int
    embedding_model: str = Field(max_length=120)
    # No fixed dimension: each model's vectors are compared through its own expression index. NULL while
    # the vector waits in `knowledge_chunk_tail` for the indexer (the HNSW index skips NULLs).
    embedding: Any = Field(default=None, sa_column=sa.Column(Vector(), nullable=True))
    text_search_config: str = Field(
        default="simple", sa_column=sa.Column(REGCONFIG, nullable=False, server_default="simple")
    )
    tsv: Any = Field(
        default=None,
        sa_column=sa.Column(
            TSVECTOR, sa.Computed("to_tsvector(text_search_config, text)", persisted=True), nullable=True
        ),
    )
    # Character bigrams of Chinese, Japanese and Thai runs (retrieval.ngrams; function from migration 0009).
    tsv_ngram: Any = Field(
        default=None,
        sa_column=sa.Column(
            TSVECTOR,
            sa.Computed("to_tsvector('simple'::regconfig, cjk_bigrams(text))", persisted=True),
            nullable=True,
        ),
    )


class KnowledgeChunkTail(SQLModel, table=True):
    """The vector of a chunk not yet in its model's HNSW index (docs/ingestion.md#the-vector-tail).

    Ingestion writes a chunk's vector here and leaves `knowledge_chunk.embedding` NULL, so the write does
    not pay the HNSW insert; search scans these rows exactly beside the index, and `retrieval.indexer`
    moves them into the chunk rows (and so into the index) in batches. Goes with its chunk (FK cascade).
    """

    __tablename__ = "knowledge_chunk_tail"
    __table_args__ = (sa.Index("ix_knowledge_chunk_tail_dataset_model", "dataset_id", "embedding_model"),)

    chunk_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("knowledge_chunk.id", ondelete="CASCADE"), primary_key=True
        )
    )
    dataset_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    file_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    embedding_model: str = Field(max_length=120)
    embedding: Any = Field(sa_column=sa.Column(Vector(), nullable=False))


class WebImport(SQLModel, table=True):
    """Pages of the web added to a knowledge base: one URL, a list, or a sitemap; re-synced on demand.

    The counts are those of the latest run; `status` is `queued`, `in_progress`, `completed` or `failed`
    (the sitemap could not be read: nothing changed)."""

    __tablename__ = "web_import"

    id: uuid.UUID = id_field()
    dataset_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    urls: list[str] = Field(default_factory=list, sa_type=JSONB)  # the pages asked for (none: a sitemap)
    sitemap_url: str | None = Field(default=None, max_length=2000)
    access: str = Field(default="private", max_length=16)  # of the files it makes
    license: str | None = Field(default=None, max_length=200)  # of the files it makes (an SPDX id)
    status: str = Field(default="queued", max_length=16)
    runs: int = 0
    pages_total: int = 0
    pages_done: int = 0
    pages_added: int = 0
    pages_updated: int = 0
    pages_unchanged: int = 0
    pages_removed: int = 0
    pages_failed: int = 0
    capped: bool = False  # the sitemap listed more pages than the import may take
    error: str | None = Field(default=None, max_length=1000)
    # Nested sitemaps that could not be read: [{"url", "error"}]
    sitemap_errors: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONB)
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class WebPage(SQLModel, table=True):
    """One URL of an import: what its last fetch gave (validators for conditional requests, content hash)
    and the knowledge file holding it."""

    __tablename__ = "web_page"
    __table_args__ = (sa.UniqueConstraint("import_id", "url", name="uq_web_page_import_url"),)

    id: uuid.UUID = id_field()
    import_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("web_import.id", ondelete="CASCADE"), nullable=False)
    )
    url: str = Field(max_length=2000)
    file_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("knowledge_file.id", ondelete="SET NULL"), index=True, nullable=True
        ),
    )
    # True when this page made the file; False when its content was already in the knowledge base.
    owns_file: bool = False
    sha256: str | None = Field(default=None, max_length=64)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    # pending, added, updated, unchanged, duplicate or failed: the outcome of the latest run
    status: str = Field(default="pending", max_length=16)
    error: str | None = Field(default=None, max_length=1000)
    fetched_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
