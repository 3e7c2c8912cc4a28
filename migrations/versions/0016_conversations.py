"""Conversations of the OpenAI Conversations API: a GPT bound on first use, metadata

A conversation created through `/v1/conversations` has no GPT until its first answer binds one, so
`gpt_id` and `version` become nullable (both set or both null); `metadata` holds OpenAI's 16 key-value pairs.

Revision ID: 0016_conversations
Revises: 0015_responses
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_conversations"
down_revision: str | None = "0015_responses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("conversation", "gpt_id", existing_type=sa.Uuid(), nullable=True)
    op.alter_column("conversation", "version", existing_type=sa.Integer(), nullable=True)
    op.add_column(
        "conversation",
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        "ck_conversation_bound", "conversation", "(gpt_id IS NULL) = (version IS NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("ck_conversation_bound", "conversation", type_="check")
    op.execute("DELETE FROM conversation WHERE gpt_id IS NULL")
    op.drop_column("conversation", "metadata")
    op.alter_column("conversation", "version", existing_type=sa.Integer(), nullable=False)
    op.alter_column("conversation", "gpt_id", existing_type=sa.Uuid(), nullable=False)
