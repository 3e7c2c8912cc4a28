"""A preview conversation is its author's: preview_message.user_id

Revision ID: 0029_preview_author
Revises: 0028_transferred_attachments

Preview conversations were the GPT's: any editor of an organisation's GPT who had a conversation's id (a
shared `?c=` link) read and continued another member's preview, also after that member left. Each row now
names who previews (`builder.preview.PreviewService`, 404 for anyone else). Rows from before are their
GPT's owner's, the only editor a GPT had before organisations; on an organisation's GPT that is its
maker. The downgrade drops the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_preview_author"
down_revision: str | None = "0028_transferred_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "preview_message",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True),
    )
    op.execute("UPDATE preview_message AS m SET user_id = gpt.owner_id FROM gpt WHERE gpt.id = m.gpt_id")
    op.drop_index("ix_preview_message_conversation", table_name="preview_message")
    op.create_index(
        "ix_preview_message_conversation", "preview_message", ["conversation_id", "user_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_preview_message_conversation", table_name="preview_message")
    op.create_index("ix_preview_message_conversation", "preview_message", ["conversation_id", "created_at"])
    op.drop_column("preview_message", "user_id")
