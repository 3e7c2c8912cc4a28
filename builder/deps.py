"""Providers of the GPT draft routes."""

from __future__ import annotations

import uuid

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.service import GptService
from core.models import User
from core.settings import Settings


async def allowed_gpt(
    request: Request, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Gpt:
    """The draft `gpt_id` if the caller may do the route's `opt["need"]` (default `edit`) with it:
    `GptService.get_owned`, 404 or 403 naming the role. A provider, so the check runs before the body is
    validated (litestar resolves dependencies first): who may not make the request is told so, not what is
    wrong with what they sent. The handler's service checks again, under its row lock."""
    need = request.route_handler.opt.get("need", "edit")
    return await GptService(db_session, settings).get_owned(current_user, gpt_id, need=need)
