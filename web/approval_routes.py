"""Revoking an approval for good from the GPT's page (`DELETE /api/store/gpts/{id}/tool_approvals/{name}`)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from tools.approvals import revoke
from web.session import login_required


@post("/g/{gpt_id:uuid}/tool_approvals/{name:str}/revoke")
async def revoke_tool_approval(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    name: str = Parameter(max_length=64),
) -> Any:
    """Revoke; back to the GPT's page, where the list no longer shows it (revoking one already gone too)."""
    if redirect := login_required(page_user, request, f"/g/{gpt_id}"):
        return redirect
    await revoke(db_session, page_user.id, gpt_id, name)
    return Redirect(f"/g/{gpt_id}#h-approvals", status_code=303)


approval_handlers = [revoke_tool_approval]
