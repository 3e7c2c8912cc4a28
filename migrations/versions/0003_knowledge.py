"""Knowledge: bases, files, chunks with vectors and full-text search

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

# The names follow retrieval.search.vector_index_name; later models get theirs at run time.
HNSW_INDEXES = {
    "ix_knowledge_chunk_hnsw_384_minilm_l6_v2_int8": ("minilm-l6-v2-int8", 384),
    "ix_knowledge_chunk_hnsw_1536_openai_text_embedding_3_small_1536": (
        "openai:text-embedding-3-small:1536",
        1536,
    ),
}

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_base",
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("text_search_config", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=True),
        sa.Column("chunk_overlap", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gpt_id"),
    )
    op.create_index(op.f("ix_knowledge_base_owner_id"), "knowledge_base", ["owner_id"], unique=False)
    op.create_table(
        "knowledge_file",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("access", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("license", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("error_message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_overlap", sa.Integer(), nullable=False),
        sa.Column("embedding_model", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["knowledge_base.gpt_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_file_gpt", "knowledge_file", ["gpt_id"], unique=False)
    op.create_index(op.f("ix_knowledge_file_owner_id"), "knowledge_file", ["owner_id"], unique=False)
    op.create_index("ix_knowledge_file_status", "knowledge_file", ["status"], unique=False)
    op.create_index(
        "uq_knowledge_file_gpt_sha256",
        "knowledge_file",
        ["gpt_id", "sha256"],
        unique=True,
        postgresql_where=sa.text("detached_at IS NULL"),
    )
    op.create_table(
        "knowledge_chunk",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("heading", sa.Text(), nullable=True),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("embedding_model", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("embedding", pgvector.sqlalchemy.vector.VECTOR(), nullable=False),
        sa.Column("text_search_config", postgresql.REGCONFIG(), server_default="simple", nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(text_search_config, text)", persisted=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["file_id"], ["knowledge_file.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "ord", name="uq_knowledge_chunk_file_ord"),
    )
    op.create_index(
        "ix_knowledge_chunk_gpt_model", "knowledge_chunk", ["gpt_id", "embedding_model"], unique=False
    )
    op.create_index(
        "ix_knowledge_chunk_tsv", "knowledge_chunk", ["tsv"], unique=False, postgresql_using="gin"
    )

    # Hand-written: one HNSW index per embedding model and dimension (an expression index with a cast and a
    # partial predicate on the model), so vectors of several dimensions coexist in one column.
    for name, (model, dimensions) in HNSW_INDEXES.items():
        op.execute(
            f"CREATE INDEX {name} ON knowledge_chunk"
            f" USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops)"
            f" WITH (m = 16, ef_construction = 64) WHERE embedding_model = '{model}'"
        )


def downgrade() -> None:
    op.drop_index("ix_knowledge_chunk_tsv", table_name="knowledge_chunk", postgresql_using="gin")
    op.drop_index("ix_knowledge_chunk_gpt_model", table_name="knowledge_chunk")
    op.drop_table("knowledge_chunk")
    op.drop_index(
        "uq_knowledge_file_gpt_sha256",
        table_name="knowledge_file",
        postgresql_where=sa.text("detached_at IS NULL"),
    )
    op.drop_index("ix_knowledge_file_status", table_name="knowledge_file")
    op.drop_index(op.f("ix_knowledge_file_owner_id"), table_name="knowledge_file")
    op.drop_index("ix_knowledge_file_gpt", table_name="knowledge_file")
    op.drop_table("knowledge_file")
    op.drop_index(op.f("ix_knowledge_base_owner_id"), table_name="knowledge_base")
    op.drop_table("knowledge_base")
