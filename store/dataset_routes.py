"""The dataset directory's API (`/api/store/datasets`, anyone, open datasets only) and a dataset's
contributor numbers (`/api/datasets/{id}/stats`, those who may edit it) (docs/data-library.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, head
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from core.filenames import content_disposition
from core.models import User
from core.params import Cursor, Limit
from core.settings import Settings
from store import dataset_downloads as downloads
from store.dataset_schemas import DatasetDirectoryPage, DatasetPageRead, DatasetStatsRead, LicenseCount
from store.dataset_stats import dataset_stats
from store.datasets import DatasetDirectory


def page_url(request: Request, dataset_id: uuid.UUID) -> str:
    """The dataset's page in the web app, named by its downloads."""
    return f"{str(request.base_url).rstrip('/')}/datasets/{dataset_id}"


def _file_headers(request: Request, dataset, file) -> dict[str, str]:
    headers = downloads.license_headers(dataset, page_url(request, dataset.id))
    headers["Content-Disposition"] = content_disposition(file.filename)
    headers["Content-Length"] = str(file.bytes)
    return headers


class DatasetDirectoryController(Controller):
    path = "/api/store/datasets"
    tags = ["datasets"]

    @get("/")
    async def browse(
        self,
        read_session: AsyncSession,
        settings: Settings,
        q: str | None = Parameter(default=None, max_length=200),
        license: str | None = Parameter(default=None, max_length=100, description="An SPDX license id"),
        sort: Literal["relevance", "used", "new", "name"] | None = Parameter(
            default=None, description="Default: `relevance` with `q`, else `used`"
        ),
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> DatasetDirectoryPage:
        """Open datasets, searched with `q` (name and description: full text, and typos in names), filtered
        by `license`, sorted by `used` (listed GPTs using them), `new` or `name`."""
        return await DatasetDirectory(read_session, settings).browse(
            q=q, license=license, sort=sort, limit=limit, cursor=cursor
        )

    @get("/licenses")
    async def licenses(self, read_session: AsyncSession, settings: Settings) -> list[LicenseCount]:
        """The licenses of open datasets, with how many use each."""
        return await DatasetDirectory(read_session, settings).licenses()

    @get("/{dataset_id:uuid}")
    async def page(
        self, dataset_id: uuid.UUID, read_session: AsyncSession, settings: Settings
    ) -> DatasetPageRead:
        """An open dataset: its files, license, attribution, owner and the listed GPTs using it. 404 for a
        private dataset, to anyone."""
        return await DatasetDirectory(read_session, settings).page(dataset_id)

    @get("/{dataset_id:uuid}/files/{file_id:uuid}/download")
    async def download_file(
        self,
        dataset_id: uuid.UUID,
        file_id: uuid.UUID,
        request: Request,
        read_session: AsyncSession,
        settings: Settings,
    ) -> Stream:
        """One open file, streamed, its license and attribution in `Link`, `Dataset-License` and
        `Dataset-Attribution` headers."""
        dataset, file = await DatasetDirectory(read_session, settings).open_file(dataset_id, file_id)
        chunks = await downloads.open_upload(settings, file)
        return Stream(chunks, media_type=file.media_type, headers=_file_headers(request, dataset, file))

    @head("/{dataset_id:uuid}/files/{file_id:uuid}/download")
    async def download_file_headers(
        self,
        dataset_id: uuid.UUID,
        file_id: uuid.UUID,
        request: Request,
        read_session: AsyncSession,
        settings: Settings,
    ) -> Response[None]:
        """The download's headers (size, name, license) without the file, as `GET` sends them (RFC 9110,
        HEAD): what a download manager or `curl -I` asks first."""
        dataset, file = await DatasetDirectory(read_session, settings).open_file(dataset_id, file_id)
        return Response(
            b"",
            headers={
                **_file_headers(request, dataset, file),
                "Content-Type": downloads.head_content_type(file.media_type),
            },
        )

    @get("/{dataset_id:uuid}/download")
    async def download_zip(
        self, dataset_id: uuid.UUID, request: Request, read_session: AsyncSession, settings: Settings
    ) -> Stream:
        """Every open file in one streamed zip, with `LICENSE.txt` and `ATTRIBUTION.txt`; 409 past
        `GPTSTORE_DATASET_ZIP_MAX_BYTES`."""
        directory = DatasetDirectory(read_session, settings)
        dataset = await directory.open_dataset(dataset_id)
        [item] = await directory.items([dataset_id])
        files = await directory.open_files(dataset_id)
        downloads.check_zip_size(settings, files)
        url = page_url(request, dataset_id)
        notes = {
            "LICENSE.txt": downloads.license_note(dataset, url),
            "ATTRIBUTION.txt": downloads.attribution_note(dataset, item.owner.name, url),
        }
        headers = downloads.license_headers(dataset, url)
        headers["Content-Disposition"] = downloads.zip_name(dataset)
        stream = await downloads.zip_stream(settings, files, notes)
        return Stream(stream, media_type="application/zip", headers=headers)


class DatasetStatsController(Controller):
    path = "/api/datasets"
    tags = ["datasets"]

    @get("/{dataset_id:uuid}/stats")
    async def stats(
        self,
        dataset_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        days: Annotated[int, Parameter(ge=1, le=365, description="Days back, today included")] = 30,
    ) -> DatasetStatsRead:
        """How often the dataset was cited per day and by which listed GPTs (its owner and admins; 404 for
        anyone else)."""
        return await dataset_stats(db_session, current_user, dataset_id, days)


route_handlers = [DatasetDirectoryController, DatasetStatsController]
