"""A moderator's decisions on a published GPT, and their reversal (`POST /api/admin/gpts/{id}/versions/{n}/
moderate`, the admin desk's review queue): `reject` a version, `unlist` the GPT, and the two that undo them,
`approve` a rejected version and `relist` an unlisted GPT (or one hidden by reports). Every decision takes a
reason the creator sees; a reversal also grants the open appeals it answers, so no appeal waits on a
decision that no longer stands.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from builder.models import Gpt
from core.errors import Conflict, NotFound
from core.models import User
from store.models import Appeal, GptVersion, Listing
from store.publishing import invalidate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class ModerationMixin:
    """`StoreService`'s moderation (it provides the session, Redis and the listing helpers of
    `store.publishing.PublishingMixin`)."""

    session: AsyncSession

    async def moderate(
        self, admin: User, gpt_id: uuid.UUID, number: int, action: str, reason: str
    ) -> GptVersion:
        """`reject` version `number` (taken down if live: the newest approved version before it goes live
        instead), `unlist` the GPT, `approve` a rejected version (live again if it is the newest, as a
        granted appeal does), or `relist` an unlisted GPT or one hidden by reports. 404 for an unknown GPT
        or version; 409 for an `approve` of a version that is not rejected or a `relist` of a GPT that is
        not unlisted. Locks GPT, version, listing, in the order publishing and appeals take them."""
        gpt = await self.session.get(Gpt, gpt_id, with_for_update=True)
        version = await self.session.scalar(
            sa.select(GptVersion)
            .where(GptVersion.gpt_id == gpt_id, GptVersion.number == number)
            .with_for_update()
        )
        if gpt is None or version is None:
            raise NotFound(f"No version {number} of this GPT")
        listing = await self.session.get(Listing, gpt_id, with_for_update=True)
        if action == "reject":
            version.review_status = "rejected"
            version.review_reasons = [*version.review_reasons, f"rejected by a moderator: {reason}"]
            if listing is not None and listing.live_version == number:
                await self._previous_goes_live(listing, gpt_id)
        elif action == "unlist":
            if listing is not None:
                listing.unlisted_reason = reason
        elif action == "approve":
            if version.review_status != "rejected":
                raise Conflict(f"Version {number} is not rejected (it is {version.review_status})")
            version.review_status = "approved"
            version.review_reasons = [*version.review_reasons, f"approved by a moderator: {reason}"]
            newest = await self._newest_version(gpt_id)
            if newest is not None and newest.number == number:
                await self._go_live(gpt, version)
            await self._grant_answered_appeals(gpt_id, reason, version=number)
        else:  # relist
            if listing is None or not (listing.unlisted_reason or listing.hidden_by_reports):
                raise Conflict("This GPT is not unlisted")
            listing.unlisted_reason = None
            listing.hidden_by_reports = False
            await self._grant_answered_appeals(gpt_id, reason, version=None)
        if listing is not None:
            self._relist(listing)
        await self.session.flush()
        await invalidate(self.redis, gpt_id)
        return version

    async def _previous_goes_live(self, listing: Listing, gpt_id: uuid.UUID) -> None:
        """The newest approved version (or none) is live instead of the one just rejected."""
        prior = await self.session.scalar(
            sa.select(GptVersion)
            .where(GptVersion.gpt_id == gpt_id, GptVersion.review_status == "approved")
            .order_by(GptVersion.number.desc())
            .limit(1)
        )
        listing.live_version = prior.number if prior is not None else None
        if prior is not None:
            listing.visibility = prior.visibility

    async def _grant_answered_appeals(self, gpt_id: uuid.UUID, reason: str, version: int | None) -> None:
        """Open appeals the reversal answers: of the approved `version`, or (a relisting, `version` None)
        every open appeal of the GPT whose version is not rejected, i.e. those about the unlisting."""
        rejected = sa.select(GptVersion.number).where(
            GptVersion.gpt_id == gpt_id, GptVersion.review_status == "rejected"
        )
        answered = Appeal.version == version if version is not None else Appeal.version.not_in(rejected)
        await self.session.execute(
            sa.update(Appeal)
            .where(Appeal.gpt_id == gpt_id, Appeal.status == "open", answered)
            .values(status="granted", note=f"Lifted by a moderator: {reason}", resolved_at=datetime.now(UTC))
        )
