"""The editor's two chats: Create (the builder chat, with undo) and Preview (the draft answering).

Like the chat pages: without JavaScript a message is a form post answered whole and redirected back to
the editor; with `static/builder.js` the same form is posted with `Accept: text/event-stream` and streams
the API's events (`POST /api/gpts/{id}/builder/messages`: `delta`, `change`, `done`;
`POST /api/gpts/{id}/preview/messages`: `delta`, `done`), from the same service functions.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.agent import BuilderAgent, streamed_turn
from builder.preview import PreviewService, check_message_rate, streamed_preview
from builder.schemas import BuilderMessageCreate, PreviewApprovalCreate, PreviewMessageCreate
from builder.service import GptService
from core.errors import AppError, ProviderError, RateLimited, ServiceUnavailable
from core.llm import get_llm
from core.models import User
from core.settings import Settings
from core.sse import sse, wants_stream
from web.builder_routes import TABS, editor
from web.chat_routes import approval_fields
from web.forms import form_values, parse
from web.session import login_required

# What keeps a message from being answered that sending it again later may cure: the message limit, the
# language model failing or out of reach. Without the script, the editor says it at the message box.
UNANSWERED = (RateLimited, ProviderError, ServiceUnavailable)


@post("/builder/{gpt_id:uuid}/messages", status_code=200)
async def builder_message(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """One builder turn: streamed for `Accept: text/event-stream`, else run whole and redirected back."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}"):
        return redirect
    gpts = GptService(db_session, settings)
    row = await gpts.get_owned(page_user, gpt_id, for_update=True)
    typed = (await form_values(request, "content"))["content"]
    data, errors = parse(BuilderMessageCreate, {"content": typed})
    if data is None:
        errors = {"builder_content": errors.get("content", "Write a message")}
        return await editor(
            request,
            page_user,
            db_session,
            settings,
            redis,
            row,
            errors=errors,
            status_code=422,
            builder_draft=typed,
        )
    if wants_stream(request):
        await check_message_rate(redis, page_user, settings)  # before a stream starts: a real 429
        return sse(streamed_turn(state.db, state.settings, row.id, data.content))
    try:
        await check_message_rate(redis, page_user, settings)
        async with db_session.begin_nested():  # a failed turn keeps nothing of itself
            async for _ in BuilderAgent(db_session, settings, get_llm(settings)).turn(row, data.content):
                pass
    except UNANSWERED as exc:  # said at the box, the message kept to send again
        page = await editor(
            request,
            page_user,
            db_session,
            settings,
            redis,
            row,
            errors={"builder_content": exc.detail},
            status_code=exc.status,
            builder_draft=typed,
        )
        page.headers.update(exc.headers)
        return page
    return Redirect(f"/builder/{gpt_id}?tab=create#builder-form", status_code=303)


@post("/builder/{gpt_id:uuid}/undo")
async def undo(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Revert the latest builder turn that changed something (`POST /api/gpts/{id}/builder/undo`)."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}"):
        return redirect
    row = await GptService(db_session, settings).get_owned(page_user, gpt_id, for_update=True)
    try:
        async with db_session.begin_nested():
            await BuilderAgent(db_session, settings, None).undo(row)
    except AppError as exc:
        errors = {"undo": exc.detail}
        return await editor(
            request, page_user, db_session, settings, redis, row, errors=errors, status_code=exc.status
        )
    return Redirect(f"/builder/{gpt_id}?tab=create&done=undone", status_code=303)


@post("/builder/{gpt_id:uuid}/preview", status_code=200)
async def preview_message(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Ask the draft (`POST /api/gpts/{id}/preview/messages`): streamed, or answered whole and redirected
    back with the conversation in `?c=`."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}"):
        return redirect
    row = await GptService(db_session, settings).get_owned(page_user, gpt_id)
    values = await form_values(request, "content", "conversation_id", "tab")
    tab = values.pop("tab")
    tab = tab if tab in TABS else "create"
    values = {k: v for k, v in values.items() if v}
    data, errors = parse(PreviewMessageCreate, values)
    if data is None:
        errors = {"preview_content": errors.get("content") or next(iter(errors.values()))}
        return await editor(
            request,
            page_user,
            db_session,
            settings,
            redis,
            row,
            tab=tab,
            errors=errors,
            status_code=422,
            preview_draft=values.get("content", ""),
        )
    preview = PreviewService(db_session, settings, get_llm(settings))
    await preview.check_conversation(row, data.conversation_id, page_user.id)
    if wants_stream(request):
        await check_message_rate(redis, page_user, settings)
        return sse(streamed_preview(state.db, state.settings, row.id, page_user.id, data))
    conversation_id = None
    try:
        await check_message_rate(redis, page_user, settings)
        async with db_session.begin_nested():  # a failed answer keeps nothing of itself
            async for event in preview.reply(row, data.content, data.conversation_id, page_user.id):
                if isinstance(event, tuple):
                    conversation_id = event[0]
    except UNANSWERED as exc:  # said at the box, the message and the preview chat kept
        page = await editor(
            request,
            page_user,
            db_session,
            settings,
            redis,
            row,
            tab=tab,
            errors={"preview_content": exc.detail},
            status_code=exc.status,
            preview_draft=data.content,
            conversation_id=data.conversation_id,
        )
        page.headers.update(exc.headers)
        return page
    return Redirect(f"/builder/{gpt_id}?tab={tab}&c={conversation_id}#preview", status_code=303)


@post("/builder/{gpt_id:uuid}/preview/approvals", status_code=200)
async def preview_approval(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Approve or decline the call a preview answer waits for (`POST /api/gpts/{id}/preview/approvals`),
    answered whole and redirected back to the preview (a plain form: works without JavaScript)."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}"):
        return redirect
    row = await GptService(db_session, settings).get_owned(page_user, gpt_id)
    values = await form_values(request, "conversation_id", "call_id", "approve", "always", "tab")
    tab = values["tab"] if values["tab"] in TABS else "create"
    body = {"conversation_id": values["conversation_id"], **approval_fields(values)}
    data, errors = parse(PreviewApprovalCreate, body)
    if data is None:
        errors = {"preview_content": next(iter(errors.values()))}
        return await editor(
            request, page_user, db_session, settings, redis, row, tab=tab, errors=errors, status_code=422
        )
    preview = PreviewService(db_session, settings, get_llm(settings))
    await preview.pending(row, data.conversation_id, data.call_id, page_user.id, lock=False)  # 404 first
    await check_message_rate(redis, page_user, settings)
    async for _ in preview.decide(row, data, page_user.id):
        pass
    return Redirect(f"/builder/{gpt_id}?tab={tab}&c={data.conversation_id}#preview", status_code=303)


builder_chat_handlers = [builder_message, undo, preview_message, preview_approval]
