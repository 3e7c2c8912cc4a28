"""File batches of a dataset (`/api/datasets/{id}/file_batches`) and of a GPT's home dataset
(`/api/gpts/{id}/file_batches`): the same handlers over the dataset each path names (docs/ingestion.md)."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import Page
from core.params import Cursor, Limit
from core.settings import Settings
from core.sse import EventStream
from retrieval.batches import BatchService, batch_progress_events
from retrieval.deps import editable_dataset, editable_home_dataset
from retrieval.file_handling import editor_still
from retrieval.models import Dataset
from retrieval.scheduling import dispatch
from retrieval.schemas import BatchFileStatus, FileBatchRead, FileRead


class DatasetBatchController(Controller):
    path = "/api/datasets/{dataset_id:uuid}/file_batches"
    tags = ["knowledge"]
    dependencies = {"dataset": Provide(editable_dataset)}

    @post("/", status_code=202, opt={"upload": "batch"})
    async def create_batch(
        self, request: Request, dataset: Dataset, db_session: AsyncSession, settings: Settings, state: State
    ) -> Response[FileBatchRead]:
        """Add up to `max_files_per_batch` (2,000) files as multipart parts named `file`, or one zip/tar
        part named `archive`; optional `access` and `license` (a GPT's own dataset only). 202 with the batch
        once the bytes are stored; the files are ingested in the background, fairly between owners."""
        service = BatchService(db_session, settings)
        batch = await service.create_from_request(dataset, request.content_type, request.stream())
        body = await service.read(batch)
        queue_files = BackgroundTask(dispatch, state.db, settings, state.queue, dataset.owner_id)
        return Response(body, status_code=202, background=queue_files)

    @get("/")
    async def list_batches(
        self, dataset: Dataset, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[FileBatchRead]]:
        """The dataset's 20 latest batches, newest first."""
        return {"data": await BatchService(db_session, settings).list_batches(dataset)}

    @get("/{batch_id:uuid}")
    async def get_batch(
        self, batch_id: uuid.UUID, dataset: Dataset, db_session: AsyncSession, settings: Settings
    ) -> FileBatchRead:
        service = BatchService(db_session, settings)
        return await service.read(await service.get(dataset, batch_id))

    @get("/{batch_id:uuid}/files")
    async def list_batch_files(
        self,
        batch_id: uuid.UUID,
        dataset: Dataset,
        db_session: AsyncSession,
        settings: Settings,
        filter: BatchFileStatus | None = None,  # OpenAI's name; an alias would put the Python name in 422s
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[FileRead]:
        """The batch's files by creation time, then id (one batch's files share their time); `?filter=`
        one status (in_progress, completed, ...), a 422 naming `filter` for any other value."""
        service = BatchService(db_session, settings)
        batch = await service.get(dataset, batch_id)
        rows, next_cursor = await service.list_files(batch, filter, limit, cursor)
        return Page(data=[FileRead.of(row) for row in rows], next_cursor=next_cursor)

    @post("/{batch_id:uuid}/cancel", status_code=200)
    async def cancel_batch(
        self, batch_id: uuid.UUID, dataset: Dataset, db_session: AsyncSession, settings: Settings
    ) -> FileBatchRead:
        """Cancel the files not yet done: waiting ones at once, a running one at its next write."""
        service = BatchService(db_session, settings)
        batch = await service.cancel(await service.get(dataset, batch_id))
        return await service.read(batch)

    @get("/{batch_id:uuid}/events")
    async def batch_events(
        self,
        request: Request,
        batch_id: uuid.UUID,
        dataset: Dataset,
        db_session: AsyncSession,
        settings: Settings,
        state: State,
    ) -> EventStream:
        """Progress as Server-Sent Events: `progress` with the batch whenever its counts change, then
        `done` once no file is in progress."""
        await BatchService(db_session, settings).get(dataset, batch_id)
        return EventStream(batch_progress_events(state.db, batch_id, editor_still(request, dataset.id)))


class GptBatchController(DatasetBatchController):
    path = "/api/gpts/{gpt_id:uuid}/file_batches"
    dependencies = {"dataset": Provide(editable_home_dataset)}


route_handlers = [DatasetBatchController, GptBatchController]
