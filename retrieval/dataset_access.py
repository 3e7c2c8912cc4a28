"""Who may see and who may change a dataset: the one place every dataset route and page asks.

Today: its owner and site admins may edit it; anyone signed in may see an open one. Members of the
dataset's organisation (`dataset.organization_id`) are asked through `organization_may_edit`, which
answers no until the organisations context lands: the lead wires it to `orgs.access`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from retrieval.models import Dataset


async def organization_may_edit(session: AsyncSession, user: User, organization_id: uuid.UUID | None) -> bool:
    """HOOK for orgs.access: may `user` edit the objects of this organisation (owner/admin/builder)?"""
    return False


async def can_edit(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """Change the dataset, its files and settings: its owner, a site admin, or its organisation's editors."""
    if user is None:
        return False
    if dataset.owner_id == user.id or user.is_admin:
        return True
    return dataset.organization_id is not None and await organization_may_edit(
        session, user, dataset.organization_id
    )


async def can_view(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """See the dataset and its file list: anyone for an open one, else those who may edit it."""
    return dataset.access == "open" or await can_edit(session, user, dataset)


async def can_read_private(session: AsyncSession, user: User | None, dataset: Dataset) -> bool:
    """Read private passages (hit testing): the owner and the organisation's editors, not an admin's look
    (docs/trust.md: private knowledge stays with its owner)."""
    if user is None:
        return False
    if dataset.owner_id == user.id:
        return True
    return dataset.organization_id is not None and await organization_may_edit(
        session, user, dataset.organization_id
    )


def gpt_may_use(
    gpt_owner_id: uuid.UUID,
    gpt_organization_id: uuid.UUID | None,
    access: str,
    owner_id: uuid.UUID,
    organization_id: uuid.UUID | None,
) -> bool:
    """May a GPT (its owner and organisation) use a dataset (its access, owner and organisation): any open
    dataset, its owner's datasets and its organisation's (docs/data-library.md). Asked when attaching and
    again at every search, so a dataset made private stops answering in other owners' GPTs, published
    versions included."""
    if access == "open" or owner_id == gpt_owner_id:
        return True
    return organization_id is not None and organization_id == gpt_organization_id


async def can_attach(session: AsyncSession, gpt_home: Dataset, dataset: Dataset) -> bool:
    """May the GPT whose home dataset is `gpt_home` use `dataset` (`gpt_may_use`)."""
    return gpt_may_use(
        gpt_home.owner_id, gpt_home.organization_id, dataset.access, dataset.owner_id, dataset.organization_id
    )
