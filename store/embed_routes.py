"""Embedded chat API: the creator's embed settings and snippet, and an anonymous visitor's messages.

The visitor's session token comes from the chat window (`GET /embed/{gpt_id}`, web/embed_routes.py) and is
sent as `Authorization: Bearer <token>`; it is not an account credential (docs/embed.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.deps import allowed_gpt
from builder.models import Gpt
from core.models import User
from core.settings import Settings
from core.sse import sse, wants_stream
from retrieval.answer import Answer
from retrieval.citations import site_of
from store.embed import EmbedRead, EmbedService, EmbedSettings, reply_read, streamed_embed_reply
from store.schemas import MessageCreate


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class EmbedSettingsController(Controller):
    path = "/api/gpts/{gpt_id:uuid}/embed"
    tags = ["embed"]
    dependencies = {"allowed": Provide(allowed_gpt)}

    @get("/")
    async def read(
        self, gpt_id: uuid.UUID, request: Request, current_user: User, db_session: AsyncSession,
        settings: Settings, redis: Redis,
    ) -> EmbedRead:  # fmt: skip
        """The owner's embed settings and the `<script>` snippet (when published as public or link)."""
        service = EmbedService(db_session, settings, redis)
        return await service.read(current_user, gpt_id, str(request.base_url))

    @put("/")
    async def configure(
        self, allowed: Gpt, gpt_id: uuid.UUID, data: EmbedSettings, request: Request, current_user: User,
        db_session: AsyncSession, settings: Settings, redis: Redis,
    ) -> EmbedRead:  # fmt: skip
        """Set the origins allowed to show the chat (empty: any website); 422 names a bad origin."""
        service = EmbedService(db_session, settings, redis)
        return await service.configure(current_user, gpt_id, data, str(request.base_url))


class EmbedChatController(Controller):
    path = "/api/embed/{gpt_id:uuid}"
    tags = ["embed"]

    @post("/messages", status_code=200)
    async def send(
        self, gpt_id: uuid.UUID, data: MessageCreate, request: Request, db_session: AsyncSession,
        settings: Settings, redis: Redis, state: State,
    ) -> Any:  # fmt: skip
        """An anonymous visitor asks; `Accept: text/event-stream` streams `delta` events and `done`.

        401 without a valid session token, 403 with another GPT's, 404 once the GPT is no longer public
        or link, 429 past the per-visitor or per-GPT limit.
        """
        service = EmbedService(db_session, settings, redis)
        claims = service.claims(bearer(request), gpt_id)
        await service.version(claims)  # 404 before a stream starts
        await service.check_rate(claims)  # before a stream starts, so a 429 is a real 429
        if wants_stream(request):
            site = site_of(request.base_url)
            return sse(
                streamed_embed_reply(state.db, state.settings, state.redis, claims, data.content, site)
            )
        answer = None
        async for event in service.reply(claims, data.content):
            if isinstance(event, Answer):
                answer = event
        return reply_read(answer, site_of(request.base_url))


route_handlers = [EmbedSettingsController, EmbedChatController]
