"""Organisations: members with roles, invitations, and GPTs (and their listings) owned by one

Revision ID: 0018_organizations
Revises: 0018_datasets
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018_organizations"
down_revision: str | None = "0018_datasets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("handle", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("plan", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Handles are unique whatever their case ("Acme" and "acme" are one organisation).
    op.create_index("uq_organization_handle", "organization", [sa.text("lower(handle)")], unique=True)
    op.create_table(
        "organization_member",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'builder', 'member')", name="ck_organization_member_role"
        ),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "user_id"),
    )
    op.create_index(op.f("ix_organization_member_user_id"), "organization_member", ["user_id"], unique=False)
    # At most one owner per organisation, whatever runs at the same moment.
    op.create_index(
        "uq_organization_member_owner",
        "organization_member",
        ["organization_id"],
        unique=True,
        postgresql_where=sa.text("role = 'owner'"),
    )
    op.create_table(
        "organization_invitation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["accepted_by"], ["user_account.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_organization_invitation_organization_id"),
        "organization_invitation",
        ["organization_id"],
        unique=False,
    )
    for table in ("gpt", "listing"):
        op.add_column(table, sa.Column("organization_id", sa.Uuid(), nullable=True))
        op.create_index(op.f(f"ix_{table}_organization_id"), table, ["organization_id"], unique=False)
        op.create_foreign_key(
            f"{table}_organization_id_fkey",
            table,
            "organization",
            ["organization_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    # Datasets (migration 0018_datasets) got the column before this table existed.
    op.create_foreign_key(
        "dataset_organization_id_fkey",
        "dataset",
        "organization",
        ["organization_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint("dataset_organization_id_fkey", "dataset", type_="foreignkey")
    for table in ("listing", "gpt"):
        op.drop_constraint(f"{table}_organization_id_fkey", table, type_="foreignkey")
        op.drop_index(op.f(f"ix_{table}_organization_id"), table_name=table)
        op.drop_column(table, "organization_id")
    op.drop_index(op.f("ix_organization_invitation_organization_id"), table_name="organization_invitation")
    op.drop_table("organization_invitation")
    op.drop_index("uq_organization_member_owner", table_name="organization_member")
    op.drop_index(op.f("ix_organization_member_user_id"), table_name="organization_member")
    op.drop_table("organization_member")
    op.drop_index("uq_organization_handle", table_name="organization")
    op.drop_table("organization")
