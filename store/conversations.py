"""Conversations of the OpenAI Conversations API (`/v1/conversations`), and what `/v1/responses` uses of them.

They are the store chat's conversations (`store.models.Conversation`, its messages `ChatMessage`): one made
in the web app is listed here, and one made here shows in the web app as soon as it has a GPT.

A GPT: a conversation is pinned to one GPT version. OpenAI's `create` names no model, so one made here has
no GPT (`gpt_id` null) until it is bound: by `metadata.gpt_id` at creation (a gptstore extension), or by its
first answer (`bind`, which `/v1/responses` calls with its `model`). Binding pins the GPT's live version and
counts a conversation in its usage, as starting a chat does; the binding never changes afterwards (asking
another GPT in it is a 400 naming `conversation`). Until bound, a conversation lives only under `/v1`.

For `/v1/responses` (`conversation` parameter):
- `ConversationService.owned(user, id)`: the caller's conversation, else 404 (another user's too);
- `ConversationService.bind(user, conversation, gpt_id)`: the pinned `GptVersion` to answer with;
- `ConversationService.transcript(conversation)`: `(history, client_instructions)` for the answer;
- `ConversationService.append(conversation, items)`: store the turn's input and output messages.
Services never commit: the request (or `session_scope()`) owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import Invalid, NotFound
from core.llm import Message
from core.models import User
from core.settings import Settings
from store import usage
from store.chat import ChatService, cancel_waiting, conversation_title, hold_for_turn
from store.conversation_items import NewItem, refuse
from store.models import ChatMessage, Conversation, GptVersion
from store.openai_ids import conversation_key, conversation_public_id, item_key
from store.service import StoreService

# Metadata key that binds a conversation to a GPT when it is created (OpenAI's metadata is free-form).
GPT_METADATA_KEY = "gpt_id"
CLIENT_ROLES = ("system", "developer")  # their text adds to the GPT's instructions, never replaces them


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def conversation_not_found(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param="conversation_id")


def item_not_found(item_id: str) -> NotFound:
    return NotFound(f"Item with id '{item_id}' not found.", param="item_id")


class ConversationService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.store = StoreService(session, settings, redis)

    async def owned(self, user: User, conversation_id: str) -> Conversation:
        """The caller's conversation with this id (bound to a GPT or not); 404 for any other id."""
        found = conversation_key(conversation_id)
        conversation = await self.session.get(Conversation, found) if found else None
        if conversation is None or conversation.user_id != user.id:
            raise conversation_not_found(conversation_id)
        return conversation

    async def create(self, user: User, items: list[NewItem], metadata: dict[str, str]) -> Conversation:
        """A new conversation with its first items; `metadata.gpt_id` binds it to that GPT at once."""
        conversation = Conversation(user_id=user.id, labels=metadata)
        self.session.add(conversation)
        await self.session.flush()
        if GPT_METADATA_KEY in metadata:
            gpt_id = _uuid(metadata[GPT_METADATA_KEY])
            param = f"metadata.{GPT_METADATA_KEY}"
            if gpt_id is None:
                raise refuse(f"'{param}' must be a GPT id from /v1/models.", param)
            try:
                # Counted by its first answer: making conversations asks nothing of the GPT.
                await self.bind(user, conversation, gpt_id, count=False)
            except NotFound:
                raise refuse(f"'{param}': no GPT '{gpt_id}' you may use; see /v1/models.", param) from None
        await self.append(conversation, items)
        return conversation

    async def update(self, user: User, conversation_id: str, metadata: dict[str, str]) -> Conversation:
        """Replace the conversation's metadata. The GPT binding stays as it is: a `metadata.gpt_id` other
        than the bound GPT's id is a 400 naming it (binding happens at creation or by the first answer)."""
        conversation = await self.owned(user, conversation_id)
        if GPT_METADATA_KEY in metadata:
            param = f"metadata.{GPT_METADATA_KEY}"
            wanted = _uuid(metadata[GPT_METADATA_KEY])
            if wanted is None or wanted != conversation.gpt_id:
                raise refuse(
                    f"'{param}' cannot change: a conversation is bound to a GPT when it is created (with "
                    f"'{param}') or by its first answer"
                    + (f"; this one is bound to '{conversation.gpt_id}'." if conversation.gpt_id else "."),
                    param,
                )
        conversation.labels = metadata
        conversation.updated_at = utcnow()
        await self.session.flush()
        return conversation

    async def delete(self, user: User, conversation_id: str) -> uuid.UUID:
        """Delete the conversation and its items (also from the web app's list)."""
        conversation = await self.owned(user, conversation_id)
        await self.session.delete(conversation)
        await self.session.flush()
        return conversation.id

    async def bind(
        self, user: User, conversation: Conversation, gpt_id: uuid.UUID, *, count: bool = True
    ) -> GptVersion:
        """The GPT version to answer with in this conversation: an unbound conversation is pinned to the
        GPT's live version now (and counted as a conversation, unless `count` is false: bound when it is
        made, it counts with its first answer, `responses_plan.plan`); a bound one must be of this GPT (400
        naming `conversation` otherwise) that the user may still use (404 otherwise)."""
        if conversation.gpt_id is None:
            listing = await self.store.visible_listing(gpt_id, user)
            # One statement, so two first answers racing bind it once (the loser sees the winner's GPT).
            bound = await self.session.scalar(
                sa.update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.gpt_id.is_(None))
                .values(gpt_id=gpt_id, version=listing.live_version)
                .returning(Conversation.id)
            )
            if not await hold_for_turn(self.session, conversation.id):  # deleted since it was read
                raise conversation_not_found(conversation_public_id(conversation.id))
            await self.session.refresh(conversation)
            if bound is not None and count:
                await usage.count(self.redis, gpt_id, user.id, conversations=1)
        if conversation.gpt_id != gpt_id:
            raise Invalid(
                f"Conversation '{conversation_public_id(conversation.id)}' belongs to the GPT "
                f"'{conversation.gpt_id}'; ask that GPT in it, or start a new conversation for this one.",
                field="conversation",
                param="conversation",
                code="invalid_value",
            )
        return await ChatService(self.session, self.settings, self.redis, None).pinned_version(
            user, conversation
        )

    async def transcript(self, conversation: Conversation) -> tuple[list[Message], str | None]:
        """The conversation as the answer reads it: `user`/`assistant` turns as history, and the text of
        `system`/`developer` items as client instructions (added to the GPT's, never replacing them)."""
        messages = await self.messages(conversation)
        history: list[Message] = [
            {"role": m.role, "content": m.content} for m in messages if m.role not in CLIENT_ROLES
        ]
        extra = "\n\n".join(m.content for m in messages if m.role in CLIENT_ROLES)
        return history, extra or None

    async def messages(self, conversation: Conversation) -> list[ChatMessage]:
        """All items, oldest first."""
        rows = await self.session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation.id)
            .order_by(ChatMessage.created_at, ChatMessage.id)
        )
        return list(rows)

    async def append(
        self, conversation: Conversation, items: list[NewItem], usage_of_last: dict[str, int] | None = None
    ) -> list[ChatMessage]:
        """Append messages in order (each a microsecond after the one before, so the order holds); the
        first user text titles an untitled conversation, and a user message cancels a call waiting for
        approval (as a chat message does). `usage_of_last`: token usage of the last one."""
        now = utcnow()
        last = await self.session.scalar(
            sa.select(sa.func.max(ChatMessage.created_at)).where(
                ChatMessage.conversation_id == conversation.id
            )
        )
        start = max(now, last + timedelta(microseconds=1)) if last else now
        rows = [
            ChatMessage(
                conversation_id=conversation.id,
                role=item.role,
                content=item.text,
                citations=item.citations,
                created_at=start + timedelta(microseconds=i),
            )
            for i, item in enumerate(items)
        ]
        if rows and usage_of_last is not None:
            rows[-1].usage = usage_of_last
        if any(item.role == "user" for item in items):  # a newer question: a waiting call is never decided
            await cancel_waiting(self.session, conversation.id)
        first_user = next((item.text for item in items if item.role == "user" and item.text.strip()), None)
        if not conversation.title and first_user:
            conversation.title = conversation_title(first_user)
        if rows:
            conversation.updated_at = utcnow()
        self.session.add_all(rows)
        await self.session.flush()
        return rows

    async def item(self, conversation: Conversation, item_id: str) -> ChatMessage:
        """One item of the conversation; 404 for any other id."""
        found = item_key(item_id)
        message = await self.session.get(ChatMessage, found) if found else None
        if message is None or message.conversation_id != conversation.id:
            raise item_not_found(item_id)
        return message

    async def delete_item(self, conversation: Conversation, item_id: str) -> None:
        message = await self.item(conversation, item_id)
        await self.session.delete(message)
        conversation.updated_at = utcnow()
        await self.session.flush()

    async def items_page(
        self, conversation: Conversation, limit: int, order: str, after: str | None
    ) -> tuple[list[ChatMessage], bool]:
        """At most `limit` items after the item `after` (404 naming `after` if it is not one of them), in
        `order` of creation; and whether more follow."""
        query = sa.select(ChatMessage).where(ChatMessage.conversation_id == conversation.id)
        key = sa.tuple_(ChatMessage.created_at, ChatMessage.id)
        if after is not None:
            found = item_key(after)
            anchor = await self.session.get(ChatMessage, found) if found else None
            if anchor is None or anchor.conversation_id != conversation.id:
                raise NotFound(f"Item with id '{after}' not found.", param="after")
            mark = sa.tuple_(sa.literal(anchor.created_at), sa.literal(anchor.id))
            query = query.where(key > mark if order == "asc" else key < mark)
        direction = sa.asc if order == "asc" else sa.desc
        query = query.order_by(direction(ChatMessage.created_at), direction(ChatMessage.id)).limit(limit + 1)
        rows = list(await self.session.scalars(query))
        return rows[:limit], len(rows) > limit
