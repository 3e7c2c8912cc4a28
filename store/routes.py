"""Publishing, browsing, GPT pages and chat (the admin side of review: store/admin_routes.py)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Controller, Request, get, head, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response, Stream
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.deps import allowed_gpt
from builder.models import Gpt
from builder.schemas import GptRead
from builder.service import GptService
from core.filenames import content_disposition
from core.llm import get_llm
from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit, VersionNumber
from core.settings import Settings
from core.sse import sse, wants_stream
from retrieval.citations import site_of
from retrieval.schemas import ApprovalCreate
from retrieval.service import KnowledgeService
from store.admin_routes import AdminStoreController
from store.chat import ChatService, streamed_reply
from store.dataset_downloads import gpt_file_terms, head_content_type
from store.models import ChatMessage
from store.schemas import (
    AppealCreate,
    AppealRead,
    CategoryRead,
    ChatMessageRead,
    ChatReplyRead,
    ConversationCreated,
    ConversationRead,
    GptPage,
    MessageCreate,
    PublishRequest,
    VersionRead,
)
from store.search import StoreSearch
from store.service import StoreService


class PublishingController(Controller):
    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["publishing"]
    dependencies = {"allowed": Provide(allowed_gpt)}

    @post(
        "/publish",
        status_code=201,
        responses={
            200: ResponseSpec(VersionRead, description="Nothing to publish: the newest version, unchanged")
        },
    )
    async def publish(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: PublishRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> Response[VersionRead]:
        """Snapshot the draft as an immutable version (201); public versions are reviewed automatically.
        When the newest version already holds the same draft, files, visibility and notes and stands (live,
        or refused for the same reasons), it is returned with 200 and no version is made."""
        service = StoreService(db_session, settings, redis)
        version, created = await service.publish(
            current_user, gpt_id, data.visibility, data.category, data.release_notes
        )
        # 200: the draft is what its newest version, live (or refused alike), already holds; none was made
        return Response(VersionRead.of(version), status_code=201 if created else 200)

    @get("/versions")
    async def versions(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[VersionRead]:
        """The GPT's versions, newest first, one page at a time."""
        rows, next_cursor = await StoreService(db_session, settings).versions(
            current_user, gpt_id, limit, cursor
        )
        return Page(data=[VersionRead.of(v) for v in rows], next_cursor=next_cursor)

    @post("/versions/{number:int}/restore", status_code=200)
    async def restore(
        self,
        gpt_id: uuid.UUID,
        number: VersionNumber,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> GptRead:
        """Copy a version's config back into the draft."""
        gpt = await StoreService(db_session, settings).restore(current_user, gpt_id, number)
        return await GptService(db_session, settings).read(gpt)

    @post("/unpublish", status_code=204)
    async def unpublish(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> None:
        await StoreService(db_session, settings, redis).unpublish(current_user, gpt_id)

    @post("/appeal", status_code=201)
    async def appeal(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: AppealCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> AppealRead:
        """Appeal a rejection or an unlisting; it goes to the admin queue."""
        appeal = await StoreService(db_session, settings).appeal(current_user, gpt_id, data.message)
        return AppealRead.model_validate(appeal, from_attributes=True)

    @get("/appeals")
    async def gpt_appeals(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[AppealRead]:
        """The GPT's appeals, newest first, with their outcome and the moderators' note to the creator."""
        rows, next_cursor = await StoreService(db_session, settings).gpt_appeals(
            current_user, gpt_id, limit, cursor
        )
        return Page(
            data=[AppealRead.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor
        )


async def _file_headers(request: Request, session: AsyncSession, gpt_id: uuid.UUID, file) -> dict[str, str]:
    """An open file's download headers: its name, size and terms (`Link: rel="license"`, ...)."""
    site = str(request.base_url).rstrip("/")
    return {
        "Content-Disposition": content_disposition(file.filename),
        "Content-Length": str(file.bytes),
        **await gpt_file_terms(session, gpt_id, file, site),
    }


class StoreController(Controller):
    path = "/api/store"
    tags = ["store"]

    @get("/gpts")
    async def browse(
        self,
        read_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        q: str | None = Parameter(default=None, max_length=200),
        category: str | None = None,
        sort: Literal["trending", "top", "new", "featured"] = "trending",
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Listed GPTs by sort and category, or searched with `q` (full-text and semantic, fused)."""
        return await StoreSearch(read_session, settings, redis).browse(
            q=q, category=category, sort=sort, limit=limit, cursor=cursor
        )

    @get("/categories")
    async def categories(
        self, read_session: AsyncSession, settings: Settings, redis: Redis
    ) -> list[CategoryRead]:
        return await StoreSearch(read_session, settings, redis).categories()

    @get("/gpts/{gpt_id:uuid}")
    async def page(
        self,
        gpt_id: uuid.UUID,
        request: Request,
        optional_user: User | None,
        read_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> GptPage:
        """The GPT's page; instructions and private files are shown to no one but the owner. `mcp` gives
        its MCP server URL and the configuration of common MCP clients."""
        service = StoreService(read_session, settings, redis)
        return await service.served_page(gpt_id, optional_user, str(request.base_url))

    @get("/gpts/{gpt_id:uuid}/files/{file_id:uuid}/download")
    async def download(
        self,
        request: Request,
        gpt_id: uuid.UUID,
        file_id: uuid.UUID,
        optional_user: User | None,
        read_session: AsyncSession,
        settings: Settings,
    ) -> Stream:
        """An open-access knowledge file of the live version, streamed from storage (a bucket's object is
        proxied in chunks, never held whole, and the bucket need not be reachable by clients), with its
        terms as a dataset's downloads carry them (`Link: rel="license"`, `Dataset-License`)."""
        file = await StoreService(read_session, settings).open_file(gpt_id, file_id, optional_user)
        stored = await KnowledgeService(read_session, settings).open_upload(file.id)
        headers = await _file_headers(request, read_session, gpt_id, file)
        headers["Content-Length"] = str(stored.size)
        return Stream(stored.chunks, media_type=file.media_type, headers=headers)

    @head("/gpts/{gpt_id:uuid}/files/{file_id:uuid}/download")
    async def download_headers(
        self,
        request: Request,
        gpt_id: uuid.UUID,
        file_id: uuid.UUID,
        optional_user: User | None,
        read_session: AsyncSession,
        settings: Settings,
    ) -> Response[None]:
        """The download's headers (size, name, terms) without the file, as `GET` sends them (RFC 9110)."""
        file = await StoreService(read_session, settings).open_file(gpt_id, file_id, optional_user)
        return Response(
            b"",
            headers={
                **await _file_headers(request, read_session, gpt_id, file),
                "Content-Type": head_content_type(file.media_type),
            },
        )

    @post("/gpts/{gpt_id:uuid}/conversations", status_code=201)
    async def start(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> ConversationCreated:
        conversation = await ChatService(db_session, settings, redis, None).start(current_user, gpt_id)
        return ConversationCreated(id=conversation.id)


def _message_read(message: ChatMessage, request: Request) -> ChatMessageRead:
    """The message for an API client: its citations' links whole URLs on this site."""
    site = site_of(request.base_url)
    return ChatMessageRead.model_validate(message, from_attributes=True, context={"site": site})


class ConversationController(Controller):
    path = "/api/conversations"
    tags = ["chat"]

    @get("/")
    async def list_conversations(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[ConversationRead]:
        """The caller's conversations, latest activity first, one page at a time."""
        service = ChatService(db_session, settings, redis, None)
        rows, next_cursor = await service.conversations(current_user, limit, cursor)
        return Page(data=await service.listed(current_user, rows), next_cursor=next_cursor)

    @get("/{conversation_id:uuid}/messages")
    async def list_messages(
        self,
        request: Request,
        conversation_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Page[ChatMessageRead]:
        """The conversation's messages, oldest first, one page at a time."""
        service = ChatService(db_session, settings, redis, None)
        conversation = await service.owned(current_user, conversation_id)
        rows, next_cursor = await service.message_page(conversation, limit, cursor)
        return Page(data=[_message_read(m, request) for m in rows], next_cursor=next_cursor)

    @post("/{conversation_id:uuid}/messages", status_code=200)
    async def send(
        self,
        conversation_id: uuid.UUID,
        data: MessageCreate,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        state: State,
    ) -> Any:
        """Ask the GPT; `Accept: text/event-stream` streams `delta` events and a final `done`."""
        service = ChatService(db_session, settings, redis, get_llm(settings))
        conversation = await service.owned(current_user, conversation_id)
        # A 404 before the limit counts (a refused request counts nothing) and before a stream starts.
        await service.pinned_version(current_user, conversation, repin=False)
        await service.check_rate(current_user)  # before a stream starts, so a 429 is a real 429
        if wants_stream(request):
            return sse(
                streamed_reply(
                    state.db,
                    state.settings,
                    state.redis,
                    current_user.id,
                    conversation.id,
                    data.content,
                    site_of(request.base_url),
                )  # fmt: skip
            )
        result = None
        async for event in service.reply(current_user, conversation, data.content):
            if isinstance(event, tuple):
                result = event
        return ChatReplyRead(conversation_id=conversation.id, message=_message_read(result[0], request))

    @post("/{conversation_id:uuid}/approvals", status_code=200)
    async def approve(
        self,
        conversation_id: uuid.UUID,
        data: ApprovalCreate,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        state: State,
    ) -> Any:
        """Approve or decline the call a reply waits for (`status: requires_approval`) and go on with the
        turn; `always` allows this GPT's function for good. Streamed like a message for
        `Accept: text/event-stream`. 404 when no such call waits in the caller's conversation."""
        service = ChatService(db_session, settings, redis, get_llm(settings))
        conversation = await service.owned(current_user, conversation_id)
        await service.waiting(current_user, conversation, data.call_id, lock=False)  # 404/409 first
        await service.check_rate(current_user)
        if wants_stream(request):
            return sse(
                streamed_reply(
                    state.db,
                    state.settings,
                    state.redis,
                    current_user.id,
                    conversation.id,
                    data,
                    site_of(request.base_url),
                )  # fmt: skip
            )
        result = None
        async for event in service.decide(current_user, conversation, data):
            if isinstance(event, tuple):
                result = event
        return ChatReplyRead(conversation_id=conversation.id, message=_message_read(result[0], request))


route_handlers = [PublishingController, StoreController, ConversationController, AdminStoreController]
