"""Datasets: knowledge moves from one GPT to named datasets that GPTs attach (docs/data-library.md)

Every GPT's knowledge base becomes its *home* dataset, with the same id as the GPT, so no file or chunk
is copied or re-embedded: `knowledge_base` is renamed `dataset`, the `gpt_id` columns of files and chunks
are renamed `dataset_id` (catalogue-only changes: the rows stay where they are), each GPT attaches its
home dataset, and each published version records the dataset version it used (1).

Revision ID: 0018_datasets
Revises: 0017_embed
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_datasets"
down_revision: str | None = "0017_embed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.rename_table("knowledge_base", "dataset")
    op.execute("ALTER INDEX ix_knowledge_base_owner_id RENAME TO ix_dataset_owner_id")
    op.execute("ALTER TABLE dataset RENAME CONSTRAINT knowledge_base_pkey TO dataset_pkey")
    op.alter_column("dataset", "gpt_id", new_column_name="id")
    # The id stays the GPT's for home datasets, but new datasets belong to no GPT: the link moves to
    # `home_gpt_id`, which keeps the cascade (deleting a GPT deletes its home dataset, files and chunks).
    op.execute("ALTER TABLE dataset DROP CONSTRAINT knowledge_base_gpt_id_fkey")
    op.execute("ALTER TABLE dataset RENAME CONSTRAINT knowledge_base_owner_id_fkey TO dataset_owner_id_fkey")
    op.add_column("dataset", sa.Column("home_gpt_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE dataset SET home_gpt_id = id")
    op.create_foreign_key(
        "dataset_home_gpt_id_fkey", "dataset", "gpt", ["home_gpt_id"], ["id"], ondelete="CASCADE"
    )
    op.create_unique_constraint("dataset_home_gpt_id_key", "dataset", ["home_gpt_id"])
    op.add_column("dataset", sa.Column("organization_id", sa.Uuid(), nullable=True))
    op.create_index("ix_dataset_organization_id", "dataset", ["organization_id"])
    op.add_column("dataset", sa.Column("name", sa.String(100), server_default="", nullable=False))
    op.add_column("dataset", sa.Column("description", sa.Text(), server_default="", nullable=False))
    op.add_column("dataset", sa.Column("access", sa.String(16), server_default="private", nullable=False))
    op.add_column("dataset", sa.Column("license", sa.String(100), nullable=True))
    op.add_column("dataset", sa.Column("attribution", sa.String(500), nullable=True))
    op.add_column("dataset", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.execute(
        "UPDATE dataset d SET name = left(coalesce(nullif(g.name, ''), 'Untitled GPT'), 100)"
        " FROM gpt g WHERE g.id = d.id"
    )

    op.alter_column("knowledge_file", "gpt_id", new_column_name="dataset_id")
    op.execute(
        "ALTER TABLE knowledge_file RENAME CONSTRAINT knowledge_file_gpt_id_fkey"
        " TO knowledge_file_dataset_id_fkey"
    )
    op.execute("ALTER INDEX ix_knowledge_file_gpt RENAME TO ix_knowledge_file_dataset")
    op.execute("ALTER INDEX uq_knowledge_file_gpt_sha256 RENAME TO uq_knowledge_file_dataset_sha256")
    op.alter_column("knowledge_chunk", "gpt_id", new_column_name="dataset_id")
    op.execute("ALTER INDEX ix_knowledge_chunk_gpt_model RENAME TO ix_knowledge_chunk_dataset_model")

    op.create_table(
        "gpt_dataset",
        sa.Column("gpt_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("follow_latest", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["gpt_id"], ["gpt.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gpt_id", "dataset_id"),
    )
    op.create_index("ix_gpt_dataset_dataset_id", "gpt_dataset", ["dataset_id"])
    op.execute("INSERT INTO gpt_dataset (gpt_id, dataset_id) SELECT home_gpt_id, id FROM dataset")

    op.add_column(
        "gpt_version",
        sa.Column(
            "datasets",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.execute(
        "UPDATE gpt_version SET datasets = jsonb_build_array("
        "jsonb_build_object('id', gpt_id::text, 'version', 1, 'follow_latest', false))"
    )


def downgrade() -> None:
    # Only home datasets have somewhere to go back to: the others (and their files) are removed.
    op.drop_column("gpt_version", "datasets")
    op.drop_index("ix_gpt_dataset_dataset_id", table_name="gpt_dataset")
    op.drop_table("gpt_dataset")
    op.execute("DELETE FROM dataset WHERE home_gpt_id IS NULL")
    op.execute("ALTER INDEX ix_knowledge_chunk_dataset_model RENAME TO ix_knowledge_chunk_gpt_model")
    op.alter_column("knowledge_chunk", "dataset_id", new_column_name="gpt_id")
    op.execute("ALTER INDEX uq_knowledge_file_dataset_sha256 RENAME TO uq_knowledge_file_gpt_sha256")
    op.execute("ALTER INDEX ix_knowledge_file_dataset RENAME TO ix_knowledge_file_gpt")
    op.execute(
        "ALTER TABLE knowledge_file RENAME CONSTRAINT knowledge_file_dataset_id_fkey"
        " TO knowledge_file_gpt_id_fkey"
    )
    op.alter_column("knowledge_file", "dataset_id", new_column_name="gpt_id")
    for column in ("version", "attribution", "license", "access", "description", "name"):
        op.drop_column("dataset", column)
    op.drop_index("ix_dataset_organization_id", table_name="dataset")
    op.drop_column("dataset", "organization_id")
    op.drop_constraint("dataset_home_gpt_id_key", "dataset", type_="unique")
    op.drop_constraint("dataset_home_gpt_id_fkey", "dataset", type_="foreignkey")
    op.drop_column("dataset", "home_gpt_id")
    op.execute("ALTER TABLE dataset RENAME CONSTRAINT dataset_owner_id_fkey TO knowledge_base_owner_id_fkey")
    op.alter_column("dataset", "id", new_column_name="gpt_id")
    op.create_foreign_key(
        "knowledge_base_gpt_id_fkey", "dataset", "gpt", ["gpt_id"], ["id"], ondelete="CASCADE"
    )
    op.execute("ALTER TABLE dataset RENAME CONSTRAINT dataset_pkey TO knowledge_base_pkey")
    op.execute("ALTER INDEX ix_dataset_owner_id RENAME TO ix_knowledge_base_owner_id")
    op.rename_table("dataset", "knowledge_base")
