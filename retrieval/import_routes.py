"""Imports from the web into a dataset (docs/retrieval.md#import-from-the-web).

The same routes serve a GPT's home dataset (`/api/gpts/{gpt_id}/files/imports`) and any dataset its user
may change (`/api/datasets/{dataset_id}/imports`): each controller provides `import_base`, the dataset,
checked as its file routes check it (404 for one the user may not see, 403 for one it may only see).
"""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.datasets import DatasetService
from retrieval.imports import WebImportService, enqueue_import
from retrieval.models import Dataset
from retrieval.schemas import WebImportCreate, WebImportRead
from retrieval.service import KnowledgeService


async def _gpt_dataset(gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings):
    return await KnowledgeService(db_session, settings).knowledge_base_for(current_user, gpt_id)


async def _dataset(dataset_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings):
    return await DatasetService(db_session, settings).get_editable(current_user, dataset_id)


class _WebImports(Controller):
    tags = ["knowledge"]

    @post("/", status_code=202)
    async def create_import(
        self,
        import_base: Dataset,
        data: WebImportCreate,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Response[WebImportRead]:
        """Import a page (`url`), a list of pages (`urls`) or every page of a sitemap (`sitemap_url`); the
        pages are fetched by a background job: follow it with `GET .../imports/{import_id}`."""
        row = await WebImportService(db_session, settings).create(import_base, data)
        return Response(
            WebImportRead.of(row, []),
            status_code=202,
            background=BackgroundTask(enqueue_import, state.queue, row.id),
        )

    @get("/")
    async def list_imports(
        self, import_base: Dataset, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[WebImportRead]]:
        """The dataset's imports, oldest first."""
        rows = await WebImportService(db_session, settings).list_imports(import_base)
        return {"data": [WebImportRead.of(row) for row in rows]}

    @get("/{import_id:uuid}")
    async def get_import(
        self, import_base: Dataset, import_id: uuid.UUID, db_session: AsyncSession, settings: Settings
    ) -> WebImportRead:
        """The import's status, its page counts so far, and each URL's outcome (with its error)."""
        imports = WebImportService(db_session, settings)
        row = await imports.get(import_base, import_id)
        return WebImportRead.of(row, await imports.pages(row))

    @post("/{import_id:uuid}/resync", status_code=202)
    async def resync_import(
        self,
        import_base: Dataset,
        import_id: uuid.UUID,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> Response[WebImportRead]:
        """Fetch the pages again: unchanged ones are kept, changed ones replaced, new ones added, and pages
        gone from the sitemap removed; 409 while a run is queued or running."""
        row = await WebImportService(db_session, settings).resync(import_base, import_id)
        return Response(
            WebImportRead.of(row),
            status_code=202,
            background=BackgroundTask(enqueue_import, state.queue, row.id),
        )


class WebImportController(_WebImports):
    """Pages of the web as knowledge files of a GPT (its home dataset)."""

    path = "/api/gpts/{gpt_id:uuid}/files/imports"
    dependencies = {"import_base": Provide(_gpt_dataset)}


class DatasetWebImportController(_WebImports):
    """Pages of the web as knowledge files of a dataset."""

    path = "/api/datasets/{dataset_id:uuid}/imports"
    dependencies = {"import_base": Provide(_dataset)}


route_handlers = [WebImportController, DatasetWebImportController]
