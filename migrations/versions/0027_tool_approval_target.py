"""Approvals for good hold for what the function reaches: tool_approval.target

Revision ID: 0027_tool_approval_target
Revises: 0026_region_language_fts

A user's "always allow" was kept by function name alone, so a creator could point the name at another
server, path or method (a `createTrip` that now transfers money) and the call ran without asking. A grant now
holds the target it was given for (`tools.runtime.Toolset.grant_target`); grants from before have `""`, which
no function matches, so each user is asked once more. The downgrade drops the column (the grants stay, by
name, as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_tool_approval_target"
down_revision: str | None = "0026_region_language_fts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tool_approval", sa.Column("target", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("tool_approval", "target")
