"""Dataset pages: the directory of open datasets, a dataset's page with its downloads and "Use in my GPT",
and a contributor's numbers of one dataset (docs/data-library.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.models import User
from core.schemas import StrictBool
from core.settings import Settings
from store.dataset_stats import dataset_stats, may_see_stats
from store.datasets import DatasetDirectory, attach_dataset
from web import charts
from web.forms import SEARCH_MAX_CHARS, form_values, search_words, submit
from web.session import login_required
from web.templates import render

RESULTS_PAGE_SIZE = 24
STATS_PERIODS = (7, 30, 90)
DRAFTS_SHOWN = 100  # the newest drafts offered by "Use in my GPT"


class UseDataset(BaseModel):
    """The "Use in my GPT" form: which of the user's drafts, and whether it follows the dataset's edits."""

    model_config = ConfigDict(extra="forbid")

    gpt_id: uuid.UUID
    follow_latest: StrictBool = False


@get("/datasets", name="datasets")
async def directory(
    request: Request,
    page_user: User | None,
    read_session: AsyncSession,
    settings: Settings,
    q: str | None = None,  # longer than the API's 200 characters: cut, with the error at the search box
    license: str | None = Parameter(default=None, max_length=100),
    sort: Literal["relevance", "used", "new", "name", ""] = "",
    cursor: str | None = Parameter(default=None, max_length=500),
) -> Template:
    """Open datasets (`GET /api/store/datasets` with the same parameters); `next_cursor` is a 'More' link."""
    q, q_error = search_words(q, SEARCH_MAX_CHARS)
    store = DatasetDirectory(read_session, settings)
    page = await store.browse(
        q=q, license=license or None, sort=sort or None, limit=RESULTS_PAGE_SIZE, cursor=cursor
    )
    return render(
        request,
        "datasets/directory.html",
        page_user,
        page=page,
        q=q,
        q_error=q_error,
        license=license or "",
        sort=sort,
        licenses=await store.licenses(),
    )


async def dataset_view(
    request: Request,
    dataset_id: uuid.UUID,
    user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    attached: str | None = None,
) -> Template:
    """The dataset page over `DatasetPageRead`, with the signed-in user's drafts for "Use in my GPT"."""
    directory = DatasetDirectory(db_session, settings)
    dataset = await directory.page(dataset_id)
    row = await directory.open_dataset(dataset_id)
    drafts = []
    if user is not None:
        drafts, _ = await GptService(db_session, settings).list_owned(user, DRAFTS_SHOWN, None)
    return render(
        request,
        "datasets/dataset.html",
        user,
        dataset=dataset,
        drafts=drafts,
        may_see_stats=user is not None and await may_see_stats(db_session, user, row),
        errors=errors or {},
        values=values or {},
        attached=attached,
        status_code=status_code,
    )


@get("/datasets/{dataset_id:uuid}", name="dataset")
async def dataset_page(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    read_session: AsyncSession,
    settings: Settings,
    attached: Annotated[str | None, Parameter(max_length=100)] = None,
) -> Template:
    """An open dataset (`GET /api/store/datasets/{id}`): files, license, attribution, downloads, used by."""
    return await dataset_view(request, dataset_id, page_user, read_session, settings, attached=attached)


@post("/datasets/{dataset_id:uuid}/use")
async def use_dataset(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Attach the dataset to one of the user's drafts (`store.datasets.attach_dataset`); errors at the
    form."""
    if redirect := login_required(page_user, request, f"/datasets/{dataset_id}"):
        return redirect
    values: dict[str, Any] = await form_values(request, "gpt_id", "follow_latest")
    values["follow_latest"] = values["follow_latest"] in ("true", "on")
    outcome = await submit(
        db_session,
        UseDataset,
        values,
        lambda data: attach_dataset(
            db_session, settings, page_user, data.gpt_id, dataset_id, data.follow_latest
        ),
    )
    if outcome.ok:
        return Redirect(f"/datasets/{dataset_id}?attached={values['gpt_id']}#h-use", status_code=303)
    return await dataset_view(
        request,
        dataset_id,
        page_user,
        db_session,
        settings,
        status_code=outcome.status,
        # a dataset the user may not use is the form's error (the page has no `dataset_id` input)
        errors={f"use_{'form' if k == 'dataset_id' else k}": v for k, v in outcome.errors.items()},
        values=values,
    )


@get("/creator/datasets/{dataset_id:uuid}/stats", name="dataset_stats")
async def stats_page(
    request: Request,
    dataset_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    days: Annotated[int, Parameter(ge=1, le=365)] = 30,
) -> Any:
    """A contributor's numbers (`GET /api/datasets/{id}/stats`): citations per day and the top GPTs."""
    if redirect := login_required(page_user, request):
        return redirect
    stats = await dataset_stats(db_session, page_user, dataset_id, days)
    dates = [d.date for d in stats.daily]
    figures = [
        charts.daily("citations", "Citations per day", dates, [d.citations for d in stats.daily]),
        charts.daily("answers", "Answers citing it per day", dates, [d.answers for d in stats.daily]),
    ]
    return render(
        request,
        "datasets/stats.html",
        page_user,
        stats=stats,
        charts=figures,
        days=days,
        periods=STATS_PERIODS,
    )


dataset_handlers = [directory, dataset_page, use_dataset, stats_page]
