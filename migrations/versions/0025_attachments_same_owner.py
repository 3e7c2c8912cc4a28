"""Drafts let go of private datasets of another owner: the organisation's in its makers' personal GPTs

Revision ID: 0025_attachments_same_owner
Revises: 0024_gpt_language_length

A GPT may use an open dataset or a private one of the same owner (`retrieval.dataset_access.gpt_may_use`):
the same organisation for an organisation's GPT and dataset, the same user for personal ones. The rule
before let a builder attach the organisation's private dataset to a personal GPT (its `owner_id` is whoever
made it), and kept it there after the builder left the organisation. Searches ask the new rule already;
this removes such attachments from drafts, as making a dataset private does (docs/data-library.md).
Published versions keep their record and answer nothing from it. The downgrade restores nothing: the rows
were never allowed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025_attachments_same_owner"
down_revision: str | None = "0024_gpt_language_length"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The GPT's owner and organisation are its home dataset's (same id as the GPT).
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
