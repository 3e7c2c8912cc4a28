"""Knowledge files of a GPT (its home dataset) and the retrieval test (search) endpoint (imports from the
web: retrieval/import_routes.py).

The file bodies live in `retrieval.file_handling`, shared with the files of any dataset
(`/api/datasets/{id}/files`, retrieval/dataset_routes.py).
"""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.file_handling import file_events, hit_test, upload_file
from retrieval.schemas import FileRead, SearchRequest, SearchResponse
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
        # knowledge_base_for let the user in as an editor; only a site admin may be one without owning it
        # (an admin's look: private passages stay with the GPT's owners)
        private_too = not current_user.is_admin or await service.may_edit(
            current_user, base, site_admin=False
        )
        return await hit_test(service, base.id, data, private_too=private_too, only=data.file_ids)


route_handlers = [FileController]
