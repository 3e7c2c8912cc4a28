"""File batches and fair scheduling: files added in one request form a batch; each file waits in its
owner's backlog until an ingestion slot is free (docs/ingestion.md)

Existing files count as dispatched: they were handed to the job queue when they were uploaded.

Revision ID: 0020_file_batches
Revises: 0019_dataset_stats
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_file_batches"
down_revision: str | None = "0019_dataset_stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_batch",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dataset_id", sa.Uuid(), sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "owner_id", sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("skipped", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_file_batch_dataset_id", "file_batch", ["dataset_id"])
    op.create_index("ix_file_batch_owner_id", "file_batch", ["owner_id"])
    op.add_column("knowledge_file", sa.Column("batch_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "knowledge_file_batch_id_fkey",
        "knowledge_file",
        "file_batch",
        ["batch_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column(
        "knowledge_file", sa.Column("dispatched", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.execute("UPDATE knowledge_file SET dispatched = true")
    op.create_index("ix_knowledge_file_batch", "knowledge_file", ["batch_id", "status"])
    op.create_index(
        "ix_knowledge_file_backlog",
        "knowledge_file",
        ["owner_id", "created_at"],
        postgresql_where=sa.text("NOT dispatched AND status = 'in_progress'"),
    )


def downgrade() -> None:
    op.drop_index("ix_knowledge_file_backlog", table_name="knowledge_file")
    op.drop_index("ix_knowledge_file_batch", table_name="knowledge_file")
    op.drop_column("knowledge_file", "dispatched")
    op.drop_constraint("knowledge_file_batch_id_fkey", "knowledge_file", type_="foreignkey")
    op.drop_column("knowledge_file", "batch_id")
    op.drop_table("file_batch")
