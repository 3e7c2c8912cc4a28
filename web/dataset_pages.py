"""Dataset pages: my datasets, create, edit (name, description, access, license, attribution), files
(upload with live progress, delete), and the Datasets part of the GPT editor's Knowledge tab (attach,
follow latest, detach). Each page calls the service its JSON twin calls (`/api/datasets`,
`/api/gpts/{id}/datasets`); form posts are validated by the same schemas and show the same field errors.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.errors import AppError
from core.models import User
from core.params import Cursor
from core.settings import Settings
from core.sse import EventStream
from retrieval.dataset_schemas import DatasetCreate, DatasetUpdate, GptDatasetCreate, GptDatasetUpdate
from retrieval.datasets import DatasetService
from retrieval.file_handling import file_progress_events
from retrieval.licenses import common_licenses
from retrieval.schemas import FileRead
from web.builder_files_routes import receive_uploads
from web.builder_routes import editor
from web.forms import field_errors, form_values, submit
from web.session import login_required
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


@get("/creator/datasets", name="my_datasets")
async def my_datasets(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    cursor: Cursor = None,
) -> Any:
    """The signed-in user's datasets (`GET /api/datasets?include_home=false`), a page at a time."""
    if redirect := login_required(page_user, request):
        return redirect
    service = DatasetService(db_session, settings)
    rows, next_cursor = await service.list_owned(page_user, 50, cursor, include_home=False)
    datasets = await service.read_all(rows)
    notice = NOTICES.get(request.query_params.get("done", ""))
    context = {"datasets": datasets, "next_cursor": next_cursor, "notice": notice}
    return render(request, "my_datasets/list.html", page_user, **context)


@get("/creator/datasets/new")
async def new_dataset_form(request: Request, page_user: User | None) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    return _form_page(request, page_user, None, {"access": "private"}, {})


def _form_page(request, user, dataset, values, errors, status_code=200, files=(), max_file_bytes=0):
    return render(
        request,
        "my_datasets/form.html" if dataset is None else "my_datasets/dataset.html",
        user,
        dataset=dataset,
        values=values,
        errors=errors,
        licenses=common_licenses(),
        files=list(files),
        max_file_bytes=max_file_bytes,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
    )


@post("/creator/datasets/new")
async def create_dataset(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Create a dataset (`POST /api/datasets`); field errors come back at their inputs."""
    if redirect := login_required(page_user, request, "/creator/datasets"):
        return redirect
    values = await form_values(request, *FIELDS)
    service = DatasetService(db_session, settings)
    outcome = await submit(db_session, DatasetCreate, _values(values), lambda d: service.create(page_user, d))
    if not outcome.ok:
        return _form_page(request, page_user, None, values, outcome.errors, outcome.status)
    return Redirect(f"/creator/datasets/{outcome.value.id}?done=created", status_code=303)


async def _dataset_page(request, user, session, settings, dataset_id, values=None, errors=None, status=200):
    service = DatasetService(session, settings)
    dataset = await service.get_editable(user, dataset_id)
    files = [FileRead.of(f) for f in await service.knowledge.list_files(dataset)]
    read = await service.read(dataset)
    return _form_page(
        request, user, read, values or _form_of(read), errors or {}, status, files, settings.max_file_bytes
    )


@get("/creator/datasets/{dataset_id:uuid}")
async def dataset_page(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Edit a dataset and its files (`GET /api/datasets/{id}` and its files)."""
    if redirect := login_required(page_user, request):
        return redirect
    return await _dataset_page(request, page_user, db_session, settings, dataset_id)


@post("/creator/datasets/{dataset_id:uuid}")
async def update_dataset(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Save the form (`PATCH /api/datasets/{id}`: a new access or license applies to all its files)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = DatasetService(db_session, settings)
    dataset = await service.get_editable(page_user, dataset_id, for_update=True)
    values = await form_values(request, *FIELDS)
    outcome = await submit(db_session, DatasetUpdate, _values(values), lambda d: service.update(dataset, d))
    if not outcome.ok:
        await db_session.refresh(dataset)
        return await _dataset_page(
            request, page_user, db_session, settings, dataset_id, values, outcome.errors, outcome.status
        )
    return Redirect(f"/creator/datasets/{dataset_id}?done=saved", status_code=303)


@post("/creator/datasets/{dataset_id:uuid}/delete")
async def delete_dataset(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Delete it (`DELETE /api/datasets/{id}`); a refusal (a published GPT uses it) is shown on its page."""
    if redirect := login_required(page_user, request):
        return redirect
    service = DatasetService(db_session, settings)
    try:
        async with db_session.begin_nested():
            await service.delete(page_user, dataset_id)
    except AppError as exc:
        if exc.status == 404:
            raise
        errors = {"delete": exc.detail}
        return await _dataset_page(
            request, page_user, db_session, settings, dataset_id, None, errors, exc.status
        )
    return Redirect("/creator/datasets?done=deleted", status_code=303)


@post("/creator/datasets/{dataset_id:uuid}/files", opt={"upload": True})
async def upload(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    state: State,
) -> Any:
    """Add files (`POST /api/datasets/{id}/files`, many per form; a script sends one and gets the API's
    answer); refused files are named at the form, the others kept and processed."""
    if redirect := login_required(page_user, request, f"/creator/datasets/{dataset_id}"):
        return redirect
    service = DatasetService(db_session, settings)
    dataset = await service.get_editable(page_user, dataset_id)
    received = await receive_uploads(request, service.knowledge, dataset, state)
    if isinstance(received, Response):
        return received
    tasks, exc, refused = received
    if exc is not None or refused:
        errors = field_errors(exc) if exc is not None else {"file": "Not uploaded: " + "; ".join(refused)}
        status = exc.status if exc is not None else 422
        page = await _dataset_page(request, page_user, db_session, settings, dataset_id, None, errors, status)
        page.background = tasks
        return page
    return Redirect(f"/creator/datasets/{dataset_id}?done=uploaded#files", status_code=303, background=tasks)


@post("/creator/datasets/{dataset_id:uuid}/files/{file_id:uuid}/delete")
async def delete_file(
    request: Request,
    dataset_id: uuid.UUID,
    file_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Delete a file (`DELETE /api/datasets/{id}/files/{file_id}`); 204 for a script."""
    if redirect := login_required(page_user, request, f"/creator/datasets/{dataset_id}"):
        return redirect
    service = DatasetService(db_session, settings)
    await service.knowledge.delete_file(await service.get_editable(page_user, dataset_id), file_id)
    if "application/json" in request.headers.get("accept", ""):
        return Response(None, status_code=204)
    return Redirect(f"/creator/datasets/{dataset_id}?done=deleted-file#files", status_code=303)


@get("/creator/datasets/{dataset_id:uuid}/files/{file_id:uuid}/events")
async def file_events(
    request: Request,
    dataset_id: uuid.UUID,
    file_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    state: State,
) -> Any:
    """A file's progress as Server-Sent Events (`GET /api/datasets/{id}/files/{file_id}/events`)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = DatasetService(db_session, settings)
    dataset = await service.get_editable(page_user, dataset_id)
    await service.knowledge.get_file(dataset, file_id)
    return EventStream(file_progress_events(state.db, dataset.id, file_id))


# The GPT editor's Datasets (Knowledge tab) ----------------------------------------------------------------


def _back(gpt_id: uuid.UUID, done: str) -> Redirect:
    return Redirect(f"/builder/{gpt_id}?tab=knowledge&done={done}#datasets", status_code=303)


@post("/builder/{gpt_id:uuid}/datasets")
async def attach_dataset(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Attach a dataset (`POST /api/gpts/{id}/datasets`; form fields `dataset_id`, `follow_latest`=on).
    The store's dataset page posts here too ("use in my GPT")."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    values = await form_values(request, "dataset_id", "follow_latest")
    body = {"dataset_id": values["dataset_id"] or None, "follow_latest": values["follow_latest"] == "on"}
    service = DatasetService(db_session, settings)
    home = await service.gpt_home(page_user, gpt_id)
    outcome = await submit(
        db_session,
        GptDatasetCreate,
        body,
        lambda d: service.attach(page_user, home, d.dataset_id, d.follow_latest),
    )
    if not outcome.ok:
        row = await GptService(db_session, settings).get_owned(page_user, gpt_id)
        errors = {"dataset_id": outcome.errors.get("dataset_id") or next(iter(outcome.errors.values()))}
        return await editor(
            request, page_user, db_session, settings, redis, row,
            tab="knowledge", errors=errors, status_code=outcome.status,
        )  # fmt: skip
    return _back(gpt_id, "attached")


@post("/builder/{gpt_id:uuid}/datasets/{dataset_id:uuid}")
async def follow_dataset(
    request: Request,
    gpt_id: uuid.UUID,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Set "follow latest" (`PATCH /api/gpts/{id}/datasets/{dataset_id}`; field `follow_latest`=on|off)."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    values = await form_values(request, "follow_latest")
    service = DatasetService(db_session, settings)
    home = await service.gpt_home(page_user, gpt_id)
    data = GptDatasetUpdate(follow_latest=values["follow_latest"] == "on")
    await service.set_follow_latest(home, dataset_id, data.follow_latest)
    return _back(gpt_id, "saved")


@post("/builder/{gpt_id:uuid}/datasets/{dataset_id:uuid}/detach")
async def detach_dataset(
    request: Request,
    gpt_id: uuid.UUID,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Stop using a dataset (`DELETE /api/gpts/{id}/datasets/{dataset_id}`)."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    service = DatasetService(db_session, settings)
    await service.detach(await service.gpt_home(page_user, gpt_id), dataset_id)
    return _back(gpt_id, "detached")


dataset_page_handlers = [
    my_datasets,
    new_dataset_form,
    create_dataset,
    dataset_page,
    update_dataset,
    delete_dataset,
    upload,
    delete_file,
    file_events,
    attach_dataset,
    follow_dataset,
    detach_dataset,
]
