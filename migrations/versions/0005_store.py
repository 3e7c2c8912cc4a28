"""Store: versions, listings, appeals, conversations, ratings, reports, daily usage

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeal",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_appeal_gpt_id"), "appeal", ["gpt_id"], unique=False)
    op.create_index(op.f("ix_appeal_user_id"), "appeal", ["user_id"], unique=False)
    op.create_table(
        "conversation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_gpt_created", "conversation", ["gpt_id", "created_at"], unique=False)
    op.create_index("ix_conversation_user_updated", "conversation", ["user_id", "updated_at"], unique=False)
    op.create_table(
        "gpt_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("review_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("review_reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("file_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("release_notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gpt_id", "number", name="uq_gpt_version_number"),
    )
    op.create_index(op.f("ix_gpt_version_gpt_id"), "gpt_version", ["gpt_id"], unique=False)
    op.create_table(
        "listing",
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("unlisted_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("hidden_by_reports", sa.Boolean(), nullable=False),
        sa.Column("first_approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("creator_handle", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column(
            "search_tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', search_text)", persisted=True),
            nullable=True,
        ),
        sa.Column("embedding_model", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("embedding", pgvector.sqlalchemy.vector.VECTOR(), nullable=True),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_distribution", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trending_score", sa.Float(), nullable=False),
        sa.Column("top_score", sa.Float(), nullable=False),
        sa.Column("featured_rank", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gpt_id"),
    )
    op.create_index("ix_listing_category", "listing", ["category", "listed"], unique=False)
    op.create_index("ix_listing_listed_new", "listing", ["listed", "first_approved_at"], unique=False)
    op.create_index("ix_listing_listed_top", "listing", ["listed", "top_score"], unique=False)
    op.create_index("ix_listing_listed_trending", "listing", ["listed", "trending_score"], unique=False)
    op.create_index(op.f("ix_listing_owner_id"), "listing", ["owner_id"], unique=False)
    op.create_index("ix_listing_tsv", "listing", ["search_tsv"], unique=False, postgresql_using="gin")
    op.create_table(
        "rating",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("review", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("reply", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_rating_stars"),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gpt_id", "user_id", name="uq_rating_gpt_user"),
    )
    op.create_index("ix_rating_gpt_created", "rating", ["gpt_id", "created_at"], unique=False)
    op.create_index(op.f("ix_rating_user_id"), "rating", ["user_id"], unique=False)
    op.create_table(
        "report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("details", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_status_created", "report", ["status", "created_at"], unique=False)
    op.create_index(op.f("ix_report_user_id"), "report", ["user_id"], unique=False)
    op.create_index(
        "uq_report_open_per_user",
        "report",
        ["gpt_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "usage_daily",
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gpt_id", "day"),
    )
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("citations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("usage", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_chat_message_conversation", "chat_message", ["conversation_id", "created_at"], unique=False
    )

    # Hand-written: semantic search over listing text with the offline model's vectors.
    op.execute(
        "CREATE INDEX ix_listing_hnsw_384_minilm_l6_v2_int8 ON listing"
        " USING hnsw ((embedding::vector(384)) vector_cosine_ops)"
        " WHERE embedding_model = 'minilm-l6-v2-int8'"
    )


def downgrade() -> None:
    op.drop_index("ix_chat_message_conversation", table_name="chat_message")
    op.drop_table("chat_message")
    op.drop_table("usage_daily")
    op.drop_index("uq_report_open_per_user", table_name="report", postgresql_where=sa.text("status = 'open'"))
    op.drop_index(op.f("ix_report_user_id"), table_name="report")
    op.drop_index("ix_report_status_created", table_name="report")
    op.drop_table("report")
    op.drop_index(op.f("ix_rating_user_id"), table_name="rating")
    op.drop_index("ix_rating_gpt_created", table_name="rating")
    op.drop_table("rating")
    op.drop_index("ix_listing_tsv", table_name="listing", postgresql_using="gin")
    op.drop_index(op.f("ix_listing_owner_id"), table_name="listing")
    op.drop_index("ix_listing_listed_trending", table_name="listing")
    op.drop_index("ix_listing_listed_top", table_name="listing")
    op.drop_index("ix_listing_listed_new", table_name="listing")
    op.drop_index("ix_listing_category", table_name="listing")
    op.drop_table("listing")
    op.drop_index(op.f("ix_gpt_version_gpt_id"), table_name="gpt_version")
    op.drop_table("gpt_version")
    op.drop_index("ix_conversation_user_updated", table_name="conversation")
    op.drop_index("ix_conversation_gpt_created", table_name="conversation")
    op.drop_table("conversation")
    op.drop_index(op.f("ix_appeal_user_id"), table_name="appeal")
    op.drop_index(op.f("ix_appeal_gpt_id"), table_name="appeal")
    op.drop_table("appeal")
