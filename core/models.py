"""Account tables: users and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import created_at_field, id_field, updated_at_field


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: uuid.UUID = id_field()
    email: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    password_hash: str
    display_name: str = Field(max_length=80)
    handle: str = Field(max_length=40, sa_column_kwargs={"unique": True})
    plan: str = Field(default="free", max_length=16)
    is_admin: bool = False
    website: str | None = Field(default=None, max_length=300)
    bio: str | None = Field(default=None, max_length=1000)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
