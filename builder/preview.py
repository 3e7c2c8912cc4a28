"""The creator's preview chat with a draft: answered as the published GPT would, with its tools."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt, PreviewMessage
from builder.schemas import PreviewApprovalCreate, PreviewMessageCreate, PreviewRead
from builder.service import GptService
from core import ratelimit
from core.db import Database
from core.errors import NotFound
from core.llm import ChatModel, Delta, Message, get_llm
from core.models import User
from core.settings import Settings
from retrieval.answer import Answer, AnswerContext, grounded_answer
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted, TurnState, sse_event
from tools.approvals import allow, allowed_grants
from tools.chat import open_toolset

TurnEvent = Delta | ToolCallStarted | ToolCallEnded


def answer_context(gpt: Gpt) -> AnswerContext:
    return AnswerContext(
        gpt_id=gpt.id,
        name=gpt.name,
        instructions=gpt.instructions,
        language=gpt.language,
        top_k=gpt.top_k,
        model=gpt.model,
        instructions_public=gpt.instructions_visibility == "public",
        verbatim_max_words=gpt.verbatim_max_words,
    )


class PreviewService:
    """The creator's chat with the draft, answering exactly as the published GPT would."""

    def __init__(self, session: AsyncSession, settings: Settings, llm: ChatModel | None):
        self.session = session
        self.settings = settings
        self.llm = llm

    @staticmethod
    def _of(gpt: Gpt, conversation_id: uuid.UUID, user_id: uuid.UUID) -> sa.ColumnElement[bool]:
        """The rows of `user_id`'s preview conversation of this GPT: another editor's is not theirs."""
        return sa.and_(
            PreviewMessage.gpt_id == gpt.id,
            PreviewMessage.conversation_id == conversation_id,
            PreviewMessage.user_id == user_id,
        )

    async def check_conversation(
        self, gpt: Gpt, conversation_id: uuid.UUID | None, user_id: uuid.UUID
    ) -> None:
        """404 unless `conversation_id` is None (a new one) or `user_id`'s preview conversation here."""
        if conversation_id is None:
            return
        found = await self.session.scalar(
            sa.select(PreviewMessage.id).where(self._of(gpt, conversation_id, user_id)).limit(1)
        )
        if found is None:
            raise NotFound("No such preview conversation of this GPT; omit conversation_id to start one")

    async def messages(
        self, gpt: Gpt, conversation_id: uuid.UUID, user_id: uuid.UUID
    ) -> list[PreviewMessage]:
        """`user_id`'s preview conversation of this GPT, oldest first (empty for an id not handed to them)."""
        rows = await self.session.scalars(
            sa.select(PreviewMessage)
            .where(self._of(gpt, conversation_id, user_id))
            .order_by(PreviewMessage.created_at, PreviewMessage.id)
        )
        return list(rows)

    async def _answer(
        self,
        gpt: Gpt,
        user_id: uuid.UUID,
        history: list[Message],
        question: str,
        grant: str | None = None,
        **turn: Any,
    ) -> AsyncIterator[TurnEvent | Answer]:
        toolset = await open_toolset(self.session, self.settings, gpt.id, user_id)
        if grant and toolset:  # "always": the function as the draft defines it
            await allow(self.session, user_id, gpt.id, grant, toolset.grant_target(grant))
        allowed = await allowed_grants(self.session, user_id, gpt.id) if toolset else frozenset()
        try:
            async for event in grounded_answer(
                self.session, self.settings, self.llm, answer_context(gpt), history, question,
                toolset, allowed=allowed, **turn,
            ):  # fmt: skip
                yield event
        finally:
            if toolset is not None:
                await toolset.aclose()

    async def reply(
        self, gpt: Gpt, content: str, conversation_id: uuid.UUID | None, user_id: uuid.UUID | None = None
    ) -> AsyncIterator[TurnEvent | tuple[uuid.UUID, Answer]]:
        """Stream the answer's text (and tool calls, run with the draft's tools for `user_id`, by default
        the owner), then `(conversation_id, Answer)` once it is stored. A call still waiting for approval
        in the conversation is cancelled by the new message.

        A `conversation_id` this GPT's preview did not hand out is a 404 (never a new history under it).
        """
        user_id = user_id or gpt.owner_id
        await self.check_conversation(gpt, conversation_id, user_id)
        conversation_id = conversation_id or uuid.uuid4()
        rows = await self.messages(gpt, conversation_id, user_id)
        for row in rows:
            if row.status == "requires_approval":
                row.status, row.pending_call, row.tool_state = "cancelled", None, None
        history = [{"role": m.role, "content": m.content} for m in rows]
        answer = None
        async for event in self._answer(gpt, user_id, history, content):
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        self.session.add(
            PreviewMessage(
                gpt_id=gpt.id, conversation_id=conversation_id, user_id=user_id, role="user", content=content
            )
        )
        await self.session.flush()  # the question is stored before its answer
        self.session.add(
            PreviewMessage(
                gpt_id=gpt.id,
                conversation_id=conversation_id,
                user_id=user_id,
                role="assistant",
                **answer.message_fields(),
            )
        )
        await self.session.flush()
        yield conversation_id, answer

    async def pending(
        self, gpt: Gpt, conversation_id: uuid.UUID, call_id: str, user_id: uuid.UUID, *, lock: bool = True
    ) -> PreviewMessage:
        """The preview answer waiting for approval of `call_id` (locked, so one decision wins); 404 when no
        such call waits in `user_id`'s preview conversation of this GPT."""
        query = sa.select(PreviewMessage).where(
            self._of(gpt, conversation_id, user_id),
            PreviewMessage.status == "requires_approval",
            PreviewMessage.pending_call["call_id"].astext == call_id,
        )
        message = await self.session.scalar(query.with_for_update() if lock else query)
        if message is None:
            raise NotFound(
                "This call no longer waits for approval in this preview conversation: it was approved or "
                "declined already (in another tab, perhaps), or a newer message cancelled it",
                call_id=call_id,
            )
        return message

    async def decide(
        self, gpt: Gpt, decision: PreviewApprovalCreate, user_id: uuid.UUID | None = None
    ) -> AsyncIterator[TurnEvent | tuple[uuid.UUID, Answer]]:
        """Run (approve) or decline the pending call of a preview answer and go on with its turn, streamed
        like `reply`; `always` allows the function for good for `user_id` (by default the owner)."""
        user_id = user_id or gpt.owner_id
        message = await self.pending(gpt, decision.conversation_id, decision.call_id, user_id)
        grant = message.pending_call["name"] if decision.approve and decision.always else None
        rows = await self.messages(gpt, decision.conversation_id, user_id)
        rows = rows[: next(i for i, m in enumerate(rows) if m.id == message.id)]
        if rows and rows[-1].role == "user":
            rows = rows[:-1]
        history = [{"role": m.role, "content": m.content} for m in rows]
        state = TurnState.from_json(message.tool_state)
        answer = None
        events = self._answer(
            gpt, user_id, history, state.question, grant=grant, state=state, decision=decision.approve
        )
        async for event in events:
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        for name, value in answer.message_fields().items():
            setattr(message, name, value)
        await self.session.flush()
        yield decision.conversation_id, answer


async def check_message_rate(redis: Redis, user: User, settings: Settings) -> None:
    """Builder turns and preview answers count against the same per-minute message limit as chats (429)."""
    await ratelimit.enforce(redis, user.id, "messages", settings.rate_limit_messages_per_minute, 60)


def preview_read(conversation_id: uuid.UUID, answer: Answer) -> PreviewRead:
    """The `PreviewRead` of a stored preview answer: text, citations and its tool calls (or the one that
    waits for approval)."""
    fields = answer.message_fields()
    message = {key: fields[key] for key in ("content", "citations", "status", "tool_calls", "pending_call")}
    return PreviewRead.model_validate({"conversation_id": conversation_id, "message": message})


async def streamed_preview(
    db: Database,
    settings: Settings,
    gpt_id: uuid.UUID,
    user_id: uuid.UUID,
    data: PreviewMessageCreate | PreviewApprovalCreate,
) -> AsyncIterator[tuple[str, Any]]:
    """SSE of a preview answer (or of its turn going on after a decision): `delta`, `tool_call.started`,
    `tool_call.ended`, then `done` with the `PreviewRead`. The caller checked ownership and the
    conversation; the stream runs in a transaction of its own."""
    async with db.session_scope() as session:
        gpt = await GptService(session, settings).get_owned_by_id(gpt_id)
        service = PreviewService(session, settings, get_llm(settings))
        if isinstance(data, PreviewApprovalCreate):
            events = service.decide(gpt, data, user_id)
        else:
            events = service.reply(gpt, data.content, data.conversation_id, user_id)
        async for event in events:
            if isinstance(event, Delta):
                yield "delta", {"text": event.text}
            elif isinstance(event, ToolCallStarted | ToolCallEnded):
                yield sse_event(event)
            else:
                yield "done", preview_read(*event).model_dump(mode="json")
