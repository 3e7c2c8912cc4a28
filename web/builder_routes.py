"""Builder pages: my GPTs (create, import), the two-pane editor and its Configure form.

The editor at `/builder/{id}` has a left pane with the tabs Create (builder chat), Configure (every field)
and Knowledge (files), and a right pane Preview; its Publish dialog is `builder/_publish.html`. Without
JavaScript each tab is a link (`?tab=`) and every form a plain post that comes back to the page; with
`static/builder.js` tabs switch in place and chat, preview and uploads stream. Each handler calls the
service its JSON twin calls; the chat, knowledge and publishing handlers are in the `builder_*_routes`
modules next to this one.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.agent import BuilderAgent
from builder.models import Gpt
from builder.preview import PreviewService
from builder.schemas import BuilderMessageRead, CitationRead, GptRead, GptUpdate, validate_fields
from builder.service import GptService, PortabilityService
from core.auth import PAID_PLANS
from core.errors import AppError, Invalid, UnstorableText
from core.models import User
from core.params import Cursor
from core.settings import Settings
from retrieval.batches import BatchService
from retrieval.dataset_access import gpt_may_use
from retrieval.imports import WebImportService
from retrieval.scheduling import dispatch
from retrieval.schemas import FileRead, WebImportRead
from store.schemas import VersionRead
from store.service import StoreService
from web.forms import page_form, refused_fields, worded_errors
from web.session import login_required
from web.templates import render

TABS = ("create", "configure", "knowledge")
MAX_STARTERS = 4  # GptFields.conversation_starters' max_length
TEXT_FIELDS = ("name", "description", "instructions", "welcome_message", "category", "tags", "language")
NUMBER_FIELDS = (
    "retrieval.chunk_size",
    "retrieval.chunk_overlap",
    "retrieval.top_k",
    "retrieval.score_threshold",
    "trust.verbatim_max_words",
)
OTHER_FIELDS = ("model", "trust.instructions")
NUMBER = re.compile(r"[+-]?\d{1,10}(\.\d{1,10})?")


def _number(text: str) -> Any:
    """A form's number as the JSON number the API takes; other text is left for the schema to refuse."""
    text = text.strip()
    if not NUMBER.fullmatch(text):
        return text or None
    return float(text) if "." in text else int(text)


def update_from_form(form: Any) -> dict[str, Any]:
    """The PATCH body (`GptUpdate`) a Configure form stands for: one input per conversation starter (blank
    ones dropped), tags separated by commas, `retrieval.*` and `trust.*` inputs as nested objects, blank
    numbers and model left to their defaults."""

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    data: dict[str, Any] = {name: text(name) for name in TEXT_FIELDS}
    starters = [s for s in form.getall("conversation_starters", []) if isinstance(s, str)]
    data["conversation_starters"] = [s for s in starters if s.strip()]
    data["tags"] = [t for t in data["tags"].split(",") if t.strip()]
    data["category"] = data["category"] or None
    data["language"] = data["language"] or None
    data["model"] = text("model").strip() or None
    retrieval = {n.split(".")[1]: _number(text(n)) for n in NUMBER_FIELDS if n.startswith("retrieval.")}
    data["retrieval"] = {k: v for k, v in retrieval.items() if v is not None}
    data["trust"] = {"verbatim_max_words": _number(text("trust.verbatim_max_words"))}
    if text("trust.instructions"):
        data["trust"]["instructions"] = text("trust.instructions")
    return data


def configure_errors(exc: AppError) -> dict[str, str]:
    """`{input name: message}` from the API's 422: `retrieval.top_k` stays dotted (its own input), a
    starter's `conversation_starters.2` is shown at the starters."""
    errors: dict[str, str] = {}
    for error in exc.errors or []:
        field = str(error.get("field") or "form")
        field = "conversation_starters" if field.startswith("conversation_starters") else field
        errors.setdefault(field, str(error.get("message") or exc.detail).removeprefix("Value error, "))
    return errors or {"form": exc.detail}


def form_of(gpt: GptRead) -> dict[str, Any]:
    """The Configure inputs' values for the draft as it is."""
    values: dict[str, Any] = gpt.model_dump(include=set(TEXT_FIELDS) | {"model"})
    values["tags"] = ", ".join(gpt.tags)
    values["conversation_starters"] = list(gpt.conversation_starters)
    values.update({f"retrieval.{k}": v for k, v in gpt.retrieval.model_dump().items()})
    values["trust.instructions"] = gpt.trust.instructions
    values["trust.verbatim_max_words"] = gpt.trust.verbatim_max_words
    return {k: "" if v is None else v for k, v in values.items()}


INCOMPLETE_FORM = (
    "This was not the whole Configure form, so nothing was saved: save it from the Configure tab."
)
STALE_FORM = (
    "This draft changed since this form was opened (in the builder chat or another tab). Your edits are "
    "below: saving again replaces what is there now; reload the page to see it first."
)


def draft_revision(row: Gpt) -> str:
    """What the Configure form was rendered from (its hidden `revision`): the draft's last change."""
    return row.updated_at.isoformat()


async def editor(
    request: Request,
    user: User,
    session: AsyncSession,
    settings: Settings,
    redis: Redis | None,
    row: Gpt,
    *,
    tab: str = "create",
    status_code: int = 200,
    **context: Any,
) -> Any:
    """The editor page for `row` with every pane filled; `context` overrides (form values, errors,
    a publish result) come from the handler that answers a post."""
    gpts = GptService(session, settings)
    gpt = await gpts.read(row)
    history = [
        BuilderMessageRead.model_validate(m, from_attributes=True)
        for m in await BuilderAgent(session, settings, None).history(row)
    ]
    undoable = next((m.id for m in reversed(history) if m.changes and not m.undone), None)
    base = await gpts.knowledge.knowledge_base_of(row.id)
    files = [FileRead.of(f) for f in await gpts.knowledge.list_files(base)]
    # Datasets the editor may edit and the GPT may use (open ones of others come from the store's pages).
    own, _ = await gpts.datasets.list_owned(user, 100, None, include_home=False)
    attached = {d.id for d in gpt.datasets}
    attachable = [
        d
        for d in own
        if d.id not in attached
        and gpt_may_use(row.owner_id, row.organization_id, d.access, d.owner_id, d.organization_id)
    ]
    batches = await BatchService(session, settings).list_batches(base)
    imports = [WebImportRead.of(i) for i in await WebImportService(session, settings).list_imports(base)]
    conversation_id = context.pop("conversation_id", None) or _uuid(request.query_params.get("c"))
    preview = []
    if conversation_id is not None:
        preview = await PreviewService(session, settings, None).messages(row, conversation_id, user.id)
        conversation_id = conversation_id if preview else None
    store = StoreService(session, settings, redis)
    versions, _ = await store.versions(user, row.id, 20, None)
    values = context.pop("values", None) or form_of(gpt)
    starters = list(values["conversation_starters"])
    return render(
        request,
        "builder/editor.html",
        user,
        gpt=gpt,
        revision=draft_revision(row),
        tab=tab if tab in TABS else "create",
        values=values,
        starters=starters + [""] * (MAX_STARTERS - len(starters)),
        errors=context.pop("errors", {}),
        categories=settings.categories,
        history=history,
        undoable=undoable,
        files=files,
        attachable=attachable,
        managed_datasets={d.id for d in own},  # their names link to their settings; open ones of others' to
        # their public page, as the settings answer 403 to anyone else
        batches=batches,
        imports=imports,
        import_values=context.pop("import_values", None) or {"access": "private"},
        import_errors=context.pop("import_errors", {}),
        import_refusal=context.pop("import_refusal", None),
        max_file_bytes=settings.max_file_bytes,
        conversation_id=conversation_id,
        preview=[_preview_message(m) for m in preview],
        versions=[VersionRead.of(v) for v in versions],
        appeal=await store.appeal_state(row.id),
        publish=context.pop("publish", None),
        publish_errors=context.pop("publish_errors", {}),
        notice=context.pop("notice", None) or _notice(request),
        builder_draft=context.pop("builder_draft", ""),
        preview_draft=context.pop("preview_draft", ""),
        status_code=status_code,
        **context,
    )


NOTICES = {
    "saved": "Saved.",
    "undone": "The last builder change was undone.",
    "restored": "The version was restored into the draft.",
    "unpublished": "The GPT is no longer published.",
    "imported": "Imported. Its knowledge files are being processed.",
    "import-started": "The import is queued: its pages are fetched in the background.",
    "import-resynced": "The import is queued to fetch its pages again.",
    "uploaded": "Uploaded. The files are being processed.",
    "deleted-file": "The file was deleted.",
    "attached": "The dataset was attached: the draft answers from it now, users with the next publish.",
    "detached": "The dataset was detached from the draft; published versions keep it until the next publish.",
    "cancelled-batch": "The batch was cancelled: its unfinished files will not be processed.",
    "finished-batch": "The batch had already finished: nothing was left to cancel.",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _preview_message(row: Any) -> dict[str, Any]:
    return {
        "role": row.role,
        "content": row.content,
        "citations": [CitationRead.model_validate(c) for c in row.citations or []],
        "status": row.status,
        "tool_calls": row.tool_calls or [],
        "pending_call": row.pending_call,
    }


@get("/builder", name="builder")
async def my_gpts(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    cursor: Cursor = None,
) -> Any:
    """The signed-in creator's GPTs, a page at a time with "More" (`GET /api/gpts`), with create and
    import."""
    if redirect := login_required(page_user, request):
        return redirect
    return await _list_page(request, page_user, db_session, settings, {}, cursor=cursor)


async def _list_page(
    request: Request,
    user: User,
    session: AsyncSession,
    settings: Settings,
    errors: dict,
    status: int = 200,
    *,
    cursor: str | None = None,
) -> Any:
    service = GptService(session, settings)
    rows, next_cursor = await service.list_owned(user, 50, cursor)
    gpts = await service.read_all(rows)
    context = {"gpts": gpts, "errors": errors, "next_cursor": next_cursor, "paid_plans": PAID_PLANS}
    return render(request, "builder/list.html", user, status_code=status, **context)


@post("/builder/new")
async def new_gpt(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """A new empty draft (`POST /api/gpts`); 403 with the plan's explanation on the free plan."""
    if redirect := login_required(page_user, request, "/builder"):
        return redirect
    gpt = await GptService(db_session, settings).create(page_user)
    return Redirect(f"/builder/{gpt.id}", status_code=303)


@post("/builder/import", opt={"upload": True})
async def import_gpt(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """A new draft from an export archive (`POST /api/gpts/import`); a bad archive is named at the form."""
    if redirect := login_required(page_user, request, "/builder"):
        return redirect
    form = await page_form(request)
    upload = form.get("file")
    try:
        if refused := refused_fields():  # only a file is sent: a field of another form, or a script's
            raise UnstorableText(
                "; ".join(f"{field} {message}" for field, message in refused.items()), field="file"
            )
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("Choose an export archive (.zip) to import", field="file")
        async with db_session.begin_nested():
            gpt, file_ids = await PortabilityService(db_session, settings).import_archive(
                page_user, await upload.read()
            )
    except AppError as exc:
        errors = {"file": exc.detail}
        return await _list_page(request, page_user, db_session, settings, errors, exc.status)
    state = request.app.state
    # After the response, when the request's transaction is committed: the owner's fair share.
    queue_files = (
        BackgroundTask(dispatch, state.db, settings, state.queue, page_user.id) if file_ids else None
    )
    target = f"/builder/{gpt.id}?tab=knowledge&done=imported"
    return Redirect(target, status_code=303, background=queue_files)


@get("/builder/{gpt_id:uuid}", name="configure")
async def editor_page(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    tab: str = "create",
) -> Any:
    """The editor (`GET /api/gpts/{id}`, its builder chat, files, preview conversation and versions)."""
    if redirect := login_required(page_user, request):
        return redirect
    row = await GptService(db_session, settings).get_owned(page_user, gpt_id)
    return await editor(request, page_user, db_session, settings, redis, row, tab=tab)


@post("/builder/{gpt_id:uuid}")
async def configure(
    request: Request,
    gpt_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Save the Configure form (`PATCH /api/gpts/{id}`); field errors come back at their inputs (422)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = GptService(db_session, settings)
    row = await service.get_owned(page_user, gpt_id, for_update=True)
    form = await page_form(request)
    refused = refused_fields()  # unstorable text, removed from `form`: refused at its field below
    data = update_from_form(form)

    async def again(errors: dict[str, str], status_code: int) -> Any:
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        values["conversation_starters"] = data["conversation_starters"]
        values = {**form_of(await service.read(row)), **values}
        return await editor(
            request, page_user, db_session, settings, redis, row, tab="configure",
            values=values, errors=errors, status_code=status_code,
        )  # fmt: skip

    if "name" not in form:  # not the Configure form (a stray post to the page): it would blank every field
        return await again({"form": INCOMPLETE_FORM}, 422)
    revision = form.get("revision")
    if isinstance(revision, str) and revision and revision != draft_revision(row):
        # Saved as it is, the form would undo what changed meanwhile (the builder chat, another tab).
        return await again({"form": STALE_FORM}, 409)
    try:
        update = validate_fields(GptUpdate, data, settings.categories)
    except Invalid as exc:  # the API's messages, worded for the page where the schema refused
        worded = {
            ("conversation_starters" if k.startswith("conversation_starters") else k): v
            for k, v in worded_errors(GptUpdate, data).items()
        }
        return await again({**configure_errors(exc), **worded, **refused}, 422)
    if refused:
        return await again(refused, 422)
    await service.update(row, update)
    return Redirect(f"/builder/{gpt_id}?tab=configure&done=saved", status_code=303)


builder_handlers = [my_gpts, new_gpt, import_gpt, editor_page, configure]
