"""Store factories: published GPTs and conversations written straight into the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.models import User
from retrieval.models import Dataset, GptDataset
from store.models import ChatMessage, Conversation, GptVersion, Listing


async def create_published_gpt(session: AsyncSession, owner: User, **overrides: Any) -> Listing:
    """A GPT with an approved version 1 that is live in the store (public and listed unless overridden)."""
    fields: dict[str, Any] = {
        "name": "Fjord Guide",
        "description": "Plans fjord trips.",
        "category": "lifestyle",
        "visibility": "public",
    }
    fields.update(overrides)
    gpt = Gpt(
        owner_id=owner.id,
        name=fields["name"],
        description=fields["description"],
        instructions="Help people plan fjord trips.",
        conversation_starters=["Best fjord in May?"],
        category=fields["category"],
    )
    session.add(gpt)
    await session.flush()
    # Its home dataset (same id as the GPT), attached, as `GptService.create` makes it.
    session.add(Dataset(id=gpt.id, home_gpt_id=gpt.id, owner_id=owner.id))
    await session.flush()
    session.add(GptDataset(gpt_id=gpt.id, dataset_id=gpt.id))
    session.add(
        GptVersion(
            gpt_id=gpt.id,
            number=1,
            visibility=fields["visibility"],
            review_status="approved",
            config={k: getattr(gpt, k) for k in ("name", "description", "instructions", "category")},
            file_ids=[],
            datasets=[{"id": str(gpt.id), "version": 1, "follow_latest": False}],
        )
    )
    listing = Listing(
        gpt_id=gpt.id,
        owner_id=owner.id,
        live_version=1,
        visibility=fields["visibility"],
        listed=fields.get("listed", fields["visibility"] == "public"),
        name=fields["name"],
        description=fields["description"],
        category=fields["category"],
        creator_handle=owner.handle,
        first_approved_at=datetime.now(UTC),
        conversations=fields.get("conversations", 0),
    )
    session.add(listing)
    await session.flush()
    await session.commit()
    return listing


async def create_conversation(
    session: AsyncSession, user: User, gpt_id, question: str | None = "Which fjord?"
) -> Conversation:
    """A conversation of `user` with the GPT's live version, holding `question` as the user's message
    (a question asked is what makes the user eligible to rate the GPT); `question=None`: an empty one."""
    conversation = Conversation(user_id=user.id, gpt_id=gpt_id, version=1)
    session.add(conversation)
    await session.flush()
    if question is not None:
        session.add(ChatMessage(conversation_id=conversation.id, role="user", content=question))
        await session.flush()
    await session.commit()
    return conversation
