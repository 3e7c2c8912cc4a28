"""Builder tables: GPT drafts and the builder conversation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from core.db import created_at_field, id_field, updated_at_field


def _owner_fk() -> Any:
    return Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )


def _gpt_fk() -> Any:
    return Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), nullable=False))


class Gpt(SQLModel, table=True):
    """A GPT's draft configuration; published versions snapshot it."""

    __tablename__ = "gpt"

    id: uuid.UUID = id_field()
    owner_id: uuid.UUID = _owner_fk()  # the creator; with an organisation, the one who made or moved it in
    # Owned by this organisation when set (orgs/access.py decides who may use it). RESTRICT: an
    # organisation that still owns GPTs cannot be deleted; they are transferred or deleted first.
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("organization.id", ondelete="RESTRICT"), index=True, nullable=True
        ),
    )
    name: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=300)
    instructions: str = Field(default="", sa_type=sa.Text)
    welcome_message: str = Field(default="", max_length=300)
    conversation_starters: list[str] = Field(default_factory=list, sa_type=JSONB)
    category: str | None = Field(default=None, max_length=40)
    tags: list[str] = Field(default_factory=list, sa_type=JSONB)
    language: str | None = Field(default=None, max_length=16)  # core.schemas.Language
    top_k: int = 6
    model: str | None = Field(default=None, max_length=100)
    # Trust policy (docs/trust.md): "hidden" instructions are never shown nor repeated verbatim in answers.
    instructions_visibility: str = Field(
        default="hidden", max_length=8, sa_column_kwargs={"server_default": "hidden"}
    )
    verbatim_max_words: int | None = None  # None: GPTSTORE_VERBATIM_MAX_WORDS
    # Origins whose pages may frame the embedded chat (docs/embed.md); empty: any website.
    embed_origins: list[str] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")}
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class BuilderMessage(SQLModel, table=True):
    """One message of the builder conversation; assistant messages carry the changes they applied."""

    __tablename__ = "builder_message"
    __table_args__ = (sa.Index("ix_builder_message_gpt_created", "gpt_id", "created_at"),)

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _gpt_fk()
    role: str = Field(max_length=16)
    content: str = Field(sa_type=sa.Text)
    changes: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    usage: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    undone: bool = False
    created_at: datetime = created_at_field()


class PreviewMessage(SQLModel, table=True):
    """The creator's preview chats with the draft; assistant messages keep their citations."""

    __tablename__ = "preview_message"
    __table_args__ = (
        sa.Index("ix_preview_message_conversation", "conversation_id", "user_id", "created_at"),
    )

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _gpt_fk()
    conversation_id: uuid.UUID
    # Who previews: a preview conversation is its author's, not every editor's (an organisation's GPT has
    # several); NULL only for rows from before migration 0029 whose GPT's owner could not be read.
    user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True),
    )
    role: str = Field(max_length=16)
    content: str = Field(sa_type=sa.Text)
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    # A turn with tools: its calls (name, domain, status, duration_ms), and while it waits for the user's
    # approval, the pending call and what the turn needs to go on (never shown).
    status: str = Field(default="completed", max_length=24, sa_column_kwargs={"server_default": "completed"})
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": "[]"}
    )
    pending_call: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    tool_state: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    created_at: datetime = created_at_field()
