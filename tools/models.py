"""Tool tables: a GPT draft's actions (OpenAPI) and MCP servers, and their sealed secrets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from core.db import created_at_field, id_field, updated_at_field


def _gpt_fk() -> Any:
    return Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), index=True, nullable=False)
    )


def _secret_fk() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("tool_secret.id", ondelete="SET NULL"), nullable=True),
    )


class ToolSecret(SQLModel, table=True):
    """The credentials of one action or MCP server as written once: a JSON object (`secret`, `headers`)
    sealed with AES-GCM (core/secrets.py). Never changed in place: a new value is a new row, so a published
    version keeps the row it snapshotted (`pinned`) while the draft moves on."""

    __tablename__ = "tool_secret"

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _gpt_fk()
    sealed: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    # What reads may show: for each set value its last 4 characters (None below 8 characters).
    hints: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    pinned: bool = False  # a published version uses it: kept when the draft replaces or drops it
    created_at: datetime = created_at_field()


class GptAction(SQLModel, table=True):
    """An OpenAPI document's operations offered to a GPT draft as functions."""

    __tablename__ = "gpt_action"

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _gpt_fk()
    document: str = Field(sa_type=sa.Text)  # as the creator gave it (JSON or YAML)
    source_url: str | None = Field(default=None, max_length=2000)  # where it was imported from
    title: str = Field(default="", max_length=200)
    server_url: str = Field(max_length=2000)
    redirect_hosts: list[str] = Field(default_factory=list, sa_type=JSONB)
    operations: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)  # parsed, tools.openapi
    consequential: dict[str, bool] = Field(default_factory=dict, sa_type=JSONB)  # the creator's overrides
    auth: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)  # without the secret
    secret_id: uuid.UUID | None = _secret_fk()
    privacy_policy_url: str | None = Field(default=None, max_length=2000)
    user_id_header: str | None = Field(default=None, max_length=100)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class GptMcpServer(SQLModel, table=True):
    """A streamable-HTTP MCP server of a GPT draft, shaped like the Responses API's `mcp` tool."""

    __tablename__ = "gpt_mcp_server"
    __table_args__ = (sa.UniqueConstraint("gpt_id", "server_label", name="uq_gpt_mcp_server_label"),)

    id: uuid.UUID = id_field()
    gpt_id: uuid.UUID = _gpt_fk()
    server_label: str = Field(max_length=64)
    server_url: str = Field(max_length=2000)
    server_description: str | None = Field(default=None, max_length=1000)
    tools: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)  # every tool listed at save
    allowed_tools: list[str] | None = Field(default=None, sa_type=JSONB)  # None: all of `tools`
    require_approval: Any = Field(default="always", sa_type=JSONB)  # "always" | "never" | {always, never}
    secret_id: uuid.UUID | None = _secret_fk()
    # Which credentials the server is used with, by name only: the headers saved last (or that an imported
    # archive says it needs) and whether it needs any (headers or a token). Reads name those not set.
    header_names: list[str] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")}
    )
    needs_credentials: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
