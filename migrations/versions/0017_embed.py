"""GPTs: the origins allowed to frame the embedded chat (docs/embed.md)

Revision ID: 0017_embed
Revises: 0016_conversations
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_embed"
down_revision: str | None = "0016_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "gpt",
        sa.Column(
            "embed_origins",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("gpt", "embed_origins")
