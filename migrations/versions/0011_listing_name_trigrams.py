"""Store search tolerates typos in GPT names: pg_trgm and a trigram index on the name (hand-written)

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_listing_trgm_name ON listing USING gin (lower(name) gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_listing_trgm_name")
    # pg_trgm stays: other objects of the database may have come to use it.
