"""Listing indexes for category pages in every sort, and for the featured shelf

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED = sa.text("listed")
FEATURED = sa.text("listed AND featured_rank IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_listing_featured", "listing", ["featured_rank", "gpt_id"], postgresql_where=FEATURED)
    for sort_column in ("trending_score", "top_score", "first_approved_at"):
        name = {"trending_score": "trending", "top_score": "top", "first_approved_at": "new"}[sort_column]
        op.create_index(
            f"ix_listing_category_{name}",
            "listing",
            ["category", sort_column, "gpt_id"],
            postgresql_where=LISTED,
        )


def downgrade() -> None:
    for name in ("new", "top", "trending"):
        op.drop_index(f"ix_listing_category_{name}", table_name="listing", postgresql_where=LISTED)
    op.drop_index("ix_listing_featured", table_name="listing", postgresql_where=FEATURED)
