"""The file routes of a GPT (`/api/gpts/{id}/files`) and of a dataset (`/api/datasets/{id}/files`): one
base controller over the dataset each scope provides (retrieval/deps.py), and the hit test's body."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.response import ServerSentEvent
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import AccountService, request_credential
from core.db import Database
from core.errors import AppError, Invalid
from core.forms import read_form
from core.settings import Settings
from core.sse import polled_events
from retrieval.dataset_access import can_edit
from retrieval.knowledge_search import Caller
from retrieval.licenses import file_license
from retrieval.models import Dataset, KnowledgeFile
from retrieval.scheduling import dispatch
from retrieval.schemas import (
    FileIds,
    FileRead,
    SearchRequest,
    SearchResponse,
    SearchResult,
    followed_file_ids,
    upload_chunks,
    upload_form,
)
from retrieval.service import FINAL_STATES, KnowledgeService


def upload_rights(
    dataset: Dataset, form_access: str, form_license: str | None, form: Any
) -> tuple[str, str | None]:
    """The access and license a new file gets: its own in a GPT's home dataset (the license checked by
    `retrieval.licenses.file_license`); the dataset's in any other (a form that asks for different ones is
    a 422 naming the field: they are set on the dataset)."""
    if dataset.home_gpt_id is not None:
        return form_access, file_license(form_access, form_license)
    errors = [
        {"field": name, "message": f"files take the dataset's {name} ({value}); change it on the dataset"}
        for name, sent, value in (
            ("access", form.get("access"), dataset.access),
            ("license", form.get("license"), dataset.license),
        )
        if sent not in (None, "", value)
    ]
    if errors:
        raise Invalid("Invalid value for: " + ", ".join(e["field"] for e in errors), errors=errors)
    return dataset.access, dataset.license


class FileRoutes(Controller):
    """The file routes of one scope: a subclass sets `path` (with `gpt_id` or `dataset_id`) and provides
    `editable` (the dataset for writes and live events) and `readable` (for reads: a dataset's files are
    readable by anyone when it is open; a GPT's only by its editors), as `retrieval.deps` gives them."""

    @post("/files", status_code=202, opt={"upload": True})
    async def upload(
        self, editable: Dataset, request: Request, db_session: AsyncSession, settings: Settings, state: State
    ) -> Response[FileRead]:
        """Upload a file (multipart field `file`; in a GPT's own dataset optional `access` = private|open
        and `license`, elsewhere the dataset's): parsed and embedded once, for every GPT using the dataset.
        409 with `existing_file_id` for content the dataset already has."""
        service = KnowledgeService(db_session, settings)
        form = await read_form(request)
        uploads, access, license = upload_form(form)
        access, license = upload_rights(editable, access, license, form)
        upload = uploads[0]
        row = await service.add_file(
            editable, upload.filename, upload_chunks(upload), access=access, license=license
        )
        # Queued when the owner has a free ingestion slot (retrieval.scheduling: owners take turns).
        queue_it = BackgroundTask(dispatch, state.db, settings, state.queue, row.owner_id)
        return Response(FileRead.of(row), status_code=202, background=queue_it)

    @get("/files")
    async def list_files(
        self, readable: Dataset, db_session: AsyncSession, settings: Settings
    ) -> dict[str, list[FileRead]]:
        """The files, in upload order."""
        files = await KnowledgeService(db_session, settings).list_files(readable)
        return {"data": [FileRead.of(f) for f in files]}

    @get("/files/{file_id:uuid}")
    async def get_file(
        self, readable: Dataset, file_id: uuid.UUID, db_session: AsyncSession, settings: Settings
    ) -> FileRead:
        return FileRead.of(await KnowledgeService(db_session, settings).get_file(readable, file_id))

    @delete("/files/{file_id:uuid}", status_code=204)
    async def delete_file(
        self, editable: Dataset, file_id: uuid.UUID, db_session: AsyncSession, settings: Settings
    ) -> None:
        """Remove a file (published versions that pinned it keep their copy)."""
        await KnowledgeService(db_session, settings).delete_file(editable, file_id)

    @get("/files/events")
    async def files_events(
        self, request: Request, editable: Dataset, db_session: AsyncSession, state: State, ids: FileIds = None
    ) -> ServerSentEvent:
        """Many files' status and progress in one Server-Sent Events stream: the files `ids` names, or
        without `ids` those in progress now (the first 100); each file's events as its own stream sends
        them (`progress`, `done`, `deleted`, each with the file's `id`), until none is left in progress."""
        followed = await KnowledgeService(db_session, state.settings).followed_files(
            editable, followed_file_ids(ids)
        )
        return ServerSentEvent(
            files_progress_events(state.db, editable.id, followed, editor_still(request, editable.id))
        )

    @get("/files/{file_id:uuid}/events")
    async def file_events(
        self, request: Request, editable: Dataset, file_id: uuid.UUID, db_session: AsyncSession, state: State
    ) -> ServerSentEvent:
        """Status and progress as Server-Sent Events (`progress`, `done`, `deleted`) until the file
        reaches a final state."""
        await KnowledgeService(db_session, state.settings).get_file(editable, file_id)  # 404 first
        return ServerSentEvent(
            file_progress_events(state.db, editable.id, file_id, editor_still(request, editable.id))
        )


async def hit_test(
    service: KnowledgeService,
    scope_id: uuid.UUID,
    data: SearchRequest,
    *,
    private_too: bool = False,
    only: Iterable[uuid.UUID] | None,
    admit: Callable[[Any | None, Caller | None], Awaitable[bool]] | None = None,
    caller_id: uuid.UUID | None = None,
) -> SearchResponse:
    """Hybrid search as answers see it: over a GPT's datasets (`scope_id` = the GPT) or one dataset;
    private passages only when `private_too` (their owner's look, never an admin's). `admit`: the
    permission check on the home dataset's row and the `Caller` (the user `caller_id`) the search reads
    (`KnowledgeSearch.search`'s `check_home`): it raises to refuse, and its answer replaces
    `private_too`."""
    shown = {"private": private_too}

    async def check_home(home: Any | None, caller: Caller | None) -> None:
        shown["private"] = await admit(home, caller)

    hits = await service.search(
        scope_id,
        data.query,
        k=data.k,
        only=only,
        score_threshold=data.score_threshold,
        mode=data.mode,
        check_home=check_home if admit is not None else None,
        caller_id=caller_id,
    )
    if not shown["private"]:
        hits = [s for s in hits if s.access == "open"]
    return SearchResponse(
        data=[
            SearchResult(
                chunk_id=s.hit.chunk_id,
                file_id=s.hit.file_id,
                filename=s.filename,
                text=s.hit.text,
                score=s.hit.score,
                page=s.hit.page,
                heading=s.hit.heading,
                source_url=s.source_url,
                dataset_id=s.dataset_id,
                license=s.license,
            )
            for s in hits
        ],
        search_query=data.query,
    )


PROGRESS_POLL_SECONDS = 0.5


async def _file_snapshots(
    session: AsyncSession, dataset_id: uuid.UUID, file_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The `FileRead` of each of `file_ids` still attached to the dataset, in one statement."""
    rows = await session.scalars(
        sa.select(KnowledgeFile).where(
            KnowledgeFile.dataset_id == dataset_id,
            KnowledgeFile.detached_at.is_(None),
            KnowledgeFile.id.in_(file_ids),
        )
    )
    return {row.id: FileRead.of(row).model_dump(mode="json") for row in rows}


def editor_still(request: Request, dataset_id: uuid.UUID) -> Callable[[AsyncSession], Awaitable[bool]]:
    """`still_editor` of the request's credential (its bearer header or web session)."""
    state = request.app.state
    return still_editor(request_credential(request), state.settings, state.redis, dataset_id)


def still_editor(
    credential: str | None, settings: Settings, redis: Redis, dataset_id: uuid.UUID
) -> Callable[[AsyncSession], Awaitable[bool]]:
    """A stream's re-check (`core.sse.polled_events`): `credential` still names a user (not logged out,
    the API key not revoked, the account not deleted) who may still edit the dataset (`can_edit`: not
    removed from its organisation, the role kept)."""

    async def check(session: AsyncSession) -> bool:
        dataset = await session.get(Dataset, dataset_id)
        if credential is None or dataset is None:
            return False
        try:
            user = await AccountService(session, settings, redis).user_for_credential(credential)
        except AppError:
            return False
        return await can_edit(session, user, dataset)

    return check


def files_progress_events(
    db: Database,
    dataset_id: uuid.UUID,
    file_ids: Sequence[uuid.UUID],
    still_allowed: Callable[[AsyncSession], Awaitable[bool]] | None = None,
) -> AsyncIterator[dict[str, str]]:
    """SSE events of files' ingestion (the caller checked access to the dataset): per file, `progress` with
    its `FileRead` whenever it changes, then `done` once it is final, or `deleted` `{id}` if it goes (or
    never was a file of this dataset, so another dataset's ids tell nothing). Every
    `PROGRESS_POLL_SECONDS` one statement reads the files still followed; the stream ends with the last."""
    return polled_events(
        db,
        file_ids,
        lambda session, ids: _file_snapshots(session, dataset_id, ids),
        final=lambda snapshot: snapshot["status"] in FINAL_STATES,
        poll_seconds=PROGRESS_POLL_SECONDS,
        still_allowed=still_allowed,
    )


def file_progress_events(
    db: Database,
    dataset_id: uuid.UUID,
    file_id: uuid.UUID,
    still_allowed: Callable[[AsyncSession], Awaitable[bool]] | None = None,
) -> AsyncIterator[dict[str, str]]:
    """One file's events (`files_progress_events` of one id)."""
    return files_progress_events(db, dataset_id, [file_id], still_allowed)
