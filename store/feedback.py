"""Ratings, reviews and creator replies, reports and their moderation by admins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import pagination
from core.concurrency import unique_or_conflict
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import User
from core.ratelimit import enforce
from core.settings import Settings
from orgs import access
from store.feedback_schemas import KEEP, AdminReportRead, Author, Keep, ReplyRead, ReviewPage, ReviewRead
from store.models import Listing, Rating, Report
from store.publishing import invalidate
from store.ranking import bayesian_average
from store.service import StoreService, forbid_owner


def encode_cursor(sort: str, rating: Rating) -> str:
    return pagination.encode_cursor(
        {"s": sort, "t": rating.created_at.isoformat(), "i": str(rating.id), "n": rating.stars}
    )


def decode_cursor(cursor: str, sort: str) -> tuple[datetime, uuid.UUID, int]:
    try:
        key = pagination.decode_cursor(cursor)
        created_at = datetime.fromisoformat(key["t"])
        parsed = (created_at, uuid.UUID(key["i"]), int(key["n"]))
        same_sort = key["s"] == sort
    except (ValueError, KeyError, TypeError):
        raise Invalid("The cursor is not one this endpoint returned", field="cursor") from None
    if not same_sort:
        raise Invalid("The cursor belongs to another sort order; start again without it", field="cursor")
    return parsed


def _after(sort: str, created_at: datetime, rating_id: uuid.UUID, stars: int) -> Any:
    """Rows strictly after the cursor row in the order of `sort` (ties broken by newest, then id)."""
    newer_first = sa.tuple_(Rating.created_at, Rating.id) < sa.tuple_(created_at, rating_id)
    if sort == "newest":
        return newer_first
    beyond = Rating.stars < stars if sort == "highest" else Rating.stars > stars
    return sa.or_(beyond, sa.and_(Rating.stars == stars, newer_first))


def _order(sort: str) -> list[Any]:
    tail = [Rating.created_at.desc(), Rating.id.desc()]
    if sort == "highest":
        return [Rating.stars.desc(), *tail]
    if sort == "lowest":
        return [Rating.stars.asc(), *tail]
    return tail


def _admin_report_read(
    report: Report, listing: Listing | None, reporter: User, open_reports: int
) -> AdminReportRead:
    return AdminReportRead(
        id=report.id,
        gpt_id=report.gpt_id,
        reason=report.reason,
        details=report.details,
        status=report.status,
        created_at=report.created_at,
        gpt_name=listing.name if listing is not None else "",
        reporter=Author(handle=reporter.handle, display_name=reporter.display_name),
        note=report.note,
        resolved_at=report.resolved_at,
        open_reports=open_reports,
    )


# Service ----------------------------------------------------------------------------------------------


class FeedbackService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.store = StoreService(session, settings, redis)

    async def _lock_listing(self, gpt_id: uuid.UUID) -> Listing:
        """The listing row, locked for this transaction: rating and report writes of one GPT queue here."""
        listing = await self.session.scalar(
            sa.select(Listing)
            .where(Listing.gpt_id == gpt_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if listing is None:
            raise NotFound("No such GPT")
        return listing

    async def _rate_limit(self, user: User, action: str, limit: int, window: int) -> None:
        if self.redis is not None:
            await enforce(self.redis, user.id, action, limit, window)

    # Ratings ------------------------------------------------------------------------------------------

    async def _rateable(self, user: User, gpt_id: uuid.UUID) -> Listing:
        listing = await self.store.visible_listing(gpt_id, user)
        await forbid_owner(self.session, user, listing, "rate")
        if not await self.store.has_asked(user, gpt_id):
            raise Forbidden(
                "Only users who chatted with a GPT can rate it: rate a GPT after chatting with it"
            )
        return listing

    async def my_rating(self, user: User, gpt_id: uuid.UUID) -> Rating:
        await self.store.visible_listing(gpt_id, user)
        rating = await self._rating_of(user, gpt_id)
        if rating is None:
            raise NotFound("You have not rated this GPT")
        return rating

    async def _rating_of(self, user: User, gpt_id: uuid.UUID) -> Rating | None:
        return await self.session.scalar(
            sa.select(Rating)
            .where(Rating.gpt_id == gpt_id, Rating.user_id == user.id)
            .execution_options(populate_existing=True)
        )

    async def rate(self, user: User, gpt_id: uuid.UUID, stars: int, review: str | None | Keep) -> Rating:
        """Create or replace the caller's rating (one per user and GPT); the listing's aggregates follow.

        `review=KEEP` (the field was omitted) leaves the current review as it is; `None` removes it.
        """
        await self._rateable(user, gpt_id)
        await self._rate_limit(user, "rating", self.settings.rate_limit_ratings_per_minute, 60)
        listing = await self._lock_listing(gpt_id)
        # Create or replace in one statement: one rating per user and GPT even without the listing lock,
        # which is there for exact aggregates. An omitted review (KEEP) leaves the stored one as it is.
        changed: dict = {"stars": stars, "updated_at": datetime.now(UTC)}
        if review is not KEEP:
            changed["review"] = review
            # A reply answered the text it was written under: shown under another text, it would put words
            # in the creator's mouth. A changed (or removed) review drops it; the creator may answer anew.
            edited = Rating.review.is_distinct_from(sa.cast(sa.literal(review), Rating.review.type))
            changed["reply"] = sa.case((edited, sa.null()), else_=Rating.reply)
            changed["replied_at"] = sa.case((edited, sa.null()), else_=Rating.replied_at)
        rating_id = await self.session.scalar(
            insert(Rating)
            .values(gpt_id=gpt_id, user_id=user.id, stars=stars, review=None if review is KEEP else review)
            .on_conflict_do_update(constraint="uq_rating_gpt_user", set_=changed)
            .returning(Rating.id)
        )
        rating = await self.session.get(Rating, rating_id, populate_existing=True)
        await self._recount(listing)
        return rating

    async def unrate(self, user: User, gpt_id: uuid.UUID) -> None:
        """Remove the caller's rating and review. One's own words stay one's own to withdraw after the GPT
        went out of sight (published privately, an organisation's GPT after leaving it); without a rating,
        a GPT the caller may not see is a 404 "No such GPT", as any unknown id."""
        await self._rate_limit(user, "rating", self.settings.rate_limit_ratings_per_minute, 60)
        listing = await self.session.scalar(
            sa.select(Listing)
            .where(Listing.gpt_id == gpt_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        result = await self.session.execute(
            sa.delete(Rating).where(Rating.gpt_id == gpt_id, Rating.user_id == user.id)
        )
        if not result.rowcount or listing is None:
            await self.store.visible_listing(gpt_id, user)
            raise NotFound("You have not rated this GPT")
        await self._recount(listing)

    async def _recount(self, listing: Listing) -> None:
        """Aggregates from the rating table itself; exact because every writer holds the listing lock."""
        rows = await self.session.execute(
            sa.select(Rating.stars, sa.func.count())
            .where(Rating.gpt_id == listing.gpt_id)
            .group_by(Rating.stars)
        )
        distribution = [0] * 5
        for stars, count in rows:
            distribution[stars - 1] = count
        listing.rating_distribution = distribution
        listing.rating_count = sum(distribution)
        listing.rating_sum = sum(n * (i + 1) for i, n in enumerate(distribution))
        listing.top_score = bayesian_average(listing.rating_sum, listing.rating_count)
        await self.session.flush()
        await invalidate(self.redis, listing.gpt_id)

    # Reviews and replies ------------------------------------------------------------------------------

    async def reviews(
        self, gpt_id: uuid.UUID, user: User | None, sort: str, cursor: str | None, limit: int
    ) -> ReviewPage:
        """Ratings that carry a review, in `sort` order, one keyset page at a time."""
        await self.store.visible_listing(gpt_id, user)
        query = (
            sa.select(Rating, User)
            .join(User, User.id == Rating.user_id)
            .where(Rating.gpt_id == gpt_id, Rating.review.is_not(None), Rating.review != "")
            .order_by(*_order(sort))
            .limit(limit + 1)
        )
        if cursor:
            query = query.where(_after(sort, *decode_cursor(cursor, sort)))
        rows = (await self.session.execute(query)).all()
        page = rows[:limit]
        data = [
            ReviewRead(
                id=rating.id,
                stars=rating.stars,
                review=rating.review,
                author=Author(handle=author.handle, display_name=author.display_name),
                created_at=rating.created_at,
                updated_at=rating.updated_at,
                reply=ReplyRead(text=rating.reply, created_at=rating.replied_at) if rating.reply else None,
            )
            for rating, author in page
        ]
        next_cursor = encode_cursor(sort, page[-1][0]) if len(rows) > limit else None
        return ReviewPage(data=data, next_cursor=next_cursor)

    async def reply(self, user: User, gpt_id: uuid.UUID, review_id: uuid.UUID, text: str) -> ReplyRead:
        """The creator's one public answer to a review."""
        listing = await self.store.visible_listing(gpt_id, user)
        if not await access.can_edit(
            self.session, user, listing.owner_id, listing.organization_id, site_admin=False
        ):
            if listing.organization_id is None:
                raise Forbidden("Only the GPT's creator can reply to its reviews")
            needed = access.needed_role("edit")
            raise Forbidden(
                f"Replying to reviews of the organisation's GPTs needs the role '{needed}' or higher",
                required_role=needed,
            )
        now = datetime.now(UTC)
        # One conditional UPDATE decides "first reply wins"; updated_at keeps the reviewer's own last edit.
        replied = await self.session.scalar(
            sa.update(Rating)
            .where(
                Rating.id == review_id,
                Rating.gpt_id == gpt_id,
                Rating.review.is_not(None),
                Rating.reply.is_(None),
            )
            .values(reply=text, replied_at=now, updated_at=Rating.updated_at)
            .returning(Rating.id)
            .execution_options(synchronize_session=False)
        )
        if replied is None:
            exists = await self.session.scalar(
                sa.select(Rating.id).where(
                    Rating.id == review_id, Rating.gpt_id == gpt_id, Rating.review.is_not(None)
                )
            )
            if exists is None:
                raise NotFound("No such review")
            raise Conflict("You already replied to this review")
        await invalidate(self.redis, gpt_id)
        return ReplyRead(text=text, created_at=now)

    # Reports ------------------------------------------------------------------------------------------

    async def _open_reports(self, gpt_id: uuid.UUID) -> int:
        return await self.session.scalar(
            sa.select(sa.func.count(sa.distinct(Report.user_id))).where(
                Report.gpt_id == gpt_id, Report.status == "open"
            )
        )

    async def report(self, user: User, gpt_id: uuid.UUID, reason: str, details: str) -> Report:
        """File a report; enough distinct open reports hide the GPT from lists until an admin decides."""
        listing = await self.store.visible_listing(gpt_id, user)
        await forbid_owner(self.session, user, listing, "report")
        await self._rate_limit(user, "report", self.settings.rate_limit_reports_per_hour, 3600)
        await self._lock_listing(gpt_id)  # reports of one GPT take turns: one open per user, exact counts

        async def check_no_open_report() -> None:
            already = await self.session.scalar(
                sa.select(Report.id).where(
                    Report.gpt_id == gpt_id, Report.user_id == user.id, Report.status == "open"
                )
            )
            if already is not None:
                raise Conflict("You already have an open report about this GPT")

        await check_no_open_report()
        report = Report(gpt_id=gpt_id, user_id=user.id, reason=reason, details=details)
        async with unique_or_conflict(self.session, check_no_open_report):
            self.session.add(report)
        if await self._open_reports(gpt_id) >= self.settings.report_hide_threshold:
            await self.store.set_hidden_by_reports(gpt_id, True)
        return report

    async def reports(
        self, status: str | None, limit: int, cursor: str | None = None
    ) -> tuple[list[AdminReportRead], str | None]:
        """One page of reports for the moderation queue, oldest first, and the cursor of the next page
        (None on the last), so every report stays reachable however many there are. Four statements."""
        query = sa.select(Report)
        if status:
            query = query.where(Report.status == status)
        rows, next_cursor = await pagination.keyset_page(
            self.session, query, Report.created_at, Report.id, limit=limit, cursor=cursor, descending=False
        )
        gpt_ids = {r.gpt_id for r in rows}
        listings = {
            listing.gpt_id: listing
            for listing in await self.session.scalars(sa.select(Listing).where(Listing.gpt_id.in_(gpt_ids)))
        }
        reporters = {
            user.id: user
            for user in await self.session.scalars(
                sa.select(User).where(User.id.in_({r.user_id for r in rows}))
            )
        }
        counts = dict(
            (
                await self.session.execute(
                    sa.select(Report.gpt_id, sa.func.count(sa.distinct(Report.user_id)))
                    .where(Report.status == "open", Report.gpt_id.in_(gpt_ids))
                    .group_by(Report.gpt_id)
                )
            ).all()
        )
        reads = [
            _admin_report_read(
                report, listings.get(report.gpt_id), reporters[report.user_id], counts.get(report.gpt_id, 0)
            )
            for report in rows
        ]
        return reads, next_cursor

    async def resolve(
        self, admin: User, report_id: uuid.UUID, action: str, note: str | None
    ) -> AdminReportRead:
        """`dismiss` closes one report; `unlist` acts on every open report of the GPT and unlists it."""
        gpt_id = await self.session.scalar(sa.select(Report.gpt_id).where(Report.id == report_id))
        if gpt_id is None:
            raise NotFound("No such report")
        # Lock order listing -> report, the same as filing a report, so the two cannot deadlock.
        await self._lock_listing(gpt_id)
        report = await self.session.scalar(
            sa.select(Report)
            .where(Report.id == report_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if report.status != "open":
            raise Conflict(f"This report is already resolved ({report.status})")
        now = datetime.now(UTC)
        decided = {"note": note, "resolved_by": admin.id, "resolved_at": now}
        if action == "dismiss":
            report.status = "dismissed"
            for key, value in decided.items():
                setattr(report, key, value)
            await self.session.flush()
            if await self._open_reports(gpt_id) < self.settings.report_hide_threshold:
                await self.store.set_hidden_by_reports(gpt_id, False)
        else:
            await self.session.execute(
                sa.update(Report)
                .where(Report.gpt_id == gpt_id, Report.status == "open")
                .values(status="actioned", **decided)
                .execution_options(synchronize_session=False)
            )
            await self.store.unlist(
                gpt_id, note or f"Removed from the store after a report ({report.reason})"
            )
            # The reports are decided: the GPT is out of the store by the moderator's unlisting (whose
            # reason the creator reads and may appeal), no longer "hidden until an admin decides".
            await self.store.set_hidden_by_reports(gpt_id, False)
            await self.session.refresh(report)
        listing = await self.session.get(Listing, gpt_id)
        reporter = await self.session.get(User, report.user_id)
        return _admin_report_read(report, listing, reporter, await self._open_reports(gpt_id))
