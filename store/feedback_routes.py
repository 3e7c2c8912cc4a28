"""Ratings, reviews, reports and their moderation; creator profiles, pages, dashboard and stats."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.params import Parameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import session_only
from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit
from core.settings import Settings
from store.creators import CreatorPage, CreatorService, DashboardRead, ProfileRead, ProfileUpdate, StatsRead
from store.feedback import FeedbackService
from store.feedback_schemas import (
    KEEP,
    AdminReportRead,
    RatingRead,
    RatingWrite,
    ReplyCreate,
    ReplyRead,
    ReportCreate,
    ReportRead,
    ReportResolve,
    ReportStatus,
    ReviewPage,
    ReviewSort,
)


class FeedbackController(Controller):
    path = "/api/store/gpts/{gpt_id:uuid}"
    tags = ["ratings and reports"]

    @put("/rating")
    async def rate(
        self,
        gpt_id: uuid.UUID,
        data: RatingWrite,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> RatingRead:
        """Rate 1-5 stars with an optional review, once per user (sending again replaces it).

        Only users who chatted with the GPT may rate it, never its creator.
        """
        service = FeedbackService(db_session, settings, redis)
        review = data.review if "review" in data.model_fields_set else KEEP
        rating = await service.rate(current_user, gpt_id, data.stars, review)
        return RatingRead.model_validate(rating, from_attributes=True)

    @get("/rating")
    async def my_rating(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> RatingRead:
        """The caller's own rating of this GPT (404 when there is none)."""
        rating = await FeedbackService(db_session, settings).my_rating(current_user, gpt_id)
        return RatingRead.model_validate(rating, from_attributes=True)

    @delete("/rating", status_code=204)
    async def unrate(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> None:
        await FeedbackService(db_session, settings, redis).unrate(current_user, gpt_id)

    @get("/reviews")
    async def reviews(
        self,
        gpt_id: uuid.UUID,
        optional_user: User | None,
        read_session: AsyncSession,
        settings: Settings,
        sort: ReviewSort = "newest",
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> ReviewPage:
        """Ratings with a review text; pass `next_cursor` back as `cursor` for the next page."""
        service = FeedbackService(read_session, settings)
        return await service.reviews(gpt_id, optional_user, sort, cursor, limit)

    @post("/reviews/{review_id:uuid}/reply", status_code=201)
    async def reply(
        self,
        gpt_id: uuid.UUID,
        review_id: uuid.UUID,
        data: ReplyCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> ReplyRead:
        """The creator answers a review, once."""
        return await FeedbackService(db_session, settings, redis).reply(
            current_user, gpt_id, review_id, data.text
        )

    @post("/reports", status_code=201)
    async def report(
        self,
        gpt_id: uuid.UUID,
        data: ReportCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> ReportRead:
        """Report a GPT; one open report per user and GPT."""
        report = await FeedbackService(db_session, settings, redis).report(
            current_user, gpt_id, data.reason, data.details
        )
        return ReportRead.model_validate(report, from_attributes=True)


class AdminReportController(Controller):
    path = "/api/admin/reports"
    tags = ["admin"]

    @get("/")
    async def list_reports(
        self,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        status: ReportStatus | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> Page[AdminReportRead]:
        """Reports, oldest first, one page at a time (`next_cursor` for the next); `status=open` is the
        moderation queue."""
        rows, next_cursor = await FeedbackService(db_session, settings).reports(status, limit, cursor)
        return Page(data=rows, next_cursor=next_cursor)

    @post("/{report_id:uuid}/resolve", status_code=200)
    async def resolve(
        self,
        report_id: uuid.UUID,
        data: ReportResolve,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> AdminReportRead:
        """`dismiss` this report, or `unlist` the GPT (every open report of it is then actioned)."""
        service = FeedbackService(db_session, settings, redis)
        return await service.resolve(site_admin, report_id, data.action, data.note)


class ProfileController(Controller):
    path = "/api/me/profile"
    tags = ["creators"]

    @get("/")
    async def profile(self, current_user: User) -> ProfileRead:
        return ProfileRead.model_validate(current_user)

    @patch("/", guards=[session_only])
    async def update_profile(
        self,
        data: ProfileUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> ProfileRead:
        """Change handle, display name, website or bio; the store shows the new profile."""
        user = await CreatorService(db_session, settings, redis).update_profile(current_user, data)
        return ProfileRead.model_validate(user)


class CreatorPageController(Controller):
    path = "/api/store/creators"
    tags = ["creators"]

    @get("/{handle:str}")
    async def creator_page(
        self, handle: str, read_session: AsyncSession, settings: Settings, redis: Redis
    ) -> CreatorPage:
        """A creator's profile and their GPTs in the store."""
        return await CreatorService(read_session, settings, redis).page(handle)


class CreatorDashboardController(Controller):
    path = "/api/creator/gpts"
    tags = ["creators"]

    @get("/")
    async def dashboard(
        self, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> DashboardRead:
        """The caller's GPTs with review outcome, store state and totals."""
        return await CreatorService(db_session, settings).dashboard(current_user)


class GptStatsController(Controller):
    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["creators"]

    @get("/stats")
    async def stats(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        days: Annotated[int, Parameter(ge=1, le=365)] = 30,
    ) -> StatsRead:
        """Daily usage and ratings of the owner's GPT (aggregates only, no conversations)."""
        return await CreatorService(db_session, settings).stats(current_user, gpt_id, days)


route_handlers = [
    FeedbackController,
    AdminReportController,
    ProfileController,
    CreatorPageController,
    CreatorDashboardController,
    GptStatsController,
]
