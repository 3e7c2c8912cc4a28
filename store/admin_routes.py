"""The admin's store routes: the moderation queue, moderating a GPT, featured GPTs (`/api/admin/...`)."""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Controller, get, post, put
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit, VersionNumber
from core.settings import Settings
from store.admin import FeaturedItem, ReviewItem, ReviewStatus, StoreAdmin
from store.schemas import (
    AdminAppealRead,
    AppealRead,
    AppealResolve,
    FeaturedRequest,
    ModerateRequest,
    VersionRead,
)
from store.service import StoreService


class AdminStoreController(Controller):
    path = "/api/admin"
    tags = ["admin"]

    @post("/gpts/{gpt_id:uuid}/versions/{number:int}/moderate", status_code=200)
    async def moderate(
        self,
        gpt_id: uuid.UUID,
        number: VersionNumber,
        data: ModerateRequest,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> VersionRead:
        """Reject a version or unlist the GPT, or undo either (`approve` a rejected version, `relist` the
        GPT), with a reason the creator sees (409 for an undo of a decision that does not stand)."""
        service = StoreService(db_session, settings, redis)
        return VersionRead.of(await service.moderate(site_admin, gpt_id, number, data.action, data.reason))

    @get("/appeals")
    async def appeals(
        self,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        status: Literal["open", "granted", "denied", "outdated"] | None = "open",
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[AdminAppealRead]:
        """Appeals, oldest first (the queue order), one page at a time, each with the decision it is about
        (`appealed`: the version's review status and reasons, the unlisting reason, hidden by reports)."""
        service = StoreService(db_session, settings)
        rows, next_cursor = await service.appeals(status, limit, cursor)
        return Page(data=await service.for_moderators(rows), next_cursor=next_cursor)

    @post("/appeals/{appeal_id:uuid}/resolve", status_code=200)
    async def resolve_appeal(
        self,
        appeal_id: uuid.UUID,
        data: AppealResolve,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> AppealRead:
        appeal = await StoreService(db_session, settings, redis).resolve_appeal(
            appeal_id, data.decision, data.note
        )
        return AppealRead.model_validate(appeal, from_attributes=True)

    @get("/versions")
    async def review_queue(
        self,
        site_admin: User,
        db_session: AsyncSession,
        status: ReviewStatus | None = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[ReviewItem]:
        """Published versions, newest first, with their GPT's store state: the review queue."""
        rows, next_cursor = await StoreAdmin(db_session).review_queue(status, limit, cursor)
        return Page(data=rows, next_cursor=next_cursor)

    @get("/featured")
    async def featured_list(self, site_admin: User, db_session: AsyncSession) -> list[FeaturedItem]:
        """The featured list in its order."""
        return await StoreAdmin(db_session).featured()

    @put("/featured", status_code=200)
    async def featured(
        self,
        data: FeaturedRequest,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> dict[str, list[uuid.UUID]]:
        """Set the ordered list of featured GPTs."""
        return {"gpt_ids": await StoreService(db_session, settings, redis).set_featured(data.gpt_ids)}
