"""Retrieval tables: a GPT's knowledge base, its files and their chunks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlmodel import Field, SQLModel

from core.db import Vector, created_at_field, id_field, updated_at_field


class KnowledgeBase(SQLModel, table=True):
    """Ingestion settings of one GPT's knowledge; the GPT's owner may manage it."""

    __tablename__ = "knowledge_base"

    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    text_search_config: str = Field(default="simple", max_length=40)
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    # Relevance below which passages are not handed to answers; None: GPTSTORE_RETRIEVAL_SCORE_THRESHOLD.
    score_threshold: float | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class KnowledgeFile(SQLModel, table=True):
    __tablename__ = "knowledge_file"
    __table_args__ = (
        sa.Index("ix_knowledge_file_gpt", "gpt_id"),
        sa.Index("ix_knowledge_file_status", "status"),
        sa.Index(
            "uq_knowledge_file_gpt_sha256",
            "gpt_id",
            "sha256",
            unique=True,
            postgresql_where=sa.text("detached_at IS NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("knowledge_base.gpt_id", ondelete="CASCADE"), nullable=False
        )
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
    pinned: bool = False  # a published version uses it: deleting it from the draft only detaches it
    # Set when the draft drops a file that a published version still uses: kept for that version only.
    detached_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class KnowledgeChunk(SQLModel, table=True):
    __tablename__ = "knowledge_chunk"
    __table_args__ = (
        sa.UniqueConstraint("file_id", "ord", name="uq_knowledge_chunk_file_ord"),
        sa.Index("ix_knowledge_chunk_gpt_model", "gpt_id", "embedding_model"),
        sa.Index("ix_knowledge_chunk_tsv", "tsv", postgresql_using="gin"),
        sa.Index("ix_knowledge_chunk_tsv_ngram", "tsv_ngram", postgresql_using="gin"),
    )

    id: uuid.UUID = id_field()
    file_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("knowledge_file.id", ondelete="CASCADE"), nullable=False)
    )
    gpt_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    ord: int
    text: str = Field(sa_type=sa.Text)
    token_count: int
    page: int | None = None
    heading: str | None = Field(default=None, sa_type=sa.Text)
    char_start: int
    char_end: int
    embedding_model: str = Field(max_length=120)
    # No fixed dimension: each model's vectors are compared through its own expression index.
    embedding: Any = Field(sa_column=sa.Column(Vector(), nullable=False))
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
