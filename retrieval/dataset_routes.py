"""Datasets (`/api/datasets`), their files and hit testing, and the datasets a GPT uses
(`/api/gpts/{id}/datasets`). docs/data-library.md."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit
from core.settings import Settings
from retrieval.dataset_access import can_read_private
from retrieval.dataset_schemas import (
    AttachedDatasetRead,
    DatasetCreate,
    DatasetRead,
    DatasetUpdate,
    GptDatasetCreate,
    GptDatasetUpdate,
)
from retrieval.datasets import DatasetService
from retrieval.deps import editable_dataset, editable_home_dataset, viewable_dataset
from retrieval.file_handling import FileRoutes, hit_test
from retrieval.models import Dataset
from retrieval.schemas import SearchRequest, SearchResponse

IncludeHome = Annotated[
    bool, Parameter(description="List GPTs' home datasets too (`home_gpt_id` set); default true")
]


class DatasetController(Controller):
    path = "/api/datasets"
    tags = ["datasets"]

    @post("/", status_code=201)
    async def create_dataset(
        self, data: DatasetCreate, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> DatasetRead:
        """A new empty dataset; 422 naming `license` when open without an SPDX license id."""
        service = DatasetService(db_session, settings)
        return await service.read(await service.create(current_user, data))

    @get("/")
    async def list_datasets(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 20,
        cursor: Cursor = None,
        include_home: IncludeHome = True,
    ) -> Page[DatasetRead]:
        """The datasets the caller may edit (their own and their organisations'), last changed first, one
        page at a time."""
        service = DatasetService(db_session, settings)
        rows, next_cursor = await service.list_owned(current_user, limit, cursor, include_home=include_home)
        return Page(data=await service.read_all(rows), next_cursor=next_cursor)

    @get("/{dataset_id:uuid}")
    async def get_dataset(
        self, dataset_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> DatasetRead:
        """A dataset the caller may see (open, or one it may edit); 404 otherwise."""
        service = DatasetService(db_session, settings)
        return await service.read(await service.get_viewable(current_user, dataset_id))

    @patch("/{dataset_id:uuid}", dependencies={"editable": Provide(editable_dataset)})
    async def update_dataset(
        self,
        editable: Dataset,
        dataset_id: uuid.UUID,
        data: DatasetUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> DatasetRead:
        """Change fields; a new `access`/`license` applies to every file of the dataset at once. 403 for an
        open dataset of someone else, 409 for access/license of a GPT's home dataset."""
        service = DatasetService(db_session, settings, redis)
        dataset = await service.get_editable(current_user, dataset_id, for_update=True)
        await service.update(dataset, data)
        return await service.read(dataset)

    @delete("/{dataset_id:uuid}", status_code=204)
    async def delete_dataset(
        self,
        dataset_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> None:
        """Delete it with its files and uploads; 409 while a live published version of one of its owner's
        GPTs uses it (`gpt_ids` names them) and for a GPT's home dataset (deleted with the GPT)."""
        service = DatasetService(db_session, settings, redis)
        await service.delete(current_user, dataset_id)


class DatasetFileController(FileRoutes):
    """Files of a dataset: as `/api/gpts/{id}/files`; a file takes the dataset's access and license, and
    anyone may read the files of an open dataset."""

    path = "/api/datasets/{dataset_id:uuid}"
    tags = ["datasets"]
    dependencies = {"editable": Provide(editable_dataset), "readable": Provide(viewable_dataset)}

    @post("/search", status_code=200)
    async def search(
        self,
        readable: Dataset,
        dataset_id: uuid.UUID,
        data: SearchRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> SearchResponse:
        """Hit testing on this dataset alone (private passages only for its owner and organisation)."""
        service = DatasetService(db_session, settings)
        dataset = readable
        only = data.file_ids
        if dataset.home_gpt_id is not None:  # the GPT's search would span its other datasets too
            own = {f.id for f in await service.knowledge.list_files(dataset)}
            only = [f for f in only if f in own] if only is not None else list(own)
        private_too = await can_read_private(db_session, current_user, dataset)
        return await hit_test(service.knowledge, dataset.id, data, private_too=private_too, only=only)


class GptDatasetController(Controller):
    """The datasets a GPT draft uses (its home dataset first); publishing pins them."""

    path = "/api/gpts/{gpt_id:uuid}/datasets"
    tags = ["datasets"]
    dependencies = {"editable": Provide(editable_home_dataset)}

    @get("/")
    async def list_attached(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[AttachedDatasetRead]]:
        service = DatasetService(db_session, settings)
        home = await service.gpt_home(current_user, gpt_id)
        return {"data": await service.attached(home.id)}

    @post("/", status_code=201)
    async def attach(
        self,
        editable: Dataset,
        gpt_id: uuid.UUID,
        data: GptDatasetCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> dict[str, list[AttachedDatasetRead]]:
        """Use a dataset: any open one, and the GPT owner's (or organisation's) private ones. 404 for any
        other dataset (nothing changes), 409 if already attached. Returns the GPT's datasets."""
        service = DatasetService(db_session, settings)
        home = await service.gpt_home(current_user, gpt_id)
        await service.attach(current_user, home, data.dataset_id, data.follow_latest)
        return {"data": await service.attached(home.id)}

    @patch("/{dataset_id:uuid}")
    async def update_attached(
        self,
        editable: Dataset,
        gpt_id: uuid.UUID,
        dataset_id: uuid.UUID,
        data: GptDatasetUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> dict[str, list[AttachedDatasetRead]]:
        """Set `follow_latest` (takes effect for users with the next publish)."""
        service = DatasetService(db_session, settings)
        home = await service.gpt_home(current_user, gpt_id)
        await service.set_follow_latest(home, dataset_id, data.follow_latest)
        return {"data": await service.attached(home.id)}

    @delete("/{dataset_id:uuid}", status_code=204)
    async def detach(
        self,
        gpt_id: uuid.UUID,
        dataset_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> None:
        """Stop using a dataset in the draft; 409 for the GPT's own (home) dataset."""
        service = DatasetService(db_session, settings)
        await service.detach(await service.gpt_home(current_user, gpt_id), dataset_id)


route_handlers = [DatasetController, DatasetFileController, GptDatasetController]
