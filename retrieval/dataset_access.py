"""Who may see and who may change a dataset: the one place every dataset route and page asks.

The rules are those of anything owned by a user or an organisation (`orgs.access`, docs/data-library.md
"Permission table"): a personal dataset belongs to its owner; an organisation's to its members by role
(members see it, builders and up change it; who made it gains nothing); site administrators may do
everything except read private passages. Open datasets are seen by anyone.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

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
    if access == "open":
        return True
    if organization_id is not None or gpt_organization_id is not None:
        return organization_id == gpt_organization_id
    return owner_id == gpt_owner_id


async def can_attach(session: AsyncSession, user: User, gpt_home: Dataset, dataset: Dataset) -> bool:
    """May `user` (who edits the GPT whose home dataset is `gpt_home`) let it use `dataset`: the GPT may
    use it (`gpt_may_use`) and the user may see it, so nobody attaches (and so probes) a private dataset
    they could not open, a site admin's own included."""
    return gpt_may_use(
        gpt_home.owner_id, gpt_home.organization_id, dataset.access, dataset.owner_id, dataset.organization_id
    ) and await can_view(session, user, dataset)
