"""A web import's licence, and no user info in stored source URLs: web_import.license

Revision ID: 0030_web_import_license
Revises: 0029_preview_author

An import with `access: open` may now give the licence its files carry (`license`, an SPDX id), kept for
its re-syncs. URLs with user info (`https://user:password@host/`) are refused from now on; the
`source_url` of files imported before kept the password and showed it to everyone the file was cited to,
so the upgrade removes the user info from them (the rest of the URL stays). The downgrade drops the column
(the removed passwords are not restored).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_web_import_license"
down_revision: str | None = "0029_preview_author"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("web_import", sa.Column("license", sa.String(length=200), nullable=True))
    op.execute(
        r"""
        UPDATE knowledge_file
        SET source_url = regexp_replace(source_url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@', '\1')
        WHERE source_url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@'
        """
    )


def downgrade() -> None:
    op.drop_column("web_import", "license")
