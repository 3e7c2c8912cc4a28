"""Keep chunk vectors inline (STORAGE MAIN): an exact scan then reads no TOAST (bench/retrieval.py)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE knowledge_chunk ALTER COLUMN embedding SET STORAGE MAIN")


def downgrade() -> None:
    op.execute("ALTER TABLE knowledge_chunk ALTER COLUMN embedding SET STORAGE EXTERNAL")
