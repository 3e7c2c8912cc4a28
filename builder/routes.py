"""GPT drafts and the builder chat."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State, UploadFile
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from builder.agent import BuilderAgent, TurnResult, streamed_turn, turn_read
from builder.deps import allowed_gpt
from builder.models import Gpt
from builder.preview import (
    PreviewService,
    check_message_rate,
    preview_read,
    streamed_preview,
)
from builder.schemas import (
    BuilderMessageCreate,
    BuilderMessageRead,
    GptCreate,
    GptRead,
    GptUpdate,
    PreviewApprovalCreate,
    PreviewMessageCreate,
    UndoRead,
)
from builder.service import GptService, PortabilityService, export_filename
from core.errors import Invalid, unknown_form_fields
from core.filenames import content_disposition
from core.forms import read_form
from core.llm import get_llm
from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit
from core.settings import Settings
from core.sse import sse, wants_stream
from retrieval.scheduling import dispatch


class GptController(Controller):
    path = "/api/gpts"
    tags = ["gpts"]
    dependencies = {"allowed": Provide(allowed_gpt)}

    @post("/", status_code=201)
    async def create_gpt(
        self, current_user: User, db_session: AsyncSession, settings: Settings, data: GptCreate | None = None
    ) -> GptRead:
        """Create a draft (paid plans); every field is optional."""
        service = GptService(db_session, settings)
        return await service.read(await service.create(current_user, data))

    @get("/")
    async def list_gpts(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[GptRead]:
        """The caller's drafts, last changed first, one page at a time."""
        service = GptService(db_session, settings)
        rows, next_cursor = await service.list_owned(current_user, limit, cursor)
        return Page(data=await service.read_all(rows), next_cursor=next_cursor)

    @get("/{gpt_id:uuid}")
    async def get_gpt(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> GptRead:
        service = GptService(db_session, settings)
        return await service.read(await service.get_owned(current_user, gpt_id))

    @patch("/{gpt_id:uuid}")
    async def update_gpt(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: GptUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> GptRead:
        """Change fields; every bad field is named in a 422 and nothing is applied."""
        service = GptService(db_session, settings)
        gpt = await service.get_owned(current_user, gpt_id, for_update=True)
        await service.update(gpt, data)
        return await service.read(gpt)

    @delete("/{gpt_id:uuid}", status_code=204)
    async def delete_gpt(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> None:
        service = GptService(db_session, settings)
        # Locked first: a parallel deletion waits, then finds nothing (404), as one after the other.
        await service.delete(await service.get_owned(current_user, gpt_id, for_update=True, need="manage"))


class BuilderChatController(Controller):
    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["builder"]
    dependencies = {"allowed": Provide(allowed_gpt)}

    @post("/builder/messages", status_code=200)
    async def send(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: BuilderMessageCreate,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Any:
        """One builder turn; `Accept: text/event-stream` streams `delta`, `change` and `done` events."""
        gpts = GptService(db_session, settings)
        gpt = await gpts.get_owned(current_user, gpt_id, for_update=True)
        await check_message_rate(state.redis, current_user, settings)
        if wants_stream(request):
            return sse(streamed_turn(state.db, state.settings, gpt.id, data.content))
        outcome = None
        async for event in BuilderAgent(db_session, settings, get_llm(settings)).turn(gpt, data.content):
            if isinstance(event, TurnResult):
                outcome = event
        return await turn_read(gpts, gpt, outcome)

    @get("/builder/messages")
    async def history(
        self,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Page[BuilderMessageRead]:
        """The builder chat, oldest first, one page at a time."""
        gpt = await GptService(db_session, settings).get_owned(current_user, gpt_id)
        rows, next_cursor = await BuilderAgent(db_session, settings, None).history_page(gpt, limit, cursor)
        return Page(
            data=[BuilderMessageRead.model_validate(r, from_attributes=True) for r in rows],
            next_cursor=next_cursor,
        )

    @post("/builder/undo", status_code=200)
    async def undo(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> UndoRead:
        """Revert the changes of the latest builder turn that changed something."""
        gpts = GptService(db_session, settings)
        gpt = await gpts.get_owned(current_user, gpt_id, for_update=True)
        reverted = await BuilderAgent(db_session, settings, None).undo(gpt)
        return UndoRead(reverted=reverted, gpt=await gpts.read(gpt))

    @post("/preview/messages", status_code=200)
    async def preview(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: PreviewMessageCreate,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Any:
        """Chat with the draft as users will: its instructions, its knowledge, cited answers."""
        gpt = await GptService(db_session, settings).get_owned(current_user, gpt_id)
        await PreviewService(db_session, settings, None).check_conversation(
            gpt, data.conversation_id, current_user.id
        )
        await check_message_rate(state.redis, current_user, settings)
        if wants_stream(request):
            return sse(streamed_preview(state.db, state.settings, gpt.id, current_user.id, data))
        result = None
        async for event in PreviewService(db_session, settings, get_llm(settings)).reply(
            gpt, data.content, data.conversation_id, current_user.id
        ):
            if isinstance(event, tuple):
                result = event
        return preview_read(*result)

    @post("/preview/approvals", status_code=200)
    async def preview_approval(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: PreviewApprovalCreate,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Any:
        """Approve or decline the call a preview answer waits for and go on with its turn (streamed for
        `Accept: text/event-stream`); 404 when no such call waits in that preview conversation."""
        gpt = await GptService(db_session, settings).get_owned(current_user, gpt_id)
        service = PreviewService(db_session, settings, get_llm(settings))
        # 404 before the limit counts (a request refused counts nothing) and before a stream starts
        await service.pending(gpt, data.conversation_id, data.call_id, current_user.id, lock=False)
        await check_message_rate(state.redis, current_user, settings)
        if wants_stream(request):
            return sse(streamed_preview(state.db, state.settings, gpt.id, current_user.id, data))
        result = None
        async for event in service.decide(gpt, data, current_user.id):
            if isinstance(event, tuple):
                result = event
        return preview_read(*result)

    @get("/export")
    async def export(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> Response[bytes]:
        """One zip: `gptstore.json` (versioned config) and the knowledge files."""
        gpt = await GptService(db_session, settings).get_owned(current_user, gpt_id)
        archive = await PortabilityService(db_session, settings).export(gpt, current_user)
        return Response(
            archive,
            media_type="application/zip",
            headers={"Content-Disposition": content_disposition(export_filename(gpt))},
        )


class ImportController(Controller):
    path = "/api/gpts/import"
    tags = ["gpts"]

    @post("/", status_code=201, opt={"upload": True})
    async def import_gpt(
        self, request: Request, current_user: User, db_session: AsyncSession, settings: Settings, state: State
    ) -> Response[GptRead]:
        """A new draft from an export archive (multipart field `file`); its files are queued for ingestion."""
        form = await read_form(request)
        upload = form.get("file")
        errors = unknown_form_fields(form, ("file",))
        if not isinstance(upload, UploadFile):
            errors.append(
                {"field": "file", "message": "Send the archive as multipart/form-data in this field"}
            )
        if errors:
            raise Invalid("Invalid value for: " + ", ".join(e["field"] for e in errors), errors=errors)
        data = await upload.read()
        service = PortabilityService(db_session, settings)
        gpt, file_ids = await service.import_archive(current_user, data)
        body = await service.gpts.read(gpt)

        # After the response, when the request's transaction is committed: the owner's fair share.
        queue_files = BackgroundTask(dispatch, state.db, settings, state.queue, current_user.id)
        return Response(body, status_code=201, background=queue_files if file_ids else None)


route_handlers = [GptController, ImportController, BuilderChatController]
