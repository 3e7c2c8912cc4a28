"""Builder pages (skeleton): my GPTs, a new draft, and the Configure form over `GptRead`/`GptUpdate`.

The form posts every editable field; it is validated by `builder.schemas.validate_fields`, the function
behind `PATCH /api/gpts/{id}`, so the page shows at each field exactly what the API's 422 names.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from builder.schemas import GptUpdate, validate_fields
from builder.service import GptService
from core.errors import Invalid
from core.models import User
from core.params import Cursor
from core.settings import Settings
from web.forms import field_errors, form_values
from web.session import login_required
from web.templates import render

FORM_FIELDS = (
    "name",
    "description",
    "instructions",
    "welcome_message",
    "conversation_starters",
    "category",
    "tags",
    "language",
)


def update_from_form(values: dict[str, str]) -> dict[str, Any]:
    """The PATCH body a Configure form stands for: starters one per line, tags separated by commas."""
    data: dict[str, Any] = {k: values[k] for k in FORM_FIELDS if k not in ("conversation_starters", "tags")}
    data["conversation_starters"] = [s for s in values["conversation_starters"].splitlines() if s.strip()]
    data["tags"] = [t for t in values["tags"].split(",") if t.strip()]
    data["category"] = data["category"] or None
    data["language"] = data["language"] or None
    return data


@get("/builder", name="builder")
async def my_gpts(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    cursor: Cursor = None,
) -> Any:
    """The signed-in creator's GPTs, a page at a time with "More" (`GET /api/gpts`)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = GptService(db_session, settings)
    rows, next_cursor = await service.list_owned(page_user, 50, cursor)
    gpts = await service.read_all(rows)
    return render(request, "builder/list.html", page_user, gpts=gpts, next_cursor=next_cursor)


@post("/builder/new")
async def new_gpt(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """A new empty draft (`POST /api/gpts`); 403 with the plan's explanation on the free plan."""
    if redirect := login_required(page_user, request, "/builder"):
        return redirect
    gpt = await GptService(db_session, settings).create(page_user)
    return Redirect(f"/builder/{gpt.id}", status_code=303)


@get("/builder/{gpt_id:uuid}", name="configure")
async def configure_form(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    service = GptService(db_session, settings)
    gpt = await service.read(await service.get_owned(page_user, gpt_id))
    values = gpt.model_dump()
    values["conversation_starters"] = "\n".join(gpt.conversation_starters)
    values["tags"] = ", ".join(gpt.tags)
    return render(
        request,
        "builder/configure.html",
        page_user,
        gpt=gpt,
        values=values,
        errors={},
        categories=settings.categories,
        saved=request.query_params.get("saved") == "1",
    )


@post("/builder/{gpt_id:uuid}")
async def configure(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Save the Configure form (`PATCH /api/gpts/{id}`); field errors come back at their fields (422)."""
    if redirect := login_required(page_user, request):
        return redirect
    service = GptService(db_session, settings)
    row = await service.get_owned(page_user, gpt_id, for_update=True)
    values = await form_values(request, *FORM_FIELDS)
    try:
        data = validate_fields(GptUpdate, update_from_form(values), settings.categories)
    except Invalid as exc:
        return render(
            request,
            "builder/configure.html",
            page_user,
            gpt=await service.read(row),
            values=values,
            errors=field_errors(exc),
            categories=settings.categories,
            saved=False,
            status_code=422,
        )
    await service.update(row, data)
    return Redirect(f"/builder/{gpt_id}?saved=1", status_code=303)


builder_handlers = [my_gpts, new_gpt, configure_form, configure]
