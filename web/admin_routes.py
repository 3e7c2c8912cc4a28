"""The admin desk: the review queue, appeals, reports, the featured list (users, organisations and their
plans: web/admin_accounts.py).

Admins only (anyone else gets the 403 page). Each section is a template over what its JSON twin under
`/api/admin/` returns, and each action calls the same service method that twin calls, validated by the
same schema; a refused action comes back at its form with the API's status and reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

from litestar import Request, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden
from core.models import User
from core.params import Cursor, VersionNumber
from core.settings import Settings
from store.admin import FeaturedStep, ReviewStatus, StoreAdmin
from store.feedback import FeedbackService
from store.feedback_schemas import ReportResolve, ReportStatus
from store.schemas import AppealResolve, ModerateRequest
from store.service import StoreService
from web.forms import M, Outcome, form_values, submit
from web.session import login_required
from web.templates import render

PAGE_SIZE = 50
UUID_IN_TEXT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def admin_only(user: User | None, request: Request) -> Redirect | None:
    """The log-in redirect when signed out; 403 for a signed-in user who is not an admin."""
    if redirect := login_required(user, request):
        return redirect
    if not user.is_admin:
        raise Forbidden("The admin desk is for administrators only.")
    return None


# The id of each section's item on its page (`id="{{ key }}"` in the templates), where its refusal is shown.
ITEM_KEYS: dict[str, Callable[[Any], str]] = {
    "reviews": lambda v: f"v-{v.gpt_id}-{v.number}",
    "appeals": lambda a: f"a-{a.id}",
    "reports": lambda r: f"r-{r.id}",
    "users": lambda u: f"u-{u.id}",
    "organizations": lambda o: f"o-{o.id}",
}


def render_desk(request: Request, user: User, name: str, section: str, **context: Any) -> Any:
    errors = context.setdefault("errors", {})
    context.setdefault("values", {})
    at, key = errors.get("form_at"), ITEM_KEYS.get(section)
    if at and key and any(key(item) == at for item in context.get("items", [])):
        # the refusal is shown once, at the item's form; the summary is for an item no longer listed
        context["errors"] = {k: v for k, v in errors.items() if k != "form"}
    return render(request, f"admin/{name}.html", user, section=section, **context)


async def _names(db_session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await StoreAdmin(db_session).names(ids)


# Review queue ------------------------------------------------------------------------------------------


async def reviews_view(
    request: Request, user: User, db_session: AsyncSession, status: str | None, cursor: str | None, **context
) -> Any:
    items, next_cursor = await StoreAdmin(db_session).review_queue(status or None, PAGE_SIZE, cursor)
    return render_desk(
        request, user, "reviews", "reviews", items=items, next_cursor=next_cursor, status=status, **context
    )


@get("/admin", name="admin")
async def reviews(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    status: ReviewStatus | Literal[""] = "",
    cursor: Cursor = None,
) -> Any:
    """Published versions, newest first (`GET /api/admin/versions`); `status=""` is all of them."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await reviews_view(request, page_user, db_session, status, cursor)


@post("/admin/gpts/{gpt_id:uuid}/versions/{number:int}/moderate")
async def moderate(
    request: Request,
    gpt_id: uuid.UUID,
    number: VersionNumber,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Reject the version or unlist the GPT, or undo either (approve, relist), with a reason
    (`POST /api/admin/gpts/{id}/versions/{n}/moderate`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    values = await form_values(request, "action", "reason")
    store = StoreService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        ModerateRequest,
        values,
        lambda data: store.moderate(page_user, gpt_id, number, data.action, data.reason),
    )
    anchor = f"v-{gpt_id}-{number}"
    if outcome.ok:
        return Redirect(f"/admin#{anchor}", status_code=303)
    return await reviews_view(
        request,
        page_user,
        db_session,
        None,
        None,
        errors=refusal_at(anchor, outcome),
        values={anchor: values},
        status_code=outcome.status,
    )


def refusal_at(anchor: str, outcome: Outcome) -> dict[str, str]:
    """The refusal at the item's form, or in the summary above the list when the item has left the list
    (resolved meanwhile, or gone): `render_desk` keeps one of the two. The messages name their field."""
    message = " ".join(outcome.errors.values())
    return {anchor: message, "form": message, "form_at": anchor}


async def _resolve(
    session: AsyncSession,
    model: type[M],
    values: dict[str, str],
    action: Callable[[M], Awaitable[Any]],
    anchor: str,
    done: str,
    view: Callable[..., Awaitable[Any]],
) -> Any:
    """A desk item's resolve form (`note` blank is none): to `done`, or `view` of the open items again
    with the refusal at the item `anchor` and its values kept."""
    outcome = await submit(session, model, {**values, "note": values["note"] or None}, action)
    if outcome.ok:
        return Redirect(done, status_code=303)
    return await view(errors=refusal_at(anchor, outcome), values={anchor: values}, status_code=outcome.status)


# Appeals -----------------------------------------------------------------------------------------------


async def appeals_view(
    request: Request, user: User, db_session: AsyncSession, settings: Settings, status: str, cursor, **context
) -> Any:
    service = StoreService(db_session, settings)
    rows, next_cursor = await service.appeals(status or None, PAGE_SIZE, cursor)
    items = await service.for_moderators(rows)
    names = await _names(db_session, [a.gpt_id for a in items])
    return render_desk(
        request,
        user,
        "appeals",
        "appeals",
        items=items,
        names=names,
        next_cursor=next_cursor,
        status=status,
        **context,
    )


@get("/admin/appeals", name="admin_appeals")
async def appeals(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    status: Literal["open", "granted", "denied", "outdated", ""] = "open",
    cursor: Cursor = None,
) -> Any:
    """Appeals, oldest first (`GET /api/admin/appeals`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await appeals_view(request, page_user, db_session, settings, status, cursor)


@post("/admin/appeals/{appeal_id:uuid}/resolve")
async def resolve_appeal(
    request: Request,
    appeal_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Grant or deny an appeal (`POST /api/admin/appeals/{id}/resolve`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    store = StoreService(db_session, settings, redis)
    anchor = f"a-{appeal_id}"
    return await _resolve(
        db_session,
        AppealResolve,
        await form_values(request, "decision", "note"),
        lambda data: store.resolve_appeal(appeal_id, data.decision, data.note),
        anchor,
        f"/admin/appeals#{anchor}",
        partial(appeals_view, request, page_user, db_session, settings, "open", None),
    )


# Reports -----------------------------------------------------------------------------------------------


async def reports_view(
    request: Request,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    status: str,
    cursor: str | None = None,
    **context,
) -> Any:
    service = FeedbackService(db_session, settings)
    items, next_cursor = await service.reports(status or None, PAGE_SIZE, cursor)
    return render_desk(
        request, user, "reports", "reports", items=items, status=status, next_cursor=next_cursor, **context
    )


@get("/admin/reports", name="admin_reports")
async def reports(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    status: ReportStatus | Literal[""] = "open",
    cursor: Cursor = None,
) -> Any:
    """Reports, oldest first, a page at a time; open ones are the moderation queue
    (`GET /api/admin/reports`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await reports_view(request, page_user, db_session, settings, status, cursor)


@post("/admin/reports/{report_id:uuid}/resolve")
async def resolve_report(
    request: Request,
    report_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Dismiss a report or unlist its GPT (`POST /api/admin/reports/{id}/resolve`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    feedback = FeedbackService(db_session, settings, redis)
    return await _resolve(
        db_session,
        ReportResolve,
        await form_values(request, "action", "note"),
        lambda data: feedback.resolve(page_user, report_id, data.action, data.note),
        f"r-{report_id}",
        "/admin/reports?resolved=1",
        partial(reports_view, request, page_user, db_session, settings, "open"),
    )


# Featured ----------------------------------------------------------------------------------------------


async def featured_view(request: Request, user: User, db_session: AsyncSession, **context) -> Any:
    items = await StoreAdmin(db_session).featured()
    return render_desk(request, user, "featured", "featured", items=items, **context)


@get("/admin/featured", name="admin_featured")
async def featured(request: Request, page_user: User | None, db_session: AsyncSession) -> Any:
    """The featured list in its order (`GET /api/admin/featured`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await featured_view(request, page_user, db_session)


@post("/admin/featured")
async def change_featured(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings, redis: Redis
) -> Any:
    """Move a GPT up or down, add or remove it: the new whole list goes to `PUT /api/admin/featured`'s
    `StoreService.set_featured` (which refuses a GPT that is not listed)."""
    if redirect := admin_only(page_user, request):
        return redirect
    values = await form_values(request, "gpt_id", "move")
    found = UUID_IN_TEXT.search(values["gpt_id"])  # an id, or a GPT page link pasted whole
    if found is None:
        errors = {"gpt_id": "Enter a GPT's id or the link to its page"}
        return await featured_view(
            request, page_user, db_session, errors=errors, values=values, status_code=422
        )
    step = {"gpt_id": found.group(), "move": values["move"]}
    store = StoreService(db_session, settings, redis)
    outcome = await submit(
        db_session, FeaturedStep, step, lambda data: StoreAdmin(db_session).step_featured(store, data)
    )
    if outcome.ok:
        return Redirect(f"/admin/featured#f-{found.group().lower()}", status_code=303)
    errors = {
        "gpt_id": "; ".join(m if f in ("form", "gpt_ids") else f"{f}: {m}" for f, m in outcome.errors.items())
    }
    return await featured_view(
        request, page_user, db_session, errors=errors, values=values, status_code=outcome.status
    )


admin_handlers = [
    reviews,
    moderate,
    appeals,
    resolve_appeal,
    reports,
    resolve_report,
    featured,
    change_featured,
]
