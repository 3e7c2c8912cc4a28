"""Dataset pages: my datasets, create, edit (name, description, access, license, attribution), files
(upload with live progress, delete), and the Datasets part of the GPT editor's Knowledge tab (attach,
follow latest, detach). Each page calls the service its JSON twin calls (`/api/datasets`,
`/api/gpts/{id}/datasets`); form posts are validated by the same schemas and show the same field errors.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Redirect

from builder.service import GptService
from core.errors import AppError
from core.params import Cursor
from core.sse import EventStream
from retrieval.dataset_schemas import DatasetCreate, DatasetUpdate, GptDatasetCreate, GptDatasetUpdate
from retrieval.datasets import DatasetService
from retrieval.file_handling import editor_still, file_progress_events, files_progress_events
from retrieval.licenses import common_licenses
from retrieval.models import Dataset
from retrieval.schemas import FileIds, FileRead, followed_file_ids
from web.builder_files_routes import receive_uploads
from web.builder_routes import editor
from web.forms import field_errors, form_values, submit
from web.pages import Page, page_provider
from web.templates import render

FIELDS = ("name", "description", "access", "license", "attribution")
NOTICES = {
    "created": "Dataset created. Add its files below.",
    "saved": "Saved.",
    "uploaded": "Uploaded. The files are being processed.",
    "deleted-file": "The file was deleted.",
    "deleted": "The dataset was deleted.",
}


def _values(values: dict[str, str]) -> dict[str, Any]:
    """A form's fields as the API's body: blank optional text is null (a blank license clears it)."""
    return {k: (v if v.strip() or k == "name" else None) for k, v in values.items()}


def _form_of(dataset: Any) -> dict[str, str]:
    return {name: getattr(dataset, name) or "" for name in FIELDS}


DatasetPage = Page[DatasetService]
AT_DATASET = {"back": "/creator/datasets/{dataset_id}"}  # a login from a form returns to its page
AT_KNOWLEDGE = {"back": "/builder/{gpt_id}?tab=knowledge"}
provide_dataset_page = page_provider(DatasetService)


def _form_page(page: DatasetPage, dataset, values, errors, status_code=200, files=(), max_file_bytes=0):
    return render(
        page.request,
        "my_datasets/form.html" if dataset is None else "my_datasets/dataset.html",
        page.user,
        dataset=dataset,
        values=values,
        errors=errors,
        licenses=common_licenses(),
        files=list(files),
        max_file_bytes=max_file_bytes,
        notice=NOTICES.get(page.request.query_params.get("done", "")),
        status_code=status_code,
    )


async def _dataset_page(page: DatasetPage, dataset_id, values=None, errors=None, status=200):
    service = page.service
    dataset = await service.get_editable(page.user, dataset_id)
    files = [FileRead.of(f) for f in await service.knowledge.list_files(dataset)]
    read = await service.read(dataset)
    return _form_page(
        page, read, values or _form_of(read), errors or {}, status, files, page.settings.max_file_bytes
    )


class MyDatasetPages(Controller):
    """One's datasets: list, create, edit, files (`/api/datasets...`), for a signed-in user."""

    path = "/creator/datasets"
    dependencies = {"page": Provide(provide_dataset_page)}

    @get("/", name="my_datasets")
    async def my_datasets(self, page: DatasetPage, cursor: Cursor = None) -> Any:
        """The signed-in user's datasets (`GET /api/datasets?include_home=false`), a page at a time."""
        rows, next_cursor = await page.service.list_owned(page.user, 50, cursor, include_home=False)
        datasets = await page.service.read_all(rows)
        notice = NOTICES.get(page.request.query_params.get("done", ""))
        context = {"datasets": datasets, "next_cursor": next_cursor, "notice": notice}
        return render(page.request, "my_datasets/list.html", page.user, **context)

    @get("/new")
    async def new_dataset_form(self, page: DatasetPage) -> Any:
        return _form_page(page, None, {"access": "private"}, {})

    @post("/new", opt={"back": "/creator/datasets"})
    async def create_dataset(self, page: DatasetPage) -> Any:
        """Create a dataset (`POST /api/datasets`); field errors come back at their inputs."""
        values = await form_values(page.request, *FIELDS)
        outcome = await submit(
            page.session, DatasetCreate, _values(values), lambda d: page.service.create(page.user, d)
        )
        if not outcome.ok:
            return _form_page(page, None, values, outcome.errors, outcome.status)
        return Redirect(f"/creator/datasets/{outcome.value.id}?done=created", status_code=303)

    @get("/{dataset_id:uuid}")
    async def dataset_page(self, page: DatasetPage, dataset_id: uuid.UUID) -> Any:
        """Edit a dataset and its files (`GET /api/datasets/{id}` and its files)."""
        return await _dataset_page(page, dataset_id)

    @post("/{dataset_id:uuid}", opt=AT_DATASET)
    async def update_dataset(self, page: DatasetPage, dataset_id: uuid.UUID) -> Any:
        """Save the form (`PATCH /api/datasets/{id}`: a new access or license applies to all its files)."""
        dataset = await page.service.get_editable(page.user, dataset_id, for_update=True)
        values = await form_values(page.request, *FIELDS)
        outcome = await submit(
            page.session, DatasetUpdate, _values(values), lambda d: page.service.update(dataset, d)
        )
        if not outcome.ok:
            await page.session.refresh(dataset)
            return await _dataset_page(page, dataset_id, values, outcome.errors, outcome.status)
        return Redirect(f"/creator/datasets/{dataset_id}?done=saved", status_code=303)

    @post("/{dataset_id:uuid}/delete", opt=AT_DATASET)
    async def delete_dataset(self, page: DatasetPage, dataset_id: uuid.UUID) -> Any:
        """Delete it (`DELETE /api/datasets/{id}`) once the confirmation box is ticked, as a GPT's deletion
        asks; a refusal (a published GPT uses it) is shown on its page."""
        form = await form_values(page.request, "confirm")
        if form["confirm"] != "yes":
            errors = {"delete": "Tick the box to confirm that the dataset and its files are deleted for good"}
            return await _dataset_page(page, dataset_id, None, errors, 422)
        try:
            async with page.session.begin_nested():
                await page.service.delete(page.user, dataset_id)
        except AppError as exc:
            if exc.status == 404:
                raise
            return await _dataset_page(page, dataset_id, None, {"delete": exc.detail}, exc.status)
        return Redirect("/creator/datasets?done=deleted", status_code=303)

    @post("/{dataset_id:uuid}/files", opt={"upload": True, **AT_DATASET})
    async def upload(self, page: DatasetPage, dataset_id: uuid.UUID, state: State) -> Any:
        """Add files (`POST /api/datasets/{id}/files`, many per form; a script sends one and gets the API's
        answer); refused files are named at the form, the others kept and processed."""
        dataset = await page.service.get_editable(page.user, dataset_id)
        received = await receive_uploads(page.request, page.service.knowledge, dataset, state)
        if isinstance(received, Response):
            return received
        tasks, exc, refused = received
        if exc is not None or refused:
            errors = field_errors(exc) if exc is not None else {"file": "Not uploaded: " + "; ".join(refused)}
            status = exc.status if exc is not None else 422
            shown = await _dataset_page(page, dataset_id, None, errors, status)
            shown.background = tasks
            return shown
        return Redirect(
            f"/creator/datasets/{dataset_id}?done=uploaded#files", status_code=303, background=tasks
        )

    @post("/{dataset_id:uuid}/files/{file_id:uuid}/delete", opt=AT_DATASET)
    async def delete_file(self, page: DatasetPage, dataset_id: uuid.UUID, file_id: uuid.UUID) -> Any:
        """Delete a file (`DELETE /api/datasets/{id}/files/{file_id}`); 204 for a script."""
        dataset = await page.service.get_editable(page.user, dataset_id)
        await page.service.knowledge.delete_file(dataset, file_id)
        if "application/json" in page.request.headers.get("accept", ""):
            return Response(None, status_code=204)
        return Redirect(f"/creator/datasets/{dataset_id}?done=deleted-file#files", status_code=303)

    @get("/{dataset_id:uuid}/files/events")
    async def files_events(
        self, page: DatasetPage, dataset_id: uuid.UUID, state: State, ids: FileIds = None
    ) -> Any:
        """The files of `ids` (or those in progress) in one stream (`GET /api/datasets/{id}/files/events`)."""
        dataset = await page.service.get_editable(page.user, dataset_id)
        followed = await page.service.knowledge.followed_files(dataset, followed_file_ids(ids))
        return EventStream(
            files_progress_events(state.db, dataset.id, followed, editor_still(page.request, dataset.id))
        )

    @get("/{dataset_id:uuid}/files/{file_id:uuid}/events")
    async def file_events(
        self, page: DatasetPage, dataset_id: uuid.UUID, file_id: uuid.UUID, state: State
    ) -> Any:
        """A file's progress as Server-Sent Events (`GET /api/datasets/{id}/files/{file_id}/events`)."""
        dataset = await page.service.get_editable(page.user, dataset_id)
        await page.service.knowledge.get_file(dataset, file_id)
        return EventStream(
            file_progress_events(state.db, dataset.id, file_id, editor_still(page.request, dataset.id))
        )


# The GPT editor's Datasets (Knowledge tab) ----------------------------------------------------------------


async def _gpt_home(page: DatasetPage, gpt_id: uuid.UUID) -> Dataset:
    return await page.service.gpt_home(page.user, gpt_id)  # 404/403 as the API's


def _back(gpt_id: uuid.UUID, done: str) -> Redirect:
    return Redirect(f"/builder/{gpt_id}?tab=knowledge&done={done}#datasets", status_code=303)


class GptDatasetForms(Controller):
    """The datasets a GPT draft uses (`/api/gpts/{id}/datasets`): `home` is the GPT's home dataset, for
    a user who may edit the GPT."""

    path = "/builder/{gpt_id:uuid}/datasets"
    dependencies = {
        "page": Provide(provide_dataset_page),
        "home": Provide(_gpt_home),
    }

    @post("/", opt=AT_KNOWLEDGE)
    async def attach_dataset(self, page: DatasetPage, home: Dataset, gpt_id: uuid.UUID) -> Any:
        """Attach a dataset (`POST /api/gpts/{id}/datasets`; form fields `dataset_id`, `follow_latest`=on).
        The store's dataset page posts here too ("use in my GPT")."""
        values = await form_values(page.request, "dataset_id", "follow_latest")
        body = {"dataset_id": values["dataset_id"] or None, "follow_latest": values["follow_latest"] == "on"}
        outcome = await submit(
            page.session,
            GptDatasetCreate,
            body,
            lambda d: page.service.attach(page.user, home, d.dataset_id, d.follow_latest),
        )
        if not outcome.ok:
            row = await GptService(page.session, page.settings).get_owned(page.user, gpt_id)
            errors = {"dataset_id": outcome.errors.get("dataset_id") or next(iter(outcome.errors.values()))}
            return await editor(
                page.request, page.user, page.session, page.settings, page.redis, row,
                tab="knowledge", errors=errors, status_code=outcome.status,
            )  # fmt: skip
        return _back(gpt_id, "attached")

    @post("/{dataset_id:uuid}", opt=AT_KNOWLEDGE)
    async def follow_dataset(
        self, page: DatasetPage, home: Dataset, gpt_id: uuid.UUID, dataset_id: uuid.UUID
    ) -> Any:
        """Set "follow latest" (`PATCH /api/gpts/{id}/datasets/{dataset_id}`; field
        `follow_latest`=on|off)."""
        values = await form_values(page.request, "follow_latest")
        data = GptDatasetUpdate(follow_latest=values["follow_latest"] == "on")
        await page.service.set_follow_latest(home, dataset_id, data.follow_latest)
        return _back(gpt_id, "saved")

    @post("/{dataset_id:uuid}/detach", opt=AT_KNOWLEDGE)
    async def detach_dataset(
        self, page: DatasetPage, home: Dataset, gpt_id: uuid.UUID, dataset_id: uuid.UUID
    ) -> Any:
        """Stop using a dataset (`DELETE /api/gpts/{id}/datasets/{dataset_id}`)."""
        await page.service.detach(home, dataset_id)
        return _back(gpt_id, "detached")


dataset_page_handlers = [MyDatasetPages, GptDatasetForms]
