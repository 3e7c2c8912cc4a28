"""What the admin desk reads: the review queue of published versions and the featured list.

The actions on them (moderate, set the featured list, resolve appeals and reports) are `StoreService`'s and
`FeedbackService`'s, the same the JSON API calls.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.concurrency import serialize
from core.errors import Invalid
from core.pagination import keyset_page
from store.models import GptVersion, Listing
from store.schemas import FeaturedRequest
from store.service import StoreService

ReviewStatus = Literal["approved", "rejected"]


class ReviewItem(BaseModel):
    """One published version in the review queue, with its GPT's store state."""

    gpt_id: uuid.UUID
    name: str
    number: int
    visibility: str
    review_status: ReviewStatus
    review_reasons: list[str]
    created_at: datetime
    live: bool = Field(description="This version is the one users see")
    listed: bool
    unlisted_reason: str | None
    hidden_by_reports: bool = Field(description="Hidden from lists by open reports until an admin decides")


class FeaturedItem(BaseModel):
    gpt_id: uuid.UUID
    name: str
    rank: int


class FeaturedStep(BaseModel):
    """One change of the featured list: move a GPT `up` or `down`, `add` it at the end, or `remove` it."""

    model_config = ConfigDict(extra="forbid")

    gpt_id: uuid.UUID
    move: Literal["up", "down", "add", "remove"]


class StoreAdmin:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def review_queue(
        self, status: ReviewStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[ReviewItem], str | None]:
        """Published versions, newest first (public ones reviewed automatically, for a human second look)."""
        query = sa.select(GptVersion)
        if status:
            query = query.where(GptVersion.review_status == status)
        versions, next_cursor = await keyset_page(
            self.session, query, GptVersion.created_at, GptVersion.id, limit=limit, cursor=cursor
        )
        ids = {v.gpt_id for v in versions}
        names = await self.names(list(ids))
        listings = {
            listing.gpt_id: listing
            for listing in await self.session.scalars(sa.select(Listing).where(Listing.gpt_id.in_(ids)))
        }
        items = []
        for version in versions:
            listing = listings.get(version.gpt_id)
            items.append(
                ReviewItem(
                    gpt_id=version.gpt_id,
                    name=names.get(version.gpt_id, ""),
                    number=version.number,
                    visibility=version.visibility,
                    review_status=version.review_status,
                    review_reasons=list(version.review_reasons),
                    created_at=version.created_at,
                    live=listing is not None and listing.live_version == version.number,
                    listed=bool(listing and listing.listed),
                    unlisted_reason=listing.unlisted_reason if listing else None,
                    hidden_by_reports=bool(listing and listing.hidden_by_reports),
                )
            )
        return items, next_cursor

    async def names(self, gpt_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of these GPTs' drafts, by id."""
        rows = await self.session.execute(sa.select(Gpt.id, Gpt.name).where(Gpt.id.in_(set(gpt_ids))))
        return dict(rows.all())

    async def featured(self) -> list[FeaturedItem]:
        """The featured list in its order, as the store shows it (a GPT unlisted since is left out, and
        dropped from the list at its next change)."""
        rows = await self.session.execute(
            sa.select(Listing.gpt_id, Listing.name, Listing.featured_rank)
            .where(Listing.featured_rank.is_not(None), Listing.listed)  # what the store's shelf shows
            .order_by(Listing.featured_rank, Listing.gpt_id)
        )
        return [FeaturedItem(gpt_id=gpt_id, name=name, rank=rank) for gpt_id, name, rank in rows]

    async def step_featured(self, store: StoreService, step: FeaturedStep) -> list[uuid.UUID]:
        """Apply one step to the featured list and set the result (`StoreService.set_featured`, which
        refuses a GPT that is not listed). Read and write happen under the featured lock, so two admins'
        steps at once queue and neither is lost."""
        await serialize(self.session, "featured")
        current = [item.gpt_id for item in await self.featured()]
        order = reordered(current, step.gpt_id, step.move)
        try:
            FeaturedRequest(gpt_ids=order)  # the API's own limits on the list
        except ValidationError as exc:
            raise Invalid(str(exc.errors()[0]["msg"]), field="gpt_ids") from None
        return await store.set_featured(order)


def reordered(current: list[uuid.UUID], gpt_id: uuid.UUID, move: str) -> list[uuid.UUID]:
    """The featured list after one step: `up`/`down` swaps with the neighbour, `remove` drops the GPT,
    `add` appends it. A GPT not in the list (for up, down, remove) leaves the list as it is."""
    order = list(current)
    if move == "add":
        return order if gpt_id in order else [*order, gpt_id]
    if gpt_id not in order:
        return order
    at = order.index(gpt_id)
    if move == "remove":
        order.pop(at)
    elif move == "up" and at > 0:
        order[at - 1], order[at] = order[at], order[at - 1]
    elif move == "down" and at < len(order) - 1:
        order[at + 1], order[at] = order[at], order[at + 1]
    return order
