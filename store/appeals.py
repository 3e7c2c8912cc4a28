"""Appeals: a creator asks the moderators to take back a rejection or an unlisting; the moderators grant
or deny it with a note the creator reads.

Rules (docs/store.md "Appeals"):
- one open appeal per GPT;
- an appeal of a rejected version is closed as `outdated` when a newer version is published: the newer
  version is reviewed on its own, and a grant never takes newer work off the store;
- a grant approves the appealed version (its review reasons stay, as history, under the line
  `APPROVED_ON_APPEAL`) and makes it live only while it is the GPT's newest version; it lifts an unlisting;
- after a denial the GPT may be appealed again once a newer version is published, or after
  `Settings.appeal_cooldown_days` days.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from builder.models import Gpt
from core.errors import Conflict, NotFound
from core.models import User
from core.pagination import keyset_page
from store.models import Appeal, GptVersion, Listing
from store.publishing import invalidate

if TYPE_CHECKING:
    from store.schemas import AdminAppealRead

APPROVED_ON_APPEAL = "approved on appeal"


@dataclass
class AppealState:
    """What the creator's pages say about appealing a GPT now."""

    can_appeal: bool  # there is a decision to appeal and nothing stops a new appeal
    open_appeal: Appeal | None
    latest: Appeal | None  # the newest appeal, open or decided
    again_at: datetime | None  # after a denial: when the GPT may be appealed again without a new version


class AppealsMixin:
    """`StoreService`'s appeal methods (it provides the session, settings and the listing helpers)."""

    async def appealable(self, gpt_id: uuid.UUID) -> bool:
        """Whether the GPT has a decision to appeal: its newest version rejected, or its listing unlisted
        (by a moderator or by reports)."""
        listing = await self.session.get(Listing, gpt_id)
        latest = await self._newest_version(gpt_id)
        return bool(
            (latest is not None and latest.review_status == "rejected")
            or (listing is not None and (listing.unlisted_reason or listing.hidden_by_reports))
        )

    async def open_appeal(self, gpt_id: uuid.UUID) -> Appeal | None:
        """The GPT's appeal waiting for the admins, if any (at most one)."""
        return await self.session.scalar(
            sa.select(Appeal).where(Appeal.gpt_id == gpt_id, Appeal.status == "open").limit(1)
        )

    async def appeal_state(self, gpt_id: uuid.UUID) -> AppealState:
        """Whether the GPT can be appealed now, its open appeal and its newest appeal (with the note)."""
        latest = await self.session.scalar(
            sa.select(Appeal)
            .where(Appeal.gpt_id == gpt_id)
            .order_by(Appeal.created_at.desc(), Appeal.id.desc())
            .limit(1)
        )
        open_appeal = latest if latest is not None and latest.status == "open" else None
        again_at = await self._denied_until(gpt_id, latest)
        can = open_appeal is None and again_at is None and await self.appealable(gpt_id)
        return AppealState(can_appeal=can, open_appeal=open_appeal, latest=latest, again_at=again_at)

    async def _denied_until(self, gpt_id: uuid.UUID, latest: Appeal | None) -> datetime | None:
        """While a denial stands: the moment the GPT may be appealed again (None: it may be now)."""
        if latest is None or latest.status != "denied" or latest.resolved_at is None:
            return None
        newest = await self._newest_version(gpt_id)
        if newest is not None and (latest.version is None or newest.number > latest.version):
            return None  # a newer version since the denial: a new decision to appeal
        again = latest.resolved_at + timedelta(days=self.settings.appeal_cooldown_days)
        return again if again > datetime.now(UTC) else None

    async def appeal(self, owner: User, gpt_id: uuid.UUID, message: str) -> Appeal:
        """Appeal the GPT's rejection or unlisting; one open appeal per GPT (appeals of it take turns);
        after a denial only about a newer version or after the cool-down (409 otherwise)."""
        gpt = await self.gpts.get_owned(owner, gpt_id, for_update=True)
        if not await self.appealable(gpt.id):
            raise Conflict("There is no rejection or unlisting of this GPT to appeal")
        state = await self.appeal_state(gpt.id)
        if state.open_appeal is not None:
            raise Conflict("This GPT already has an open appeal")
        if state.again_at is not None:
            raise Conflict(
                "The moderators denied this GPT's appeal: publish a changed version, or appeal again "
                f"after {state.again_at:%Y-%m-%d %H:%M} UTC"
            )
        latest = await self._newest_version(gpt.id)
        appeal = Appeal(
            gpt_id=gpt.id, user_id=owner.id, version=latest.number if latest else None, message=message
        )
        self.session.add(appeal)
        await self.session.flush()
        return appeal

    async def gpt_appeals(
        self, owner: User, gpt_id: uuid.UUID, limit: int, cursor: str | None
    ) -> tuple[list[Appeal], str | None]:
        """One page of the GPT's appeals, newest first, for those who edit it (404 for anyone else)."""
        gpt = await self.gpts.get_owned(owner, gpt_id)
        query = sa.select(Appeal).where(Appeal.gpt_id == gpt.id)
        return await keyset_page(
            self.session, query, Appeal.created_at, Appeal.id, limit=limit, cursor=cursor
        )

    async def appeals(
        self, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Appeal], str | None]:
        """One page of appeals, oldest first (the queue order)."""
        query = sa.select(Appeal)
        if status:
            query = query.where(Appeal.status == status)
        return await keyset_page(
            self.session, query, Appeal.created_at, Appeal.id, limit=limit, cursor=cursor, descending=False
        )

    async def for_moderators(self, appeals: list[Appeal]) -> list[AdminAppealRead]:
        """The appeals with the decision each is about (the appealed version's review, the GPT's unlisting
        and report state), so a moderator decides knowing what is appealed. Two statements for a page."""
        from store.schemas import AdminAppealRead, AppealedDecision, AppealRead  # it imports this module

        gpt_ids = {a.gpt_id for a in appeals}
        listings = {
            row.gpt_id: row
            for row in await self.session.scalars(sa.select(Listing).where(Listing.gpt_id.in_(gpt_ids)))
        }
        wanted = {(a.gpt_id, a.version) for a in appeals if a.version is not None}
        versions = {
            (row.gpt_id, row.number): row
            for row in await self.session.scalars(
                sa.select(GptVersion).where(sa.tuple_(GptVersion.gpt_id, GptVersion.number).in_(wanted))
            )
        } if wanted else {}  # fmt: skip
        reads = []
        for appeal in appeals:
            listing = listings.get(appeal.gpt_id)
            version = versions.get((appeal.gpt_id, appeal.version))
            decision = AppealedDecision(
                review_status=version.review_status if version else None,
                review_reasons=list(version.review_reasons) if version else [],
                unlisted_reason=listing.unlisted_reason if listing else None,
                hidden_by_reports=bool(listing and listing.hidden_by_reports),
            )
            read = AppealRead.model_validate(appeal, from_attributes=True)
            reads.append(AdminAppealRead(**read.model_dump(), appealed=decision))
        return reads

    async def close_outdated_appeals(self, gpt_id: uuid.UUID, published: GptVersion) -> None:
        """After `published` is made: an open appeal of an older, rejected version is closed as outdated
        (the new version is reviewed on its own), as is one that no longer has a decision to appeal."""
        appeal = await self.session.scalar(
            sa.select(Appeal)
            .where(Appeal.gpt_id == gpt_id, Appeal.status == "open", Appeal.version < published.number)
            .with_for_update()
        )
        if appeal is None:
            return
        appealed = await self.session.scalar(
            sa.select(GptVersion.review_status).where(
                GptVersion.gpt_id == gpt_id, GptVersion.number == appeal.version
            )
        )
        if appealed == "rejected" or not await self.appealable(gpt_id):
            appeal.status = "outdated"
            appeal.note = (
                f"Version {published.number} was published after this appeal and reviewed on its own."
            )
            appeal.resolved_at = datetime.now(UTC)
            await self.session.flush()

    async def resolve_appeal(self, appeal_id: uuid.UUID, decision: str, note: str | None) -> Appeal:
        """`grant` approves the appealed version (live again only if it is still the newest version) and
        lifts an unlisting; `deny` keeps the decision. 409 for an appeal already decided or outdated."""
        gpt_id = await self.session.scalar(sa.select(Appeal.gpt_id).where(Appeal.id == appeal_id))
        if gpt_id is None:
            raise NotFound("No such appeal")
        # Lock order GPT -> appeal -> listing, as `publish` takes them (it closes an outdated appeal): a
        # grant and a publish at once queue, never deadlock.
        gpt = await self.session.get(Gpt, gpt_id, with_for_update=True)
        appeal = await self.session.get(Appeal, appeal_id, with_for_update=True, populate_existing=True)
        if appeal is None:
            raise NotFound("No such appeal")
        if appeal.status != "open":
            raise Conflict(f"This appeal is already decided ({appeal.status})")
        appeal.status = "granted" if decision == "grant" else "denied"
        appeal.note = note
        appeal.resolved_at = datetime.now(UTC)
        if decision == "grant":
            listing = await self.session.get(Listing, appeal.gpt_id, with_for_update=True)
            version = await self.session.scalar(
                sa.select(GptVersion).where(
                    GptVersion.gpt_id == appeal.gpt_id, GptVersion.number == appeal.version
                )
            )
            if version is not None and version.review_status == "rejected":
                version.review_status = "approved"
                version.review_reasons = [*version.review_reasons, APPROVED_ON_APPEAL]
                newest = await self._newest_version(appeal.gpt_id)
                if newest is not None and newest.number == version.number:
                    await self._go_live(gpt, version)
            elif listing is not None:
                listing.unlisted_reason = None
                listing.hidden_by_reports = False
                self._relist(listing)
        await self.session.flush()
        await invalidate(self.redis, appeal.gpt_id)
        return appeal


def approved_on_appeal(review_status: str, review_reasons: list[str]) -> bool:
    """Whether a version was approved by a granted appeal (its earlier reasons kept as history)."""
    return review_status == "approved" and APPROVED_ON_APPEAL in review_reasons
