"""A web import's licence, and no user info in stored source URLs: web_import.license

Revision ID: 0031_web_import_license
Revises: 0030_script_boundaries

An import with `access: open` may now give the licence its files carry (`license`, an SPDX id), kept for
its re-syncs. URLs with user info (`https://user:password@host/`) are refused from now on; the
`source_url` of files imported before kept the password and showed it to everyone the file was cited to,
so the upgrade removes the user info from them, from the names made of such URLs, and from the imports'
URLs and pages (a page whose import has the same URL without user info goes). The downgrade drops the
column (the removed passwords are not restored).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_web_import_license"
down_revision: str | None = "0030_script_boundaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# scheme://user:password@ -> scheme://
USERINFO = "'^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@'"
HAS_USERINFO = "'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@'"


def upgrade() -> None:
    op.add_column("web_import", sa.Column("license", sa.String(length=200), nullable=True))
    # A page named by its URL was named "user:password@host_path": the name loses the user info too.
    op.execute(
        f"""
        UPDATE knowledge_file
        SET filename = CASE WHEN filename ~ '^[^@_/]*@' THEN regexp_replace(filename, '^[^@_/]*@', '')
                            ELSE filename END,
            source_url = regexp_replace(source_url, {USERINFO}, '\\1')
        WHERE source_url ~ {HAS_USERINFO}
        """
    )
    op.execute(
        f"""
        UPDATE web_import
        SET sitemap_url = regexp_replace(sitemap_url, {USERINFO}, '\\1'),
            urls = (SELECT coalesce(jsonb_agg(regexp_replace(u, {USERINFO}, '\\1')), '[]'::jsonb)
                    FROM jsonb_array_elements_text(urls) AS u)
        WHERE sitemap_url ~ {HAS_USERINFO} OR urls::text ~ '://[^/?#"]*@'
        """
    )
    # A page's row keeps its URL unless the import already has the same URL without user info.
    op.execute(
        f"""
        UPDATE web_page AS p
        SET url = regexp_replace(p.url, {USERINFO}, '\\1')
        WHERE p.url ~ {HAS_USERINFO}
          AND NOT EXISTS (
              SELECT 1 FROM web_page AS o
              WHERE o.import_id = p.import_id AND o.url = regexp_replace(p.url, {USERINFO}, '\\1')
          )
        """
    )
    op.execute(f"DELETE FROM web_page WHERE url ~ {HAS_USERINFO}")


def downgrade() -> None:
    op.drop_column("web_import", "license")
