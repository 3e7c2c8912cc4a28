"""Organisation tables: organisations, their members with roles, and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import created_at_field, id_field, updated_at_field


class Organization(SQLModel, table=True):
    """A team that owns GPTs (and, later, datasets) together; `handle` is unique whatever its case."""

    __tablename__ = "organization"
    __table_args__ = (sa.Index("uq_organization_handle", sa.text("lower(handle)"), unique=True),)

    id: uuid.UUID = id_field()
    handle: str = Field(max_length=40)
    name: str = Field(max_length=80)
    description: str | None = Field(default=None, max_length=1000)
    website: str | None = Field(default=None, max_length=300)
    plan: str = Field(default="free", max_length=16)  # free | team (team: its builders create GPTs)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class OrganizationMember(SQLModel, table=True):
    """One user's role in one organisation; exactly one member of each organisation is its `owner`."""

    __tablename__ = "organization_member"
    __table_args__ = (
        sa.Index(
            "uq_organization_member_owner",
            "organization_id",
            unique=True,
            postgresql_where=sa.text("role = 'owner'"),
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'builder', 'member')", name="ck_organization_member_role"
        ),
    )

    organization_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    role: str = Field(max_length=16)
    created_at: datetime = created_at_field()


class OrganizationInvitation(SQLModel, table=True):
    """A single-use, expiring invitation; only the SHA-256 of its token is stored."""

    __tablename__ = "organization_invitation"

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("organization.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    role: str = Field(max_length=16)
    email: str | None = Field(default=None, max_length=320)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    accepted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    accepted_by: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_by: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = created_at_field()
