"""The editor's Knowledge tab: upload (many files at once), live progress, delete.

Without JavaScript the upload form posts every chosen file at once and comes back to the tab (a zip or
tar among them becomes a file batch of its members, as the batch route's `archive` part); with
`static/builder.js` one dropped or chosen file is posted on its own (`Accept: application/json`, answered
with the `FileRead` like `POST /api/gpts/{id}/files`), several as a file batch, and the progress of every
file in progress on the page is followed through one stream, `GET /builder/{id}/files/events?ids=...`,
the API's file events (`progress`, `done`, `deleted`) for the session cookie.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import State
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.errors import AppError, UnstorableText
from core.forms import read_form
from core.models import User
from core.settings import Settings
from core.sse import EventStream
from retrieval.batch_upload import is_unpacked_archive
from retrieval.batches import BatchService
from retrieval.file_handling import editor_still, file_progress_events, files_progress_events, upload_rights
from retrieval.models import Dataset
from retrieval.scheduling import dispatch
from retrieval.schemas import FileIds, FileRead, followed_file_ids, upload_chunks, upload_form
from retrieval.service import KnowledgeService
from web.builder_routes import editor
from web.forms import page_form, refused_fields
from web.session import login_required


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@post("/builder/{gpt_id:uuid}/files", opt={"upload": True})
async def upload(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    state: State,
) -> Any:
    """Add knowledge files with their access (private|open) and license; each is queued for ingestion.

    Every file is stored in a savepoint of its own: one refused file (too large, over the GPT's file limit)
    is named at the form and the others are kept. A script's request (`Accept: application/json`) gets the
    API's answer: 202 with the `FileRead`, or the problem."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    service = KnowledgeService(db_session, settings)
    base = await service.knowledge_base_for(page_user, gpt_id)
    received = await receive_uploads(request, service, base, state)
    if isinstance(received, Response):
        return received
    tasks, exc, refused = received
    if exc is not None or refused:
        page = await _knowledge_page(request, page_user, db_session, settings, redis, gpt_id, exc, refused)
        page.background = tasks  # the files that were kept are processed all the same
        return page
    target = f"/builder/{gpt_id}?tab=knowledge&done=uploaded#files"
    return Redirect(target, status_code=303, background=tasks)


async def receive_uploads(
    request: Request, service: KnowledgeService, base: Dataset, state: State
) -> Response | tuple[BackgroundTasks, AppError | None, list[str]]:
    """Store the files of an upload form in `base` (a GPT's home dataset or any dataset; in the latter
    files take the dataset's access and license), each in a savepoint of its own, and queue them.

    A script's request (`Accept: application/json`) gets the API's answer: 202 with the `FileRead`, or
    the problem. A form gets (ingestion tasks, the form's error, the refused files named)."""
    as_json = _wants_json(request)
    try:
        if as_json:
            form = await read_form(request)
        else:  # unstorable text is refused at its field of the page, which shows the rest as typed
            form = await page_form(request)
            if refused := refused_fields():
                raise UnstorableText(
                    "; ".join(f"{field} {message}" for field, message in refused.items()),
                    errors=[{"field": field, "message": message} for field, message in refused.items()],
                )
        uploads, access, license = upload_form(form, many=not as_json, also=("csrf_token",))
        access, license = upload_rights(base, access, license, form)
    except AppError as exc:
        if as_json:
            raise
        return BackgroundTasks([]), exc, []
    added, refused = [], []
    fields = {"access": access, "license": license or ""}
    for item in uploads:
        try:
            async with service.session.begin_nested():
                if not as_json and is_unpacked_archive(item.filename):  # its files, as a batch's archive
                    batches = BatchService(service.session, service.settings)
                    added.append(
                        await batches.create_from_archive(base, item.filename, upload_chunks(item), fields)
                    )
                    continue
                added.append(
                    await service.add_file(
                        base, item.filename, upload_chunks(item), access=access, license=license
                    )
                )
        except AppError as exc:
            if as_json:
                raise
            refused.append(f"{item.filename}: {exc.detail}")
    tasks = BackgroundTasks(
        [BackgroundTask(dispatch, state.db, service.settings, state.queue, base.owner_id)] if added else []
    )
    if as_json:
        return Response(FileRead.of(added[0]), status_code=202, background=tasks)
    return tasks, None, refused


async def _knowledge_page(
    request: Request,
    user: User,
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    gpt_id: uuid.UUID,
    exc: AppError | None,
    refused: list[str],
) -> Any:
    row = await GptService(session, settings).get_owned(user, gpt_id)
    try:  # read already (the parse is kept): what was typed goes back
        form = await page_form(request)
        refused_fields()
        typed = {name: form.get(name) for name in ("access", "license") if isinstance(form.get(name), str)}
    except AppError:  # a form that could not be read at all (a parser limit): nothing to give back
        typed = {}
    if exc is not None:
        errors = {str(e.get("field") or "file"): str(e.get("message")) for e in exc.errors or []}
        errors = errors or {"file": exc.detail}
        status = exc.status
    else:
        errors, status = {"file": "Not uploaded: " + "; ".join(refused)}, 422
    return await editor(
        request, user, session, settings, redis, row, tab="knowledge", errors=errors, status_code=status,
        upload_values=typed,
    )  # fmt: skip


@post("/builder/{gpt_id:uuid}/files/{file_id:uuid}/delete")
async def delete_file(
    request: Request,
    gpt_id: uuid.UUID,
    file_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Delete a knowledge file (`DELETE /api/gpts/{id}/files/{file_id}`); 204 for a script."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    service = KnowledgeService(db_session, settings)
    base = await service.knowledge_base_for(page_user, gpt_id)
    await service.delete_file(base, file_id)
    if _wants_json(request):
        return Response(None, status_code=204)
    return Redirect(f"/builder/{gpt_id}?tab=knowledge&done=deleted-file#files", status_code=303)


@get("/builder/{gpt_id:uuid}/files/events")
async def files_events(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    state: State,
    ids: FileIds = None,
) -> Any:
    """The files of `ids` (or those in progress) in one Server-Sent Events stream, as
    `GET /api/gpts/{id}/files/events`: the page follows all its rows through one connection."""
    if redirect := login_required(page_user, request):
        return redirect
    service = KnowledgeService(db_session, settings)
    base = await service.knowledge_base_for(page_user, gpt_id)
    followed = await service.followed_files(base, followed_file_ids(ids))
    return EventStream(files_progress_events(state.db, base.id, followed, editor_still(request, base.id)))


@get("/builder/{gpt_id:uuid}/files/{file_id:uuid}/events")
async def file_events(
    request: Request,
    gpt_id: uuid.UUID,
    file_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    state: State,
) -> Any:
    """A file's status and progress as Server-Sent Events until it is final
    (`GET /api/gpts/{id}/files/{file_id}/events`)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = KnowledgeService(db_session, settings)
    base = await service.knowledge_base_for(page_user, gpt_id)
    await service.get_file(base, file_id)
    return EventStream(file_progress_events(state.db, base.id, file_id, editor_still(request, base.id)))


@post("/builder/{gpt_id:uuid}/file_batches", opt={"upload": "batch"})
async def upload_batch(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    state: State,
) -> Any:
    """Several dropped files as one file batch (`POST /api/gpts/{id}/file_batches`): the builder's script
    sends them with its `X-CSRF-Token` header and gets the batch, or the problem."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    base = await KnowledgeService(db_session, settings).knowledge_base_for(page_user, gpt_id)
    service = BatchService(db_session, settings)
    batch = await service.create_from_request(base, request.content_type, request.stream())
    queue_files = BackgroundTask(dispatch, state.db, settings, state.queue, base.owner_id)
    return Response(await service.read(batch), status_code=202, background=queue_files)


@post("/builder/{gpt_id:uuid}/file_batches/{batch_id:uuid}/cancel")
async def cancel_batch(
    request: Request,
    gpt_id: uuid.UUID,
    batch_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Cancel a batch's unfinished files (`POST /api/gpts/{id}/file_batches/{batch_id}/cancel`)."""
    if redirect := login_required(page_user, request, f"/builder/{gpt_id}?tab=knowledge"):
        return redirect
    base = await KnowledgeService(db_session, settings).knowledge_base_for(page_user, gpt_id)
    service = BatchService(db_session, settings)
    batch = await service.cancel(await service.get(base, batch_id))
    done = "cancelled-batch" if batch.cancelled_at is not None else "finished-batch"  # another tab's page
    return Redirect(f"/builder/{gpt_id}?tab=knowledge&done={done}#batches", status_code=303)


builder_files_handlers = [upload, delete_file, files_events, file_events, upload_batch, cancel_batch]
