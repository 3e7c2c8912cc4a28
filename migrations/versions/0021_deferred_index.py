"""Deferred vector index: chunks are written outside the HNSW graph and moved into it later

A new chunk keeps `knowledge_chunk.embedding` NULL (pgvector's HNSW index skips NULLs) while its vector
waits in `knowledge_chunk_tail`, which has no vector index; search reads both (an exact scan over the tail)
and the indexer job moves the tail into the chunk rows, in batches (docs/ingestion.md#the-vector-tail).

The downgrade moves any tail left back into the chunk rows before the column is NOT NULL again.

Revision ID: 0021_deferred_index
Revises: 0020_file_batches
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

revision: str = "0021_deferred_index"
down_revision: str | None = "0020_file_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "knowledge_chunk", "embedding", existing_type=pgvector.sqlalchemy.vector.VECTOR(), nullable=True
    )
    op.create_table(
        "knowledge_chunk_tail",
        sa.Column(
            "chunk_id",
            sa.Uuid(),
            sa.ForeignKey("knowledge_chunk.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("embedding_model", sa.String(length=120), nullable=False),
        sa.Column("embedding", pgvector.sqlalchemy.vector.VECTOR(), nullable=False),
    )
    op.create_index(
        "ix_knowledge_chunk_tail_dataset_model", "knowledge_chunk_tail", ["dataset_id", "embedding_model"]
    )


def downgrade() -> None:
    op.execute(
        "UPDATE knowledge_chunk c SET embedding = t.embedding"
        " FROM knowledge_chunk_tail t WHERE c.id = t.chunk_id"
    )
    op.drop_index("ix_knowledge_chunk_tail_dataset_model", table_name="knowledge_chunk_tail")
    op.drop_table("knowledge_chunk_tail")
    op.alter_column(
        "knowledge_chunk", "embedding", existing_type=pgvector.sqlalchemy.vector.VECTOR(), nullable=False
    )
