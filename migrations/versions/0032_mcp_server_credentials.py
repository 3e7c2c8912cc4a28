"""Which credentials an MCP server needs, by name: gpt_mcp_server.header_names, needs_credentials

Revision ID: 0032_mcp_server_credentials
Revises: 0031_web_import_license

An export says which headers an MCP server needs (`header_names`) and whether it needs credentials at all;
an imported server had nowhere to keep that, so its creator was not told what to fill in. The upgrade fills
both columns of existing servers from their sealed credentials' hints (names only, never values); the
downgrade drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0032_mcp_server_credentials"
down_revision: str | None = "0031_web_import_license"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "gpt_mcp_server",
        sa.Column("header_names", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column(
        "gpt_mcp_server",
        sa.Column("needs_credentials", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        """
        UPDATE gpt_mcp_server AS m
        SET needs_credentials = true,
            header_names = (
                SELECT coalesce(jsonb_agg(name ORDER BY name), '[]'::jsonb)
                FROM jsonb_object_keys(coalesce(s.hints -> 'headers', '{}'::jsonb)) AS name
            )
        FROM tool_secret AS s
        WHERE s.id = m.secret_id
        """
    )


def downgrade() -> None:
    op.drop_column("gpt_mcp_server", "needs_credentials")
    op.drop_column("gpt_mcp_server", "header_names")
