"""GPTs: trust policy (instructions hidden or public, a per-GPT verbatim word limit)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "gpt",
        sa.Column(
            "instructions_visibility",
            sqlmodel.sql.sqltypes.AutoString(length=8),
            server_default="hidden",
            nullable=False,
        ),
    )
    op.add_column("gpt", sa.Column("verbatim_max_words", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("gpt", "verbatim_max_words")
    op.drop_column("gpt", "instructions_visibility")
