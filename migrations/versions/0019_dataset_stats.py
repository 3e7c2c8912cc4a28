"""The dataset directory and contributor numbers: citations per dataset, day and GPT; search and "used by"
indexes (docs/data-library.md)

`dataset_citation_daily` holds the citation counters flushed from Redis, `dataset_usage` the number of
listed GPTs using each open dataset (recomputed with them). The directory searches open datasets by full
text and by trigram similarity of their names (hand-written expression indexes, partial to open
datasets); a dataset's page lists the listed GPTs using it through a GIN index on `gpt_version.datasets`
(`@>` containment).

Revision ID: 0019_dataset_stats
Revises: 0018_datasets
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_dataset_stats"
down_revision: str | None = "0018_web_import"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_citation_daily",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("citations", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "day", "gpt_id"),
    )
    op.create_index("ix_dataset_citation_daily_gpt", "dataset_citation_daily", ["gpt_id"])
    op.create_table(
        "dataset_usage",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("public_gpts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX ix_dataset_open_tsv ON dataset"
        " USING gin (to_tsvector('simple'::regconfig, name || ' ' || description)) WHERE access = 'open'"
    )
    op.execute(
        "CREATE INDEX ix_dataset_open_trgm ON dataset USING gin (lower(name) gin_trgm_ops)"
        " WHERE access = 'open'"
    )
    op.execute("CREATE INDEX ix_gpt_version_datasets_gin ON gpt_version USING gin (datasets jsonb_path_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_gpt_version_datasets_gin")
    op.execute("DROP INDEX ix_dataset_open_trgm")
    op.execute("DROP INDEX ix_dataset_open_tsv")
    op.drop_table("dataset_usage")
    op.drop_index("ix_dataset_citation_daily_gpt", table_name="dataset_citation_daily")
    op.drop_table("dataset_citation_daily")
