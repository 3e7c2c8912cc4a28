"""GPT drafts and the builder chat."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from builder.schemas import GptCreate, GptRead, GptUpdate
from builder.service import GptService
from core.models import User
from core.settings import Settings


class GptController(Controller):
    path = "/api/gpts"
    tags = ["gpts"]

    @post("/", status_code=201)
    async def create_gpt(
        self, current_user: User, db_session: AsyncSession, settings: Settings, data: GptCreate | None = None
    ) -> GptRead:
        """Create a draft (paid plans); every field is optional."""
        service = GptService(db_session, settings)
        return await service.read(await service.create(current_user, data))

    @get("/")
    async def list_gpts(self, current_user: User, db_session: AsyncSession, settings: Settings) -> dict:
        service = GptService(db_session, settings)
        return {"data": [await service.read(g) for g in await service.list_owned(current_user)]}

    @get("/{gpt_id:uuid}")
    async def get_gpt(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> GptRead:
        service = GptService(db_session, settings)
        return await service.read(await service.get_owned(current_user, gpt_id))

    @patch("/{gpt_id:uuid}")
    async def update_gpt(
        self,
        gpt_id: uuid.UUID,
        data: GptUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> GptRead:
        """Change fields; every bad field is named in a 422 and nothing is applied."""
        service = GptService(db_session, settings)
        gpt = await service.get_owned(current_user, gpt_id, for_update=True)
        await service.update(gpt, data)
        return await service.read(gpt)

    @delete("/{gpt_id:uuid}", status_code=204)
    async def delete_gpt(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> None:
        service = GptService(db_session, settings)
        await service.delete(await service.get_owned(current_user, gpt_id))


route_handlers = [GptController]
