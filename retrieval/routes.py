"""Knowledge files of a GPT and the retrieval test (search) endpoint."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from core.guard import read_form
from core.models import User
from core.settings import Settings
from retrieval.jobs import enqueue_ingestion
from retrieval.schemas import (
    FileRead,
    SearchRequest,
    SearchResponse,
    SearchResult,
    upload_chunks,
    upload_form,
)
from retrieval.service import KnowledgeService, file_progress_events


class FileController(Controller):
    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["knowledge"]

    @post("/files", status_code=202, opt={"upload": True})
    async def upload(
        self,
        gpt_id: uuid.UUID,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Response[FileRead]:
        """Upload a knowledge file (multipart field `file`; optional `access` = private|open, `license`)."""
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        uploads, access, license = upload_form(await read_form(request))
        upload = uploads[0]
        row = await service.add_file(
            base, upload.filename, upload_chunks(upload), access=access, license=license
        )
        return Response(
            FileRead.of(row),
            status_code=202,
            background=BackgroundTask(enqueue_ingestion, state.queue, row.id),
        )

    @get("/files")
    async def list_files(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[FileRead]]:
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        return {"data": [FileRead.of(f) for f in await service.list_files(base)]}

    @get("/files/{file_id:uuid}")
    async def get_file(
        self,
        gpt_id: uuid.UUID,
        file_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> FileRead:
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        return FileRead.of(await service.get_file(base, file_id))

    @delete("/files/{file_id:uuid}", status_code=204)
    async def delete_file(
        self,
        gpt_id: uuid.UUID,
        file_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> None:
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        await service.delete_file(base, file_id)

    @get("/files/{file_id:uuid}/events")
    async def file_events(
        self,
        gpt_id: uuid.UUID,
        file_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        state: State,
    ) -> ServerSentEvent:
        """Status and progress as Server-Sent Events until the file reaches a final state."""
        service = KnowledgeService(db_session, state.settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        await service.get_file(base, file_id)
        return ServerSentEvent(file_progress_events(state.db, base.id, file_id))

    @post("/search", status_code=200)
    async def search(
        self,
        gpt_id: uuid.UUID,
        data: SearchRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> SearchResponse:
        """Hybrid search over the GPT's knowledge: the creator's retrieval test (private passages only for
        the GPT's owner)."""
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        hits = await service.search(
            base.id,
            data.query,
            k=data.k,
            only=data.file_ids,
            score_threshold=data.score_threshold,
            mode=data.mode,
        )
        # knowledge_base_for let the user in as an editor; only a site admin may be one without owning it
        if current_user.is_admin and not await service.may_edit(current_user, base, site_admin=False):
            # an admin's look: private passages stay with the GPT's owners
            hits = [s for s in hits if s.access == "open"]
        return SearchResponse(
            data=[
                SearchResult(
                    chunk_id=s.hit.chunk_id,
                    file_id=s.hit.file_id,
                    filename=s.filename,
                    text=s.hit.text,
                    score=s.hit.score,
                    page=s.hit.page,
                    heading=s.hit.heading,
                )
                for s in hits
            ],
            search_query=data.query,
        )


route_handlers = [FileController]
