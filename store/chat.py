"""Chatting with published GPTs: conversations pinned to a version, answered by the grounded-answer code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.db import Database
from core.errors import NotFound
from core.llm import ChatModel, Delta, Message, get_llm
from core.models import User
from core.pagination import keyset_page
from core.settings import Settings
from retrieval.answer import Answer, AnswerContext, grounded_answer
from store import usage
from store.models import ChatMessage, Conversation, GptVersion
from store.schemas import ChatMessageRead, ChatReplyRead
from store.service import StoreService


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
        instructions_public=config.get("instructions_visibility") == "public",
        verbatim_max_words=config.get("verbatim_max_words"),
    )


class ChatService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis, llm: ChatModel | None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.llm = llm
        self.store = StoreService(session, settings, redis)

    async def start(self, user: User, gpt_id: uuid.UUID) -> Conversation:
        """A new conversation with the GPT's live version (it stays pinned to that version)."""
        listing = await self.store.visible_listing(gpt_id, user)
        conversation = Conversation(user_id=user.id, gpt_id=gpt_id, version=listing.live_version)
        self.session.add(conversation)
        await self.session.flush()
        await usage.count(self.redis, gpt_id, user.id, conversations=1)
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

    async def pinned_version(self, user: User, conversation: Conversation) -> GptVersion:
        await self.store.visible_listing(conversation.gpt_id, user)  # still published and visible
        version = await self.session.scalar(
            sa.select(GptVersion).where(
                GptVersion.gpt_id == conversation.gpt_id, GptVersion.number == conversation.version
            )
        )
        if version is None:
            raise NotFound("No such conversation")
        return version

    async def reply(
        self, user: User, conversation: Conversation, content: str
    ) -> AsyncIterator[Delta | tuple[ChatMessage, Answer]]:
        """Stream the answer, then `(stored assistant message, Answer)`; callers `check_rate` first."""
        version = await self.pinned_version(user, conversation)
        messages = await self.messages(conversation)
        # `system`/`developer` items (added through /v1/conversations) add to the GPT's instructions.
        history: list[Message] = [
            {"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")
        ]
        extra = "\n\n".join(m.content for m in messages if m.role in ("system", "developer"))
        context = replace(version_context(version), client_instructions=extra or None)
        answer = None
        async for event in grounded_answer(self.session, self.settings, self.llm, context, history, content):
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        if not conversation.title:
            conversation.title = content.strip().splitlines()[0][:120]
        conversation.updated_at = sa.func.now()
        self.session.add(ChatMessage(conversation_id=conversation.id, role="user", content=content))
        stored = ChatMessage(
            conversation_id=conversation.id,
            role="assistant",
            content=answer.content,
            citations=[c.as_json() for c in answer.citations],
            usage=answer.usage,
        )
        self.session.add(stored)
        await self.session.flush()
        await usage.count(self.redis, conversation.gpt_id, user.id, messages=1)
        yield stored, answer


async def streamed_reply(
    db: Database,
    settings: Settings,
    redis: Redis,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    content: str,
) -> AsyncIterator[tuple[str, object]]:
    """SSE events of one reply: `delta` `{text}` pieces, then `done` with the `ChatReplyRead`.

    The stream outlives the request's transaction, so it runs in a transaction of its own.
    """
    async with db.session_scope() as session:
        user = await session.get(User, user_id)
        service = ChatService(session, settings, redis, get_llm(settings))
        conversation = await service.owned(user, conversation_id)
        async for event in service.reply(user, conversation, content):
            if isinstance(event, Delta):
                yield "delta", {"text": event.text}
            else:
                message = ChatMessageRead.model_validate(event[0], from_attributes=True)
                reply = ChatReplyRead(conversation_id=conversation.id, message=message)
                yield "done", reply.model_dump(mode="json")
