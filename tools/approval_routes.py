"""A user's approvals for good of a GPT's functions: listed and revoked (docs/tools-chat.md)."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import User
from core.pagination import Page
from core.settings import Settings
from tools.approvals import revoke
from tools.chat import approval_reads
from tools.schemas import ToolApprovalRead


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
        apply."""
        return Page(data=await approval_reads(db_session, settings, gpt_id, current_user.id))

    @delete("/{name:str}", status_code=204)
    async def revoke_tool_approval(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        name: str = Parameter(max_length=64),
    ) -> None:
        """Revoke the approval for good of `name`: its next call waits for approval again. 404 when the
        caller has none for it."""
        if not await revoke(db_session, current_user.id, gpt_id, name):
            raise NotFound(f"No approval for good of {name!r} in this GPT")


route_handlers = [ToolApprovalController]
