"""GPT drafts: create, read, change field by field (recording what changed), delete."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.schemas import (
    EDITABLE_FIELDS,
    Change,
    GptCreate,
    GptRead,
    GptUpdate,
    RetrievalRead,
    check_category,
)
from core.auth import require_paid_plan
from core.errors import NotFound
from core.models import User
from core.settings import Settings
from retrieval.service import KnowledgeService

# Capabilities that really work; browsing, image generation and code execution are not offered.
CAPABILITIES = ["knowledge_retrieval", "citations"]


class GptService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.knowledge = KnowledgeService(session, settings)

    async def create(self, owner: User, data: GptCreate | None = None) -> Gpt:
        """A new draft owned by a paying creator, with its (empty) knowledge base."""
        require_paid_plan(owner)
        gpt = Gpt(owner_id=owner.id)
        self.session.add(gpt)
        await self.session.flush()
        await self.knowledge.open_knowledge_base(gpt.id, owner.id, None)
        if data is not None:
            await self.update(gpt, data)
        return gpt

    async def list_owned(self, owner: User) -> list[Gpt]:
        rows = await self.session.scalars(
            sa.select(Gpt).where(Gpt.owner_id == owner.id).order_by(Gpt.updated_at.desc())
        )
        return list(rows)

    async def get_owned(self, user: User, gpt_id: uuid.UUID, *, for_update: bool = False) -> Gpt:
        """The draft if `user` owns it (admins may see any); 404 otherwise, so ids cannot be probed."""
        query = sa.select(Gpt).where(Gpt.id == gpt_id)
        if for_update:
            query = query.with_for_update()
        gpt = await self.session.scalar(query)
        if gpt is None or (gpt.owner_id != user.id and not user.is_admin):
            raise NotFound("No such GPT")
        return gpt

    async def update(self, gpt: Gpt, data: GptUpdate | GptCreate) -> list[Change]:
        """Apply the fields that were sent (already validated as a whole); returns what changed."""
        sent = data.model_dump(exclude_unset=True)
        check_category(sent.get("category"), self.settings.categories)
        changes = self.apply_fields(gpt, {k: v for k, v in sent.items() if k in EDITABLE_FIELDS})
        if "model" in sent:
            gpt.model = sent["model"] or None
        retrieval = sent.get("retrieval") or {}
        if retrieval.get("top_k") is not None:
            gpt.top_k = retrieval["top_k"]
        if retrieval.get("chunk_size") is not None or retrieval.get("chunk_overlap") is not None:
            await self.knowledge.configure(
                gpt.id, chunk_size=retrieval.get("chunk_size"), chunk_overlap=retrieval.get("chunk_overlap")
            )
        if any(c.field == "language" for c in changes):
            await self.knowledge.configure(gpt.id, language=gpt.language, set_language=True)
        await self.session.flush()
        return changes

    def apply_fields(self, gpt: Gpt, values: dict[str, Any]) -> list[Change]:
        changes = []
        for field, after in values.items():
            if after is None and field not in ("category", "language"):
                after = [] if field in ("conversation_starters", "tags") else ""
            before = getattr(gpt, field)
            if before != after:
                setattr(gpt, field, after)
                changes.append(Change(field=field, before=before, after=after))
        if changes:
            gpt.updated_at = sa.func.now()
        return changes

    async def delete(self, gpt: Gpt) -> None:
        await self.session.delete(gpt)
        await self.session.flush()

    async def read(self, gpt: Gpt) -> GptRead:
        await self.session.flush()
        await self.session.refresh(gpt)
        chunk_size, chunk_overlap = await self.knowledge.chunking_of(gpt.id)
        return GptRead(
            id=gpt.id,
            name=gpt.name,
            description=gpt.description,
            instructions=gpt.instructions,
            welcome_message=gpt.welcome_message,
            conversation_starters=list(gpt.conversation_starters),
            category=gpt.category,
            tags=list(gpt.tags),
            language=gpt.language,
            retrieval=RetrievalRead(chunk_size=chunk_size, chunk_overlap=chunk_overlap, top_k=gpt.top_k),
            model=gpt.model,
            capabilities=CAPABILITIES,
            created_at=gpt.created_at,
            updated_at=gpt.updated_at,
        )
