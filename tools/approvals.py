"""Operations a user allowed for good: a call of one of them no longer waits for that user's approval.

A grant names the function and what it reaches (`tools.runtime.Toolset.grant_target`: the operation's method
and URL template, or the MCP server's URL and tool): a creator who points the function elsewhere (another
server, path or method under the same name) gets no approval from the old grant; the user is asked again.
Users list and revoke their grants (`GET`/`DELETE /api/store/gpts/{gpt_id}/tool_approvals`,
docs/tools-chat.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from core.db import created_at_field


class ToolApproval(SQLModel, table=True):
    """This user allowed this GPT's function (an operation or MCP tool, by its function name) for good, as
    long as it reaches `target` (grants from before targets have `""`, which nothing matches)."""

    __tablename__ = "tool_approval"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    )
    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    name: str = Field(max_length=64, primary_key=True)
    target: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = created_at_field()


async def allowed_grants(
    session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID
) -> frozenset[tuple[str, str]]:
    """The `(function name, target)` pairs of `gpt_id` that `user_id` allowed for good."""
    rows = await session.execute(
        sa.select(ToolApproval.name, ToolApproval.target).where(
            ToolApproval.user_id == user_id, ToolApproval.gpt_id == gpt_id
        )
    )
    return frozenset((name, target) for name, target in rows)


async def allow(session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID, name: str, target: str) -> None:
    """Allow the function for good while it reaches `target` (a grant of the same name is replaced). An empty
    `target` (the GPT no longer has the function: the creator removed it while the call waited) allows nothing
    and is not stored, so the user's list shows no grant that never applied."""
    if not target:
        return
    statement = insert(ToolApproval).values(user_id=user_id, gpt_id=gpt_id, name=name, target=target)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "gpt_id", "name"],
            set_={"target": statement.excluded.target, "created_at": sa.func.now()},
        )
    )


async def grants(session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID) -> list[ToolApproval]:
    """The user's grants for the GPT, by function name."""
    rows = await session.scalars(
        sa.select(ToolApproval)
        .where(ToolApproval.user_id == user_id, ToolApproval.gpt_id == gpt_id)
        .order_by(ToolApproval.name)
    )
    return list(rows)


async def revoke(session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID, name: str) -> bool:
    """Drop the user's grant of `name`; False when there was none."""
    result = await session.execute(
        sa.delete(ToolApproval).where(
            ToolApproval.user_id == user_id, ToolApproval.gpt_id == gpt_id, ToolApproval.name == name
        )
    )
    return bool(result.rowcount)
