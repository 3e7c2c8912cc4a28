"""A warning on a knowledge file whose extracted text is far below what its format holds

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_file", sa.Column("warning", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    op.drop_column("knowledge_file", "warning")
