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

from core.settings import Settings
from retrieval.deps import editable_dataset, editable_home_dataset
from retrieval.imports import WebImportService, enqueue_import
from retrieval.models import Dataset
from retrieval.schemas import WebImportCreate, WebImportRead


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
    dependencies = {"import_base": Provide(editable_home_dataset)}


class DatasetWebImportController(_WebImports):
    """Pages of the web as knowledge files of a dataset."""

    path = "/api/datasets/{dataset_id:uuid}/imports"
    dependencies = {"import_base": Provide(editable_dataset)}


route_handlers = [WebImportController, DatasetWebImportController]
