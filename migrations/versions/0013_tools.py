"""Tools: a GPT's actions (OpenAPI) and MCP servers, and their sealed secrets

Revision ID: 0013_tools
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_tools"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tool_secret",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("hints", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_tool_secret_gpt_id"), "tool_secret", ["gpt_id"], unique=False)
    op.create_table(
        "gpt_action",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("source_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("server_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("redirect_hosts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("operations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("consequential", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("auth", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_id", sa.Uuid(), nullable=True),
        sa.Column("privacy_policy_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("user_id_header", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["secret_id"], ["tool_secret.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gpt_action_gpt_id"), "gpt_action", ["gpt_id"], unique=False)
    op.create_table(
        "gpt_mcp_server",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("server_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("server_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("server_description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("tools", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("allowed_tools", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("require_approval", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("secret_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["secret_id"], ["tool_secret.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gpt_id", "server_label", name="uq_gpt_mcp_server_label"),
    )
    op.create_index(op.f("ix_gpt_mcp_server_gpt_id"), "gpt_mcp_server", ["gpt_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_gpt_mcp_server_gpt_id"), table_name="gpt_mcp_server")
    op.drop_table("gpt_mcp_server")
    op.drop_index(op.f("ix_gpt_action_gpt_id"), table_name="gpt_action")
    op.drop_table("gpt_action")
    op.drop_index(op.f("ix_tool_secret_gpt_id"), table_name="tool_secret")
    op.drop_table("tool_secret")
