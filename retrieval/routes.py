"""Knowledge files of a GPT (its home dataset), its imports from the web, and the retrieval test (search)
endpoint.

The file bodies live in `retrieval.file_handling`, shared with the files of any dataset
(`/api/datasets/{id}/files`, retrieval/dataset_routes.py).
"""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.file_handling import file_events, hit_test, upload_file
from retrieval.imports import WebImportService, enqueue_import
from retrieval.schemas import FileRead, SearchRequest, SearchResponse, WebImportCreate, WebImportRead
from retrieval.service import KnowledgeService


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
        return await upload_file(service, base, request, state)

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
        return await file_events(service, base, file_id, state)

    @post("/search", status_code=200)
    async def search(
        self,
        gpt_id: uuid.UUID,
        data: SearchRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> SearchResponse:
        """Hybrid search over the GPT's knowledge (every dataset it uses): the creator's retrieval test
        (private passages only for the GPT's owner)."""
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        # an admin's look: private passages stay with the GPT's owners
        private_too = await service.may_edit(current_user, base, site_admin=False)
        return await hit_test(service, base.id, data, private_too=private_too, only=data.file_ids)


class WebImportController(Controller):
    """Pages of the web as knowledge files (docs/retrieval.md#import-from-the-web)."""

    path = "/api/gpts/{gpt_id:uuid}/files/imports"
    tags = ["knowledge"]

    @post("/", status_code=202)
    async def create_import(
        self,
        gpt_id: uuid.UUID,
        data: WebImportCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Response[WebImportRead]:
        """Import a page (`url`), a list of pages (`urls`) or every page of a sitemap (`sitemap_url`); the
        pages are fetched by a background job: follow it with `GET .../imports/{import_id}`."""
        service = KnowledgeService(db_session, settings)
        base = await service.knowledge_base_for(current_user, gpt_id)
        row = await WebImportService(db_session, settings).create(base, data)
        return Response(
            WebImportRead.of(row, []),
            status_code=202,
            background=BackgroundTask(enqueue_import, state.queue, row.id),
        )

    @get("/")
    async def list_imports(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[WebImportRead]]:
        base = await KnowledgeService(db_session, settings).knowledge_base_for(current_user, gpt_id)
        rows = await WebImportService(db_session, settings).list_imports(base)
        return {"data": [WebImportRead.of(row) for row in rows]}

    @get("/{import_id:uuid}")
    async def get_import(
        self,
        gpt_id: uuid.UUID,
        import_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> WebImportRead:
        """The import's status, its page counts so far, and each URL's outcome (with its error)."""
        base = await KnowledgeService(db_session, settings).knowledge_base_for(current_user, gpt_id)
        imports = WebImportService(db_session, settings)
        row = await imports.get(base, import_id)
        return WebImportRead.of(row, await imports.pages(row))

    @post("/{import_id:uuid}/resync", status_code=202)
    async def resync_import(
        self,
        gpt_id: uuid.UUID,
        import_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Response[WebImportRead]:
        """Fetch the pages again: unchanged ones are kept, changed ones replaced, new ones added, and pages
        gone from the sitemap removed; 409 while a run is queued or running."""
        base = await KnowledgeService(db_session, settings).knowledge_base_for(current_user, gpt_id)
        row = await WebImportService(db_session, settings).resync(base, import_id)
        return Response(
            WebImportRead.of(row),
            status_code=202,
            background=BackgroundTask(enqueue_import, state.queue, row.id),
        )


route_handlers = [FileController, WebImportController]
