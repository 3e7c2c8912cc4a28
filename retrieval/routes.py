"""Knowledge files of a GPT (its home dataset) and the retrieval test (search) endpoint (imports from the
web: retrieval/import_routes.py).

The file routes are `retrieval.file_handling.FileRoutes`, shared with the files of any dataset
(`/api/datasets/{id}/files`, retrieval/dataset_routes.py): this scope provides the GPT's home dataset.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.deps import editable_home_dataset, readable_home_dataset
from retrieval.file_handling import FileRoutes, hit_test
from retrieval.schemas import SearchRequest, SearchResponse
from retrieval.service import KnowledgeService


class FileController(FileRoutes):
    """Knowledge files of a GPT (its home dataset; reads too only for its editors) and its retrieval test."""

    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["knowledge"]
    dependencies = {"editable": Provide(editable_home_dataset), "readable": Provide(readable_home_dataset)}

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

        async def editors_only(home: Any | None) -> bool:
            """`knowledge_base_for`'s check (404, or 403 naming the role), on the home dataset's row the
            search's scope statement read: one read of it, not two. Returns whether private passages show."""
            await service.require_edit(current_user, home)
            # the user came in as an editor; only a site admin may be one without owning it (an admin's
            # look: private passages stay with the GPT's owners)
            return not current_user.is_admin or await service.may_edit(current_user, home, site_admin=False)

        return await hit_test(service, gpt_id, data, only=data.file_ids, admit=editors_only)


route_handlers = [FileController]
