"""Operations a user allowed for good: a call of one of them no longer waits for that user's approval."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from core.db import created_at_field


class ToolApproval(SQLModel, table=True):
    """This user allowed this GPT's function (an operation or MCP tool, by its function name) for good."""

    __tablename__ = "tool_approval"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    )
    gpt_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("gpt.id", ondelete="CASCADE"), primary_key=True)
    )
    name: str = Field(max_length=64, primary_key=True)
    created_at: datetime = created_at_field()


async def allowed_names(session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID) -> frozenset[str]:
    """The functions of `gpt_id` that `user_id` allowed for good."""
    rows = await session.scalars(
        sa.select(ToolApproval.name).where(ToolApproval.user_id == user_id, ToolApproval.gpt_id == gpt_id)
    )
    return frozenset(rows)


async def allow(session: AsyncSession, user_id: uuid.UUID, gpt_id: uuid.UUID, name: str) -> None:
    """Allow the function for good (again is a no-op)."""
    await session.execute(
        insert(ToolApproval)
        .values(user_id=user_id, gpt_id=gpt_id, name=name)
        .on_conflict_do_nothing(index_elements=["user_id", "gpt_id", "name"])
    )
