"""Chatting with published GPTs: conversations pinned to a version, answered by the grounded-answer code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.db import Database
from core.errors import Conflict, NotFound
from core.llm import ChatModel, Delta, Message, get_llm
from core.models import User
from core.pagination import keyset_page
from core.settings import Settings
from retrieval.answer import Answer, AnswerContext, grounded_answer
from retrieval.schemas import ApprovalCreate
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted, TurnState, sse_event
from store import usage
from store.dataset_stats import count_citations
from store.models import ChatMessage, Conversation, GptVersion
from store.schemas import ChatMessageRead, ChatReplyRead, ConversationRead
from store.service import StoreService
from tools.approvals import allow, allowed_grants
from tools.chat import open_toolset

TurnEvent = Delta | ToolCallStarted | ToolCallEnded


def version_context(version: GptVersion) -> AnswerContext:
    config = version.config
    return AnswerContext(
        gpt_id=version.gpt_id,
        name=config.get("name") or "",
        instructions=config.get("instructions") or "",
        language=config.get("language"),
        top_k=config.get("top_k") or 6,
        model=config.get("model"),
        file_ids=[uuid.UUID(f) for f in version.file_ids],
        follow_datasets=[uuid.UUID(d["id"]) for d in version.datasets if d.get("follow_latest")],
        instructions_public=config.get("instructions_visibility") == "public",
        verbatim_max_words=config.get("verbatim_max_words"),
    )


async def hold_for_turn(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """Lock a conversation's row for the turn about to be written into it (`FOR NO KEY UPDATE`: a delete
    waits until the turn commits, a reader does not); False when it was deleted while the answer was made
    (the caller then writes nothing into it: a 404, or, after a streamed answer, nothing at all)."""
    found = await session.scalar(
        sa.select(Conversation.id).where(Conversation.id == conversation_id).with_for_update(key_share=True)
    )
    return found is not None


async def cancel_waiting(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """Cancel the call the conversation's last turn waits for, if any: a newer user message (from any API)
    or a version taken down by moderation means it is never decided."""
    await session.execute(
        sa.update(ChatMessage)
        .where(ChatMessage.conversation_id == conversation_id, ChatMessage.status == "requires_approval")
        .values(status="cancelled", pending_call=None, tool_state=None)
    )


def conversation_title(text: str) -> str:
    """A conversation's title from its first user message: the first line with text, at most 120 characters
    ("" for a message with none, such as an image alone)."""
    return next((line.strip()[:120] for line in text.splitlines() if line.strip()), "")


def conversation_gone(conversation_id: uuid.UUID) -> NotFound:
    return NotFound(f"The conversation {conversation_id} was deleted while the answer was being made")


class ChatService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis, llm: ChatModel | None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.llm = llm
        self.store = StoreService(session, settings, redis)

    async def start(self, user: User, gpt_id: uuid.UUID) -> Conversation:
        """A conversation with the GPT's live version (it stays pinned to that version).

        The user's newest conversation with the GPT that holds no message yet is reused, pinned to the live
        version again: opening a chat once more (a second click, a reload, a retried request) lists no
        other empty chat. The store's numbers count a conversation with its first answer (`turn`), on every
        path (the API, the web, MCP, `/v1`), so opening one counts nothing."""
        listing = await self.store.visible_listing(gpt_id, user)
        unused = await self.session.scalar(
            sa.select(Conversation)
            .where(
                Conversation.user_id == user.id,
                Conversation.gpt_id == gpt_id,
                ~sa.exists().where(ChatMessage.conversation_id == Conversation.id),
            )
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        if unused is not None:
            unused.version = listing.live_version
            await self.session.flush()
            return unused
        conversation = Conversation(user_id=user.id, gpt_id=gpt_id, version=listing.live_version)
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    async def check_rate(self, user: User) -> None:
        """Count one message against the user's per-minute limit (429 with Retry-After past it)."""
        await ratelimit.enforce(
            self.redis, user.id, "messages", self.settings.rate_limit_messages_per_minute, 60
        )

    async def owned(self, user: User, conversation_id: uuid.UUID) -> Conversation:
        """The user's conversation with a GPT; one made through `/v1/conversations` that no answer has bound
        to a GPT yet lives only under `/v1` (`store.conversations`), so it is a 404 here."""
        conversation = await self.session.get(Conversation, conversation_id)
        if conversation is None or conversation.user_id != user.id or conversation.gpt_id is None:
            raise NotFound("No such conversation")
        return conversation

    async def conversations(
        self, user: User, limit: int, cursor: str | None
    ) -> tuple[list[Conversation], str | None]:
        """One page of the user's conversations, latest activity first."""
        query = sa.select(Conversation).where(
            Conversation.user_id == user.id, Conversation.gpt_id.is_not(None)
        )
        return await keyset_page(
            self.session, query, Conversation.updated_at, Conversation.id, limit=limit, cursor=cursor
        )

    async def listed(self, user: User, rows: list[Conversation]) -> list[ConversationRead]:
        """Conversations as the chat list shows them: each with its GPT's name (of the pinned version) and
        whether the user may still chat with it."""
        pinned = {(row.gpt_id, row.version) for row in rows}
        names = (
            {
                (gpt_id, number): config.get("name")
                for gpt_id, number, config in (
                    await self.session.execute(
                        sa.select(GptVersion.gpt_id, GptVersion.number, GptVersion.config).where(
                            sa.tuple_(GptVersion.gpt_id, GptVersion.number).in_(pinned)
                        )
                    )
                ).all()
            }
            if pinned
            else {}
        )
        available: dict[uuid.UUID, bool] = {}
        for gpt_id in {row.gpt_id for row in rows}:
            try:
                await self.store.visible_listing(gpt_id, user)
                available[gpt_id] = True
            except NotFound:
                available[gpt_id] = False
        return [
            ConversationRead.model_validate(row, from_attributes=True).model_copy(
                update={
                    "gpt_name": names.get((row.gpt_id, row.version)),
                    "gpt_available": available[row.gpt_id],
                }
            )
            for row in rows
        ]

    async def message_page(
        self, conversation: Conversation, limit: int, cursor: str | None
    ) -> tuple[list[ChatMessage], str | None]:
        """One page of a conversation's messages, oldest first."""
        query = sa.select(ChatMessage).where(ChatMessage.conversation_id == conversation.id)
        return await keyset_page(
            self.session,
            query,
            ChatMessage.created_at,
            ChatMessage.id,
            limit=limit,
            cursor=cursor,
            descending=False,
        )

    async def messages(self, conversation: Conversation) -> list[ChatMessage]:
        rows = await self.session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation.id)
            .order_by(ChatMessage.created_at, ChatMessage.id)
        )
        return list(rows)

    async def pinned_version(
        self, user: User, conversation: Conversation, *, repin: bool = True
    ) -> GptVersion:
        """The version the conversation answers with: the one it is pinned to, while the GPT is published and
        visible to the user (404 otherwise). A pinned version that moderation rejected since never runs
        again: the GPT's live version answers instead, and (`repin`; a check before a stream leaves it out)
        the conversation is pinned to it and a call its turn left waiting is cancelled."""
        listing = await self.store.visible_listing(conversation.gpt_id, user)
        version = await self._version(conversation.gpt_id, conversation.version)
        if version is not None and version.review_status != "rejected":
            return version
        version = await self._version(conversation.gpt_id, listing.live_version)
        if version is None:
            raise NotFound("No such conversation")
        if repin:
            await cancel_waiting(self.session, conversation.id)
            conversation.version = version.number
            await self.session.flush()
        return version

    async def _version(self, gpt_id: uuid.UUID, number: int | None) -> GptVersion | None:
        return await self.session.scalar(
            sa.select(GptVersion).where(GptVersion.gpt_id == gpt_id, GptVersion.number == number)
        )

    async def _history(
        self, conversation: Conversation, before: ChatMessage | None = None
    ) -> tuple[list[Message], str | None]:
        """The conversation as the model reads it, up to `before` (a paused turn's message, whose question is
        left out): `user`/`assistant` turns as history, and the text of `system`/`developer` items (added
        through /v1/conversations) as client instructions, after the GPT's and never instead of them."""
        rows = await self.messages(conversation)
        if before is not None:
            rows = rows[: next(i for i, m in enumerate(rows) if m.id == before.id)]
            if rows and rows[-1].role == "user":
                rows = rows[:-1]
        history: list[Message] = [
            {"role": m.role, "content": m.content} for m in rows if m.role in ("user", "assistant")
        ]
        extra = "\n\n".join(m.content for m in rows if m.role in ("system", "developer"))
        return history, extra or None

    async def _answer(
        self,
        user: User,
        version: GptVersion,
        history: list[Message],
        question: str,
        instructions: str | None = None,
        grant: str | None = None,
        **turn: Any,
    ) -> AsyncIterator[TurnEvent | Answer]:
        toolset = await open_toolset(self.session, self.settings, version.gpt_id, user.id, version)
        if grant and toolset:  # "always": the function as this version defines it
            await allow(self.session, user.id, version.gpt_id, grant, toolset.grant_target(grant))
        allowed = await allowed_grants(self.session, user.id, version.gpt_id) if toolset else frozenset()
        context = replace(version_context(version), client_instructions=instructions)
        try:
            async for event in grounded_answer(
                self.session, self.settings, self.llm, context, history, question,
                toolset, allowed=allowed, **turn,
            ):  # fmt: skip
                yield event
        finally:
            if toolset is not None:
                await toolset.aclose()

    async def reply(
        self, user: User, conversation: Conversation, content: str, *, can_ask: bool = True
    ) -> AsyncIterator[TurnEvent | tuple[ChatMessage, Answer]]:
        """Stream the answer (text and tool calls), then `(stored assistant message, Answer)`; callers
        `check_rate` first. A call still waiting for approval is cancelled by the new message. Without
        `can_ask` (MCP: its client cannot approve) a call that needs approval ends the answer with a note,
        as on /v1, and nothing is left waiting."""
        version = await self.pinned_version(user, conversation)
        await cancel_waiting(self.session, conversation.id)
        history, instructions = await self._history(conversation)
        first = not any(m["role"] == "assistant" for m in history)  # counted with its first answer
        answer = None
        async for event in self._answer(user, version, history, content, instructions, can_ask=can_ask):
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        if not await hold_for_turn(self.session, conversation.id):
            raise conversation_gone(conversation.id)
        if not conversation.title:
            conversation.title = conversation_title(content)
        conversation.updated_at = sa.func.now()
        self.session.add(ChatMessage(conversation_id=conversation.id, role="user", content=content))
        await self.session.flush()  # the question is stored before its answer
        fields = answer.message_fields()
        if not can_ask:  # the turn ended with a note on the call nobody here can approve: nothing waits
            fields.update(status="completed", pending_call=None, tool_state=None)
        stored = ChatMessage(conversation_id=conversation.id, role="assistant", usage=answer.usage, **fields)
        self.session.add(stored)
        await self.session.flush()
        await usage.count(self.redis, conversation.gpt_id, user.id, conversations=int(first), messages=1)
        await count_citations(self.redis, conversation.gpt_id, answer.citations)
        yield stored, answer

    async def pending(self, conversation: Conversation, call_id: str, *, lock: bool = True) -> ChatMessage:
        """The assistant message waiting for approval of `call_id` (locked, so one decision wins); 404 when
        no such call waits (decided already, cancelled by a newer message, or never asked)."""
        query = sa.select(ChatMessage).where(
            ChatMessage.conversation_id == conversation.id,
            ChatMessage.status == "requires_approval",
            ChatMessage.pending_call["call_id"].astext == call_id,
        )
        message = await self.session.scalar(query.with_for_update() if lock else query)
        if message is None:
            raise NotFound(
                "This call no longer waits for approval in this conversation: it was approved or declined "
                "already (in another tab, perhaps), or a newer message cancelled it",
                call_id=call_id,
            )
        return message

    async def waiting(
        self, user: User, conversation: Conversation, call_id: str, *, lock: bool = True
    ) -> tuple[ChatMessage, GptVersion]:
        """The message waiting for `call_id` (`pending`; `lock=False` checks before a stream) and the
        version its turn goes on with. 409 when moderation rejected the version that asked for the call: it
        never runs (the next message cancels it and is answered by the GPT's live version)."""
        message = await self.pending(conversation, call_id, lock=lock)
        asked_by = conversation.version
        version = await self.pinned_version(user, conversation, repin=False)
        if version.number != asked_by:
            raise Conflict(
                f"The call was not run: version {asked_by} of this GPT, whose reply asked for it, was taken "
                "down by moderation. Send your message again to ask the GPT's current version.",
                call_id=call_id,
            )
        return message, version

    async def decide(
        self, user: User, conversation: Conversation, decision: ApprovalCreate
    ) -> AsyncIterator[TurnEvent | tuple[ChatMessage, Answer]]:
        """Run (approve) or decline the pending call and go on with its turn, streamed like `reply`; the
        same assistant message is completed (or waits again for the turn's next such call)."""
        message, version = await self.waiting(user, conversation, decision.call_id)
        grant = message.pending_call["name"] if decision.approve and decision.always else None
        state = TurnState.from_json(message.tool_state)
        history, instructions = await self._history(conversation, before=message)
        answer = None
        async for event in self._answer(
            user,
            version,
            history,
            state.question,
            instructions,
            state=state,
            decision=decision.approve,
            grant=grant,
        ):
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        if not await hold_for_turn(self.session, conversation.id):
            raise conversation_gone(conversation.id)
        for name, value in answer.message_fields().items():
            setattr(message, name, value)
        message.usage = answer.usage
        conversation.updated_at = sa.func.now()
        await self.session.flush()
        await count_citations(self.redis, conversation.gpt_id, answer.citations)
        yield message, answer


def _sse(
    conversation: Conversation, event: TurnEvent | tuple[ChatMessage, Answer], site: str
) -> tuple[str, dict[str, Any]]:
    if isinstance(event, Delta):
        return "delta", {"text": event.text}
    if isinstance(event, ToolCallStarted | ToolCallEnded):
        return sse_event(event)
    message = ChatMessageRead.model_validate(event[0], from_attributes=True, context={"site": site})
    return "done", ChatReplyRead(conversation_id=conversation.id, message=message).model_dump(mode="json")


async def streamed_reply(
    db: Database,
    settings: Settings,
    redis: Redis,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    content: str | ApprovalCreate,
    site: str = "",
) -> AsyncIterator[tuple[str, object]]:
    """SSE events of one reply (or of a turn going on after an `ApprovalCreate`): `delta` `{text}` pieces,
    `tool_call.started` / `tool_call.ended` of each call, then `done` with the `ChatReplyRead`; `site`
    (`https://host`, for an API client): its citations' links as whole URLs on it.

    The stream outlives the request's transaction, so it runs in a transaction of its own.
    """
    async with db.session_scope() as session:
        user = await session.get(User, user_id)
        service = ChatService(session, settings, redis, get_llm(settings))
        conversation = await service.owned(user, conversation_id)
        if isinstance(content, ApprovalCreate):
            events = service.decide(user, conversation, content)
        else:
            events = service.reply(user, conversation, content)
        async for event in events:
            yield _sse(conversation, event, site)
