"""Drafts let go of private datasets of another owner kept by a transfer

Revision ID: 0028_transferred_attachments
Revises: 0027_tool_approval_target

Migration 0025 removed attachments `retrieval.dataset_access.gpt_may_use` refuses. A GPT moved to an
organisation or back to a member (`POST /api/gpts/{id}/transfer`) kept its attachments until now, so a
private dataset of the old owner stayed listed (its id and name) to the new owner's editors. Transfers now
let go of them (`detach_unusable`); this removes those kept since. The downgrade restores nothing: the rows
were never allowed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028_transferred_attachments"
down_revision: str | None = "0027_tool_approval_target"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The statement of 0025, frozen here as migrations are (the GPT's owner and organisation are its home
    # dataset's, same id as the GPT).
    op.execute(
        """
        DELETE FROM gpt_dataset AS attached
        USING dataset AS used, dataset AS home
        WHERE used.id = attached.dataset_id
          AND home.id = attached.gpt_id
          AND attached.dataset_id <> attached.gpt_id
          AND used.access <> 'open'
          AND CASE
                WHEN used.organization_id IS NOT NULL OR home.organization_id IS NOT NULL
                THEN used.organization_id IS DISTINCT FROM home.organization_id
                ELSE used.owner_id <> home.owner_id
              END
        """
    )


def downgrade() -> None:
    pass
