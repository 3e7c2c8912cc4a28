"""A user's approvals for good of a GPT's functions: listed and revoked (docs/tools-chat.md)."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.errors import Forbidden, NotFound
from core.models import User
from core.pagination import Page
from core.settings import Settings
from store.service import StoreService
from tools.approvals import revoke
from tools.chat import approval_reads
from tools.schemas import ToolApprovalRead


async def require_seen(session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, user: User) -> None:
    """404 "No such GPT" unless `user` may see the GPT: in the store (`StoreService.visible_listing`) or as
    one of its builders (whose previews ask for approvals too). Hidden and missing GPTs answer alike, so ids
    cannot be probed."""
    try:
        await StoreService(session, settings).visible_listing(gpt_id, user)
    except NotFound:
        try:
            await GptService(session, settings).get_owned(user, gpt_id)
        except Forbidden:  # a member of its organisation below builder: not told it exists either
            raise NotFound("No such GPT") from None


class ToolApprovalController(Controller):
    path = "/api/store/gpts/{gpt_id:uuid}/tool_approvals"
    tags = ["tools"]

    @get("/")
    async def list_tool_approvals(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> Page[ToolApprovalRead]:
        """The caller's approvals for good in this GPT, by function name (all of them: at most one per
        function). Each holds while the function reaches what it reached when it was given; one whose
        function the creator pointed elsewhere (or removed) is listed with `outdated: true` and does not
        apply. 404 "No such GPT" when the caller has none here and may not see the GPT (`require_seen`)."""
        reads = await approval_reads(db_session, settings, gpt_id, current_user.id)
        if not reads:
            await require_seen(db_session, settings, gpt_id, current_user)
        return Page(data=reads)

    @delete("/{name:str}", status_code=204)
    async def revoke_tool_approval(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        name: str = Parameter(max_length=64),
    ) -> None:
        """Revoke the approval for good of `name`: its next call waits for approval again. 404 when the
        caller has none for it ("No such GPT" when the caller may not see the GPT either, `require_seen`)."""
        if not await revoke(db_session, current_user.id, gpt_id, name):
            await require_seen(db_session, settings, gpt_id, current_user)
            raise NotFound(f"No approval for good of {name!r} in this GPT")


route_handlers = [ToolApprovalController]
