"""Chat pages: the user's conversations, one conversation, and sending a message (streamed with JS).

Without JavaScript a message is a plain form post answered when the reply is complete (303 back to the
chat). With `static/app.js` the same form is posted with `Accept: text/event-stream` and the answer is
streamed as `delta` events and a final `done` (or `error`), like `POST /api/conversations/{id}/messages`.
A reply whose tool call waits for approval shows the call with Approve and Decline buttons, a plain form post
to `/chats/{id}/approvals` that goes on with the turn; a call no longer waiting (decided in another tab) shows
the chat again with the reason.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ProviderError, RateLimited, ServiceUnavailable
from core.llm import get_llm
from core.models import User
from core.params import Cursor
from core.settings import Settings
from core.sse import sse, wants_stream
from retrieval.schemas import ApprovalCreate
from store.chat import ChatService, streamed_reply
from store.conversations import ConversationService
from store.schemas import ChatMessageRead, ConversationRead, GptPage, MessageCreate
from store.service import StoreService
from web.forms import form_values, parse
from web.session import login_required
from web.templates import render

PAGE_SIZE = 50


@post("/g/{gpt_id:uuid}/chat")
async def start_chat(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Redirect:
    """Start a conversation with the GPT's live version (`POST /api/store/gpts/{id}/conversations`); a
    conversation starter chosen on the GPT's page (`starter`: its index) waits in the chat's message box."""
    if page_user is None:
        return Redirect(f"/login?next=/g/{gpt_id}", status_code=303)
    conversation = await ChatService(db_session, settings, redis, None).start(page_user, gpt_id)
    starter = (await form_values(request, "starter"))["starter"]
    chosen = f"?starter={starter}" if starter.isascii() and starter.isdigit() and len(starter) < 3 else ""
    return Redirect(f"/chats/{conversation.id}{chosen}", status_code=303)


@get("/chats", name="chats")
async def conversations(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    cursor: Cursor = None,
) -> Any:
    """The user's conversations, a page at a time with "More" (`GET /api/conversations`)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = ChatService(db_session, settings, redis, None)
    rows, next_cursor = await service.conversations(page_user, PAGE_SIZE, cursor)
    items = await service.listed(page_user, rows)
    deleted = request.query_params.get("deleted") == "1"
    return render(
        request, "chats.html", page_user, conversations=items, next_cursor=next_cursor, deleted=deleted
    )


@get("/chats/{conversation_id:uuid}", name="chat")
async def conversation(
    request: Request,
    conversation_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    starter: Annotated[int | None, Parameter(ge=0, le=99)] = None,
) -> Any:
    """One conversation (`GET /api/conversations/{id}/messages`) with the GPT's starters when empty; the
    starter of index `starter` (chosen on the GPT's page) waits in the message box."""
    if redirect := login_required(page_user, request):
        return redirect
    service = ChatService(db_session, settings, redis, None)
    row = await service.owned(page_user, conversation_id)
    store = StoreService(db_session, settings, redis)
    return await _chat_page(request, page_user, service, row, store, starter=starter)


async def _chat_page(
    request: Request,
    page_user: User,
    service: ChatService,
    row: Any,
    store: StoreService,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    starter: int | None = None,
    typed: str = "",
) -> Any:
    messages = [ChatMessageRead.model_validate(m, from_attributes=True) for m in await service.messages(row)]
    try:
        gpt = GptPage.model_validate(await store.cached_page(row.gpt_id, page_user))
    except NotFound:  # made private, unpublished or taken down, or the user left its organisation
        gpt = None  # the chat is read as the API reads it (`GET /api/conversations/{id}/messages`)
    starters = gpt.conversation_starters if gpt and not messages else []
    return render(
        request,
        "chat.html",
        page_user,
        conversation=ConversationRead.model_validate(row, from_attributes=True),
        messages=messages,
        gpt=gpt,
        gpt_name=gpt.name if gpt else "The GPT",
        creates=await store.creates(page_user, row.gpt_id),
        errors=errors or {},
        draft=typed or (starters[starter] if starter is not None and starter < len(starters) else ""),
        status_code=status_code,
    )


async def _answer(
    request: Request, state: State, user: User, service: ChatService, row: Any, turn: str | ApprovalCreate
) -> Any:
    """The reply to a message (`turn` its text) or the turn going on after an approval: streamed for
    `Accept: text/event-stream`, else run whole and redirected back to the chat's last message."""
    # A 404 comes before the limit counts (a refused request counts nothing) and before a stream starts.
    if isinstance(turn, str):
        await service.pinned_version(user, row, repin=False)
    else:
        await service.waiting(user, row, turn.call_id, lock=False)
    await service.check_rate(user)  # before a stream starts, so a 429 is a real 429
    if wants_stream(request):
        return sse(streamed_reply(state.db, state.settings, state.redis, user.id, row.id, turn))
    replies = service.reply(user, row, turn) if isinstance(turn, str) else service.decide(user, row, turn)
    async for _ in replies:
        pass
    return Redirect(f"/chats/{row.id}#last", status_code=303)


@post("/chats/{conversation_id:uuid}/messages", status_code=200)
async def send_message(
    request: Request,
    conversation_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Ask the GPT: streamed for `Accept: text/event-stream`, else answered whole and redirected back."""
    if redirect := login_required(page_user, request, f"/chats/{conversation_id}"):
        return redirect
    typed = (await form_values(request, "content"))["content"]
    data, errors = parse(MessageCreate, {"content": typed})
    service = ChatService(db_session, settings, redis, get_llm(settings))
    row = await service.owned(page_user, conversation_id)
    store = StoreService(db_session, settings, redis)
    if data is None:
        return await _chat_page(
            request, page_user, service, row, store, errors=errors, status_code=422, typed=typed
        )
    if wants_stream(request):  # the script keeps the text and shows the API's problem itself
        return await _answer(request, state, page_user, service, row, data.content)
    try:
        async with db_session.begin_nested():  # a failed turn keeps nothing of itself
            return await _answer(request, state, page_user, service, row, data.content)
    except (RateLimited, ProviderError, ServiceUnavailable) as exc:
        # Said at the message box with the message kept, so the user can send it again.
        errors = {"content": exc.detail}
        page = await _chat_page(
            request, page_user, service, row, store, errors=errors, status_code=exc.status, typed=typed
        )
        page.headers.update(exc.headers)  # Retry-After of a 429
        return page


@post("/chats/{conversation_id:uuid}/delete")
async def delete_chat(
    request: Request,
    conversation_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Delete the chat and its messages for good (`DELETE /v1/conversations/{id}`) once its confirmation
    box (`confirm=yes`) is ticked; back to the chat list."""
    if redirect := login_required(page_user, request, f"/chats/{conversation_id}"):
        return redirect
    confirmed = (await form_values(request, "confirm"))["confirm"] == "yes"
    conversations = ConversationService(db_session, settings, redis)
    await conversations.owned(page_user, str(conversation_id))  # 404 for anyone else's
    if not confirmed:
        service = ChatService(db_session, settings, redis, None)
        row = await service.owned(page_user, conversation_id)
        store = StoreService(db_session, settings, redis)
        errors = {"confirm": "Tick the box to confirm that the chat is deleted for good"}
        return await _chat_page(request, page_user, service, row, store, errors=errors, status_code=422)
    await conversations.delete(page_user, str(conversation_id))
    return Redirect("/chats?deleted=1", status_code=303)


def approval_fields(values: dict[str, str]) -> dict[str, Any]:
    """An approval form's `call_id` and its `approve`/`always` buttons (`"true"`) as the API body's
    booleans (`ApprovalCreate`; the preview's adds `conversation_id`)."""
    return {
        "call_id": values["call_id"],
        "approve": values["approve"] == "true",
        "always": values["always"] == "true",
    }


@post("/chats/{conversation_id:uuid}/approvals", status_code=200)
async def decide_call(
    request: Request,
    conversation_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Approve or decline the call a reply waits for (`POST /api/conversations/{id}/approvals`): streamed
    for `Accept: text/event-stream`, else answered whole and redirected back to the chat."""
    if redirect := login_required(page_user, request, f"/chats/{conversation_id}"):
        return redirect
    values = await form_values(request, "call_id", "approve", "always")
    service = ChatService(db_session, settings, redis, get_llm(settings))
    row = await service.owned(page_user, conversation_id)
    data, errors = parse(ApprovalCreate, approval_fields(values))
    if data is None:
        store = StoreService(db_session, settings, redis)
        return await _chat_page(request, page_user, service, row, store, errors=errors, status_code=422)
    try:
        async with db_session.begin_nested():  # a refused decision keeps nothing of itself
            return await _answer(request, state, page_user, service, row, data)
    except (NotFound, Conflict) as exc:
        # Decided already (in another tab), cancelled, or its version taken down: the chat shows what came
        # of the call, with the reason this decision was not taken.
        store = StoreService(db_session, settings, redis)
        return await _chat_page(
            request, page_user, service, row, store, errors={"call_id": exc.detail}, status_code=exc.status
        )


chat_handlers = [start_chat, conversations, conversation, send_message, delete_chat, decide_call]
