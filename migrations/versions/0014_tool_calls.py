"""Tool calls in chats: each assistant message's calls, status and pending approval; operations a user
allowed for good

Revision ID: 0014_tool_calls
Revises: 0013_tools
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_tool_calls"
down_revision: str | None = "0013_tools"  # "0012" as given; chained after the merged 0013_tools
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_TABLES = ("chat_message", "preview_message")


def upgrade() -> None:
    for table in MESSAGE_TABLES:
        op.add_column(
            table,
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=24),
                server_default="completed",
                nullable=False,
            ),
        )
        op.add_column(
            table,
            sa.Column(
                "tool_calls", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
            ),
        )
        op.add_column(
            table, sa.Column("pending_call", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
        )
        op.add_column(table, sa.Column("tool_state", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_table(
        "tool_approval",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "gpt_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("tool_approval")
    for table in MESSAGE_TABLES:
        for column in ("tool_state", "pending_call", "tool_calls", "status"):
            op.drop_column(table, column)
