"""Moving a GPT between a user and an organisation (or between organisations).

Versions, ratings, conversations and usage hang off the GPT's id and stay; the listing follows the new
owner (the store names the organisation, or the user, as its creator). Who may (docs/organisations.md):

- into an organisation: whoever may manage the GPT now (its creator, or an admin of its current
  organisation) and is a builder or higher of the target organisation, whose plan is `team`;
- out to a user: an admin (or the owner) of the GPT's organisation, to a member of that organisation.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.schemas import GptTransfer
from builder.service import GptService
from core.errors import Conflict, Invalid
from core.models import User
from core.settings import Settings
from orgs import access
from retrieval.dataset_access import detach_unusable
from retrieval.models import Dataset, KnowledgeFile
from store.models import Listing
from store.publishing import invalidate
from store.service import StoreService


class GptTransferService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.gpts = GptService(session, settings)

    async def transfer(self, user: User, gpt_id: uuid.UUID, data: GptTransfer) -> Gpt:
        """Give the GPT to `data.organization_id` or to the member `data.user_id`; 404 for a GPT the caller
        may not manage, 403/404 for an organisation they may not create GPTs in, 422 naming the field."""
        gpt = await self.gpts.get_owned(user, gpt_id, for_update=True, need="manage")
        if data.organization_id is not None:
            if data.organization_id == gpt.organization_id:
                raise Conflict(
                    "The GPT already belongs to this organisation",
                    errors=[{"field": "organization_id", "message": "already the owner"}],
                )
            await self.gpts.check_organization_builder(user, data.organization_id)
            gpt.organization_id = data.organization_id
            await self._reassign_knowledge(gpt.id, gpt.owner_id, data.organization_id)
        else:
            if gpt.organization_id is None:
                raise Invalid("A personal GPT moves to an organisation, not to another user", field="user_id")
            recipient = await self.session.get(User, data.user_id)
            if (
                recipient is None
                or await access.role_in(self.session, recipient, gpt.organization_id) is None
            ):
                raise Invalid("The new owner must be a member of the GPT's organisation", field="user_id")
            await self._reassign_knowledge(gpt.id, recipient.id, None)
            gpt.owner_id, gpt.organization_id = recipient.id, None
        await self.session.flush()
        await detach_unusable(self.session, gpt.id)  # private datasets of the old owner stay with it
        listing = await self.session.get(Listing, gpt.id, with_for_update=True)
        if listing is not None:
            await StoreService(self.session, self.settings, self.redis).follow_owner(listing, gpt)
        await self.session.flush()
        await invalidate(self.redis, gpt.id)
        return gpt

    async def _reassign_knowledge(
        self, gpt_id: uuid.UUID, owner_id: uuid.UUID, organization_id: uuid.UUID | None
    ) -> None:
        """The GPT's home dataset goes with it (other attached datasets keep their owners); its files count
        against the new personal owner's storage from now on."""
        await self.session.execute(
            sa.update(Dataset)
            .where(Dataset.home_gpt_id == gpt_id)
            .values(owner_id=owner_id, organization_id=organization_id)
        )
        await self.session.execute(
            sa.update(KnowledgeFile).where(KnowledgeFile.dataset_id == gpt_id).values(owner_id=owner_id)
        )
