"""Creators: their public profile and page, the dashboard of their GPTs and per-GPT statistics."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core import cache
from core.auth import ACCOUNTS_LOCK
from core.concurrency import serialize, unique_or_conflict
from core.db import replica_lag
from core.errors import Conflict, NotFound
from core.models import User
from core.patterns import Matches
from core.schemas import OneLine, Plain, Visible
from core.settings import Settings
from orgs import access
from store.appeals import approved_on_appeal
from store.models import Appeal, GptVersion, Listing, Rating, UsageDaily
from store.publishing import LISTING_SCOPE
from store.ranking import rating_average
from store.schemas import AppealRead
from store.service import StoreService

HANDLE_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
Handle = Annotated[
    str,
    Field(min_length=3, max_length=40),
    Matches(
        HANDLE_PATTERN, "must be lowercase letters, digits and hyphens, not starting or ending with a hyphen"
    ),
]
Website = Annotated[
    str,
    Field(max_length=300),
    Matches(r"^(https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?#]\S*)?)?$", "must be an http:// or https:// URL"),
]


# Schemas ----------------------------------------------------------------------------------------------


class ProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    handle: str
    display_name: str
    website: str | None
    bio: str | None


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    handle: Handle | None = Field(
        default=None, description="3-40 characters: lowercase letters, digits and inner hyphens"
    )
    display_name: Annotated[str | None, Visible, OneLine] = Field(default=None, min_length=1, max_length=80)
    website: Website | None = Field(default=None, description="An http(s) URL; empty clears it")
    bio: Annotated[str | None, Plain] = Field(default=None, max_length=1000, description="Empty clears it")

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError("website must be an http:// or https:// URL")
        return value

    @field_validator("bio")
    @classmethod
    def _bio(cls, value: str | None) -> str | None:
        return value or None


class RatingSummary(BaseModel):
    average: float | None
    count: int


class CreatorGpt(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    category: str | None
    rating: RatingSummary
    conversations: int


class CreatorPage(ProfileRead):
    gpts: list[CreatorGpt]


class Totals(BaseModel):
    conversations: int
    users: int
    messages: int
    rating_average: float | None
    rating_count: int


class DashboardGpt(BaseModel):
    id: uuid.UUID
    name: str
    visibility: str = Field(description="private, link or public while published; draft otherwise")
    live_version: int | None
    latest_version: int | None
    review_status: str | None = Field(description="Of the latest version")
    review_reasons: list[str] = Field(description="Of the latest version")
    approved_on_appeal: bool = Field(default=False, description="The latest version, by a granted appeal")
    appeal: AppealRead | None = Field(
        default=None, description="The newest appeal, with its outcome and note"
    )
    listed: bool
    unlisted_reason: str | None
    hidden_by_reports: bool
    totals: Totals


class DashboardRead(BaseModel):
    data: list[DashboardGpt]


class DayUsage(BaseModel):
    date: date
    conversations: int
    users: int
    messages: int


class DayRatings(BaseModel):
    date: date
    distribution: list[int] = Field(description="Ratings last changed that day: index 0 is 1 star")


class StatsRead(BaseModel):
    days: list[DayUsage]
    rating_distribution: list[int] = Field(description="All current ratings: index 0 is 1 star")
    ratings_by_day: list[DayRatings]


def _average(listing: Listing | None) -> float | None:
    return rating_average(listing.rating_sum, listing.rating_count) if listing is not None else None


# Service ----------------------------------------------------------------------------------------------


class CreatorService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis

    async def update_profile(self, user: User, data: ProfileUpdate) -> User:
        """Change the public profile; listings follow the new handle and name."""
        sent = data.model_dump(exclude_unset=True)
        if sent.get("display_name", "") is None:
            sent.pop("display_name")
        if sent.get("handle") is None:
            sent.pop("handle", None)
        handle, user_id = sent.get("handle"), user.id

        async def check_handle_free() -> None:
            taken = await self.session.scalar(
                sa.select(User.id).where(User.handle == handle, User.id != user_id)
            )
            if taken is not None:
                raise Conflict("This handle is taken", errors=[{"field": "handle", "message": "taken"}])

        if handle is not None and handle != user.handle:
            # Take turns with signups, which pick free handles, and with other handle changes.
            await serialize(self.session, ACCOUNTS_LOCK)
            await check_handle_free()
        async with unique_or_conflict(self.session, check_handle_free):
            for key, value in sent.items():
                setattr(user, key, value)
        await StoreService(self.session, self.settings, self.redis).refresh_creator(user)
        return user

    async def page(self, handle: str) -> CreatorPage:
        """A creator's public profile and their GPTs listed in the store."""

        async def compute() -> dict:
            return (await self._page(handle)).model_dump(mode="json")

        if self.redis is None:
            return await self._page(handle)
        ttl, lag = self.settings.cache_ttl_seconds, replica_lag(self.session, self.settings)
        value = await cache.cached(self.redis, LISTING_SCOPE, f"creator:{handle}", ttl, compute, lag=lag)
        return CreatorPage.model_validate(value)

    async def _page(self, handle: str) -> CreatorPage:
        user = await self.session.scalar(sa.select(User).where(User.handle == handle.lower()))
        if user is None:
            raise NotFound("No such creator")
        listings = await self.session.scalars(
            sa.select(Listing)
            .where(Listing.owner_id == user.id, Listing.organization_id.is_(None), Listing.listed)
            .order_by(Listing.conversations.desc(), Listing.name, Listing.gpt_id)
        )
        gpts = [
            CreatorGpt(
                id=listing.gpt_id,
                name=listing.name,
                description=listing.description,
                category=listing.category,
                rating=RatingSummary(average=_average(listing), count=listing.rating_count),
                conversations=listing.conversations,
            )
            for listing in listings
        ]
        return CreatorPage(
            handle=user.handle, display_name=user.display_name, website=user.website, bio=user.bio, gpts=gpts
        )

    async def dashboard(self, owner: User) -> DashboardRead:
        """Every GPT the caller may edit (their own and their organisations'), drafts included, with review
        outcome, store state and totals."""
        rows = (
            await self.session.execute(
                sa.select(Gpt, Listing)
                .outerjoin(Listing, Listing.gpt_id == Gpt.id)
                .where(access.allowed(owner, Gpt.owner_id, Gpt.organization_id, "edit"))
                .order_by(Gpt.updated_at.desc(), Gpt.id)
            )
        ).all()
        newest = (
            sa.select(GptVersion.gpt_id, sa.func.max(GptVersion.number).label("number"))
            .where(GptVersion.gpt_id.in_([gpt.id for gpt, _ in rows]))
            .group_by(GptVersion.gpt_id)
            .subquery()
        )
        latest = {
            version.gpt_id: version
            for version in await self.session.scalars(
                sa.select(GptVersion).join(
                    newest,
                    sa.and_(GptVersion.gpt_id == newest.c.gpt_id, GptVersion.number == newest.c.number),
                )
            )
        }
        appeals: dict[uuid.UUID, AppealRead] = {}
        for appeal in await self.session.scalars(  # a GPT has few appeals; the newest of each
            sa.select(Appeal)
            .where(Appeal.gpt_id.in_([gpt.id for gpt, _ in rows]))
            .order_by(Appeal.created_at.desc(), Appeal.id.desc())
        ):
            appeals.setdefault(appeal.gpt_id, AppealRead.model_validate(appeal, from_attributes=True))
        data = []
        for gpt, listing in rows:
            version = latest.get(gpt.id)
            published = listing is not None and listing.live_version is not None
            data.append(
                DashboardGpt(
                    id=gpt.id,
                    name=gpt.name,
                    visibility=listing.visibility if published else "draft",
                    live_version=listing.live_version if listing else None,
                    latest_version=version.number if version else None,
                    review_status=version.review_status if version else None,
                    review_reasons=list(version.review_reasons) if version else [],
                    approved_on_appeal=bool(
                        version and approved_on_appeal(version.review_status, version.review_reasons)
                    ),
                    appeal=appeals.get(gpt.id),
                    listed=bool(listing and listing.listed),
                    unlisted_reason=listing.unlisted_reason if listing else None,
                    hidden_by_reports=bool(listing and listing.hidden_by_reports),
                    totals=Totals(
                        conversations=listing.conversations if listing else 0,
                        users=listing.users if listing else 0,
                        messages=listing.messages if listing else 0,
                        rating_average=_average(listing),
                        rating_count=listing.rating_count if listing else 0,
                    ),
                )
            )
        return DashboardRead(data=data)

    async def stats(self, owner: User, gpt_id: uuid.UUID, days: int) -> StatsRead:
        """Daily usage and ratings of the last `days` days (UTC, today included), every day present, for
        those who edit the GPT and site admins (as a dataset's numbers are); 403 naming `required_role` to a
        member of its organisation below that, 404 for anyone else.

        Only aggregates: creators never see their users' conversations.
        """
        gpt = await self.session.get(Gpt, gpt_id)
        if gpt is None:
            raise NotFound("No such GPT")
        await access.require(
            self.session, owner, gpt.owner_id, gpt.organization_id, "edit", not_found="No such GPT"
        )
        today = datetime.now(UTC).date()
        span = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
        usage = {
            row.day: row
            for row in await self.session.scalars(
                sa.select(UsageDaily).where(UsageDaily.gpt_id == gpt_id, UsageDaily.day >= span[0])
            )
        }
        rating_day = sa.func.date(sa.func.timezone("UTC", Rating.updated_at))
        by_day: dict[date, list[int]] = {}
        for day, stars, count in await self.session.execute(
            sa.select(rating_day, Rating.stars, sa.func.count())
            .where(Rating.gpt_id == gpt_id, rating_day >= span[0])
            .group_by(rating_day, Rating.stars)
        ):
            by_day.setdefault(day, [0] * 5)[stars - 1] = count
        listing = await self.session.get(Listing, gpt_id)
        return StatsRead(
            days=[
                DayUsage(
                    date=day,
                    conversations=usage[day].conversations if day in usage else 0,
                    users=usage[day].users if day in usage else 0,
                    messages=usage[day].messages if day in usage else 0,
                )
                for day in span
            ],
            rating_distribution=list(listing.rating_distribution) if listing else [0] * 5,
            ratings_by_day=[DayRatings(date=day, distribution=by_day.get(day, [0] * 5)) for day in span],
        )
