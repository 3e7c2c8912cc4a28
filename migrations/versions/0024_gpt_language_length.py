"""gpt.language holds every tag the schema accepts: VARCHAR(8) -> VARCHAR(16)

Revision ID: 0024_gpt_language_length
Revises: 0023_dataset_used_by

A language is an ISO 639-1 code with an optional script and region (docs/builder.md); the longest such
tags (`zh-Hant-TW`, `es-Latn-419`) have 10 and 11 characters, and `PATCH /api/gpts/{id}` with one was a
500 from the 8-character column. The column takes the schema's own bound, 16 (`core.schemas.Language`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_gpt_language_length"
down_revision: str | None = "0023_dataset_used_by"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "gpt",
        "language",
        existing_type=sa.String(length=8),
        type_=sa.String(length=16),
        existing_nullable=True,
    )


def downgrade() -> None:
    # Tags longer than 8 are `xx-Ssss-RR(R)`: they keep their language and script (`zh-Hant`), which the old
    # column holds; so do the published versions a draft may be restored from.
    op.execute("UPDATE gpt SET language = left(language, 7) WHERE length(language) > 8")
    op.execute(
        "UPDATE gpt_version"
        " SET config = jsonb_set(config, '{language}', to_jsonb(left(config->>'language', 7)))"
        " WHERE length(config->>'language') > 8"
    )
    op.alter_column(
        "gpt",
        "language",
        existing_type=sa.String(length=16),
        type_=sa.String(length=8),
        existing_nullable=True,
    )
