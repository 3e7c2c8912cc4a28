"""Store tables: immutable versions, the listing of each GPT, conversations, ratings, reports, usage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from core.db import Vector, created_at_field, id_field, updated_at_field


def _fk(target: str, *, index: bool = True, nullable: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey(target, ondelete="CASCADE"), index=index, nullable=nullable
        )
    )


def _timestamp() -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True))


class GptVersion(SQLModel, table=True):
    """An immutable snapshot of a draft's config and knowledge file set."""

    __tablename__ = "gpt_version"
    __table_args__ = (sa.UniqueConstraint("gpt_id", "number", name="uq_gpt_version_number"),)

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _fk("gpt.id")
    number: int
    visibility: str = Field(max_length=16)  # private | organisation | link | public
    review_status: str = Field(max_length=16)  # approved | rejected
    review_reasons: list[str] = Field(default_factory=list, sa_type=JSONB)
    config: dict[str, Any] = Field(sa_type=JSONB)
    file_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    # The datasets it was published with: [{"id", "version", "follow_latest"}] (docs/data-library.md).
    datasets: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")}
    )
    release_notes: str | None = Field(default=None, max_length=2000)
    created_at: datetime = created_at_field()


class Listing(SQLModel, table=True):
    """What the store shows of a GPT: its live version, visibility, listing text and aggregate numbers."""

    __tablename__ = "listing"
    __table_args__ = (
        sa.Index("ix_listing_listed_trending", "listed", "trending_score"),
        sa.Index("ix_listing_listed_top", "listed", "top_score"),
        sa.Index("ix_listing_listed_new", "listed", "first_approved_at"),
        sa.Index("ix_listing_category", "category", "listed"),
        sa.Index("ix_listing_tsv", "search_tsv", postgresql_using="gin"),
        # Category pages in every sort, and the featured shelf, read only the rows they show (bench/store.py).
        sa.Index(
            "ix_listing_featured", "featured_rank", "gpt_id",
            postgresql_where=sa.text("listed AND featured_rank IS NOT NULL"),
        ),
        sa.Index(
            "ix_listing_category_trending", "category", "trending_score", "gpt_id",
            postgresql_where=sa.text("listed"),
        ),
        sa.Index(
            "ix_listing_category_top", "category", "top_score", "gpt_id",
            postgresql_where=sa.text("listed"),
        ),
        sa.Index(
            "ix_listing_category_new", "category", "first_approved_at", "gpt_id",
            postgresql_where=sa.text("listed"),
        ),
    )  # fmt: skip

    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    owner_id: uuid.UUID = _fk("user_account.id")
    # The GPT's organisation, kept in step with `gpt.organization_id` (the store shows it as the creator).
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("organization.id", ondelete="RESTRICT"), index=True, nullable=True
        ),
    )
    live_version: int | None = None  # latest approved version; what users see and chat with
    visibility: str = Field(default="private", max_length=16)
    listed: bool = False  # public, approved, not unlisted by an admin, not hidden by reports
    unlisted_reason: str | None = Field(default=None, max_length=1000)
    hidden_by_reports: bool = False
    first_approved_at: datetime | None = _timestamp()
    name: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=300)
    category: str | None = Field(default=None, max_length=40)
    tags: list[str] = Field(default_factory=list, sa_type=JSONB)
    creator_handle: str = Field(default="", max_length=40)
    search_text: str = Field(default="", sa_type=sa.Text)
    search_tsv: Any = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed("to_tsvector('simple', search_text)", persisted=True)),
    )
    embedding_model: str | None = Field(default=None, max_length=120)
    embedding: Any = Field(default=None, sa_column=sa.Column(Vector(), nullable=True))
    conversations: int = 0
    users: int = 0
    messages: int = 0
    rating_count: int = 0
    rating_sum: int = 0
    rating_distribution: list[int] = Field(default_factory=lambda: [0, 0, 0, 0, 0], sa_type=JSONB)
    trending_score: float = 0.0
    top_score: float = 0.0
    featured_rank: int | None = None
    updated_at: datetime = updated_at_field()


class Appeal(SQLModel, table=True):
    __tablename__ = "appeal"

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _fk("gpt.id")
    user_id: uuid.UUID = _fk("user_account.id")
    version: int | None = None
    message: str = Field(max_length=2000)
    status: str = Field(default="open", max_length=16)  # open | granted | denied
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = created_at_field()
    resolved_at: datetime | None = _timestamp()


class Conversation(SQLModel, table=True):
    """A user's conversation, pinned to one GPT version; one made through `/v1/conversations` has no GPT
    (`gpt_id` and `version` null) until its first answer binds one (`store.conversations`)."""

    __tablename__ = "conversation"
    __table_args__ = (
        sa.Index("ix_conversation_user_updated", "user_id", "updated_at"),
        sa.Index("ix_conversation_gpt_created", "gpt_id", "created_at"),
        sa.CheckConstraint("(gpt_id IS NULL) = (version IS NULL)", name="ck_conversation_bound"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = _fk("user_account.id", index=False)
    gpt_id: uuid.UUID | None = _fk("gpt.id", index=False, nullable=True)
    version: int | None = None
    # OpenAI's `metadata` (16 string pairs); the attribute name `metadata` belongs to SQLAlchemy.
    labels: dict[str, str] = Field(
        default_factory=dict,
        sa_column=sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    title: str = Field(default="", max_length=120)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ChatMessage(SQLModel, table=True):
    __tablename__ = "chat_message"
    __table_args__ = (sa.Index("ix_chat_message_conversation", "conversation_id", "created_at"),)

    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = _fk("conversation.id", index=False)
    role: str = Field(max_length=16)
    content: str = Field(sa_type=sa.Text)
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    usage: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    # A turn with tools: its calls (name, domain, status, duration_ms), and while it waits for the user's
    # approval, the pending call and what the turn needs to go on (never shown).
    status: str = Field(default="completed", max_length=24, sa_column_kwargs={"server_default": "completed"})
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": "[]"}
    )
    pending_call: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    tool_state: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    created_at: datetime = created_at_field()


class StoredResponse(SQLModel, table=True):
    """A `/v1/responses` response kept for retrieval and chaining (`store: true`); its id is `resp_<hex>`."""

    __tablename__ = "response"
    __table_args__ = (sa.Index("ix_response_user_created", "user_id", "created_at"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = _fk("user_account.id", index=False)
    gpt_id: uuid.UUID = _fk("gpt.id", index=False)
    conversation_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("conversation.id", ondelete="SET NULL"), nullable=True),
    )
    previous_response_id: uuid.UUID | None = None  # no foreign key: the previous one may be deleted
    body: dict[str, Any] = Field(sa_type=JSONB)  # the response object as it was returned
    input_items: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)  # with their ids
    # The dialogue as chat messages, this turn's input and output included: what a follow-up builds on.
    messages: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    created_at: datetime = created_at_field()


class Rating(SQLModel, table=True):
    __tablename__ = "rating"
    __table_args__ = (
        sa.UniqueConstraint("gpt_id", "user_id", name="uq_rating_gpt_user"),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_rating_stars"),
        sa.Index("ix_rating_gpt_created", "gpt_id", "created_at"),
    )

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _fk("gpt.id", index=False)
    user_id: uuid.UUID = _fk("user_account.id")
    stars: int
    review: str | None = Field(default=None, max_length=2000)
    reply: str | None = Field(default=None, max_length=2000)
    replied_at: datetime | None = _timestamp()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Report(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (
        sa.Index(
            "uq_report_open_per_user",
            "gpt_id",
            "user_id",
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
        ),
        sa.Index("ix_report_status_created", "status", "created_at"),
    )

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _fk("gpt.id", index=False)
    user_id: uuid.UUID = _fk("user_account.id")
    reason: str = Field(max_length=32)
    details: str = Field(default="", max_length=2000)
    status: str = Field(default="open", max_length=16)  # open | dismissed | actioned
    note: str | None = Field(default=None, max_length=2000)
    resolved_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    created_at: datetime = created_at_field()
    resolved_at: datetime | None = _timestamp()


class UsageDaily(SQLModel, table=True):
    """Daily usage of a GPT, rolled up from the Redis counters by `store.flush_counters`."""

    __tablename__ = "usage_daily"

    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    conversations: int = 0
    users: int = 0
    messages: int = 0


class DatasetCitationDaily(SQLModel, table=True):
    """How often a GPT's answers cited a dataset's files on a day (UTC): `citations` (sources cited) and
    `answers` (answers citing it at least once); rolled up from the Redis counters by `store.flush_counters`
    (store/dataset_stats.py, docs/data-library.md)."""

    __tablename__ = "dataset_citation_daily"
    __table_args__ = (sa.Index("ix_dataset_citation_daily_gpt", "gpt_id"),)

    dataset_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    )
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    citations: int = 0
    answers: int = 0
