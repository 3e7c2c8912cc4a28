"""Who may see and who may change a dataset: the one place every dataset route and page asks.

The rules are those of anything owned by a user or an organisation (`orgs.access`, docs/data-library.md
"Permission table"): a personal dataset belongs to its owner; an organisation's to its members by role
(members see it, builders and up change it; who made it gains nothing); site administrators may do
everything except read private passages. Open datasets are seen by anyone.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, NotFound
from core.models import User
from orgs import access
from retrieval.models import Dataset


async def can_edit(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """Change the dataset, its files and settings: its owner (personal), its organisation's builders and
    up, a site admin."""
    return await access.can_edit(session, user, dataset.owner_id, dataset.organization_id)


async def can_view(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """See the dataset and its file list: anyone for an open one, else its owner, its organisation's
    members and site admins."""
    return dataset.access == "open" or await access.can_view(
        session, user, dataset.owner_id, dataset.organization_id
    )


async def require_edit(session: AsyncSession, user: User | None, dataset: Dataset, *, doing: str) -> None:
    """`can_edit`, else 404 to whoever may not see the dataset and 403 to whoever sees it (anyone for an open
    one, a member of its organisation), naming `required_role` for an organisation's dataset; `doing` says
    what was refused ("Changing", "Contributor numbers of")."""
    if not await can_view(session, user, dataset):
        raise NotFound("No such dataset")
    if await can_edit(session, user, dataset):
        return
    if dataset.organization_id is None:
        raise Forbidden(f"{doing} a dataset is for its owner")
    needed = access.needed_role("edit")
    raise Forbidden(
        f"{doing} the organisation's datasets needs the role '{needed}' or higher", required_role=needed
    )


async def can_read_private(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """Read private passages (hit testing): those who may edit it as one of its owners, not an admin's
    look (docs/trust.md: private knowledge stays with its owner)."""
    return await access.can_edit(session, user, dataset.owner_id, dataset.organization_id, site_admin=False)


def gpt_may_use(
    gpt_owner_id: uuid.UUID,
    gpt_organization_id: uuid.UUID | None,
    access: str,
    owner_id: uuid.UUID,
    organization_id: uuid.UUID | None,
) -> bool:
    """May a GPT (its owner and organisation) use a dataset (its access, owner and organisation): any open
    dataset, and a private one of the same owner: the same organisation for an organisation's GPT and
    dataset, the same user for a personal GPT and a personal dataset (docs/data-library.md). Who made an
    organisation's dataset gains nothing from that: it never answers in its maker's personal GPTs (the
    maker may leave the organisation), nor a maker's personal dataset in the organisation's GPTs. Asked when
    attaching and again at every search, so a dataset made private stops answering in other owners' GPTs,
    published versions included."""
    return access == "open" or same_owner(gpt_owner_id, gpt_organization_id, owner_id, organization_id)


def same_owner(
    owner_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    other_id: uuid.UUID,
    other_organization_id: uuid.UUID | None,
) -> bool:
    """Whether two things (each its `owner_id`, the user who made it, and `organization_id`) have one owner:
    the same organisation, or, both personal, the same user."""
    if organization_id is not None or other_organization_id is not None:
        return organization_id == other_organization_id
    return owner_id == other_id


def same_owner_sql(home: Any, dataset: Dataset) -> sa.ColumnElement[bool]:
    """`same_owner` of GPTs (their home dataset rows, `home`, an alias of `Dataset`) and `dataset`, as SQL."""
    if dataset.organization_id is not None:
        return home.organization_id == dataset.organization_id
    return sa.and_(home.organization_id.is_(None), home.owner_id == dataset.owner_id)


async def can_attach(session: AsyncSession, user: User, gpt_home: Dataset, dataset: Dataset) -> bool:
    """May `user` (who edits the GPT whose home dataset is `gpt_home`) let it use `dataset`: the GPT may
    use it (`gpt_may_use`) and the user may see it, so nobody attaches (and so probes) a private dataset
    they could not open, a site admin's own included."""
    return gpt_may_use(
        gpt_home.owner_id, gpt_home.organization_id, dataset.access, dataset.owner_id, dataset.organization_id
    ) and await can_view(session, user, dataset)


# The attachments of a GPT's draft that `gpt_may_use` refuses: a private dataset of another owner (the GPT's
# owner and organisation are its home dataset's, same id as the GPT). Migration 0025 ran it for every GPT.
_UNUSABLE_ATTACHMENTS = sa.text(
    """
    DELETE FROM gpt_dataset AS attached
    USING dataset AS used, dataset AS home
    WHERE attached.gpt_id = :gpt_id
      AND used.id = attached.dataset_id
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


async def detach_unusable(session: AsyncSession, gpt_id: uuid.UUID) -> None:
    """Let go of the draft's attachments the GPT may no longer use, once its owner changed (a transfer):
    as making a dataset private does for the GPTs of other owners (`DatasetService._detach_from_others`),
    so the new owner's editors neither see the dataset's name nor change its attachment. Published versions
    keep their record and answer nothing from it (`gpt_may_use` at search)."""
    await session.execute(_UNUSABLE_ATTACHMENTS, {"gpt_id": gpt_id})
