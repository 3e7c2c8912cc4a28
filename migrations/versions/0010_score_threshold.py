"""Knowledge bases: a per-GPT relevance threshold for answers

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_base", sa.Column("score_threshold", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("knowledge_base", "score_threshold")
