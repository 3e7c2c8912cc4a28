"""The admin desk's accounts: users and organisations, and their plans.

Each section is a template over what its JSON twin returns (`GET /api/admin/users`,
`GET /api/admin/organizations`), and each change calls the service method that twin calls, validated by the
same schema; a refused change comes back at its form with the API's status and reason (web/admin_routes.py
holds the rest of the desk).
"""

from __future__ import annotations

import uuid
from typing import Any, get_args
from urllib.parse import quote

from litestar import Request, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import AccountService
from core.models import User
from core.params import Cursor
from core.schemas import PlanUpdate, UserRead
from core.settings import Plan, Settings
from orgs.schemas import OrganizationPlan, OrganizationPlanUpdate
from orgs.service import OrganizationService
from web.admin_routes import PAGE_SIZE, admin_only, refusal_at, render_desk
from web.forms import form_values, search_words, submit

SEARCH_MAX_CHARS = 320  # `GET /api/admin/users?q=` and `/api/admin/organizations?q=`'s bound

# Users and plans ---------------------------------------------------------------------------------------


async def users_view(
    request: Request,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    q: str | None,
    cursor: str | None,
    **context,
) -> Any:
    q, q_error = search_words(q, SEARCH_MAX_CHARS)
    rows, next_cursor = await AccountService(db_session, settings).search_users(q or None, PAGE_SIZE, cursor)
    items = [UserRead.model_validate(u) for u in rows]
    context.update(items=items, q=q, q_error=q_error, next_cursor=next_cursor, plans=get_args(Plan))
    return render_desk(request, user, "users", "users", **context)


@get("/admin/users", name="admin_users")
async def users(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    q: str | None = None,  # longer than 320 characters: cut, with the error at the search box
    cursor: Cursor = None,
) -> Any:
    """Accounts, newest first, searched by e-mail, handle or name (`GET /api/admin/users?q=`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await users_view(request, page_user, db_session, settings, q, cursor)


@post("/admin/users/{user_id:uuid}/plan")
async def change_plan(
    request: Request, user_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Change an account's plan (`PATCH /api/admin/users/{id}`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    values = await form_values(request, "plan", "q")
    accounts = AccountService(db_session, settings)
    outcome = await submit(
        db_session, PlanUpdate, {"plan": values["plan"]}, lambda data: accounts.set_plan(user_id, data.plan)
    )
    if outcome.ok:
        return Redirect(f"/admin/users?q={quote(values['q'], safe='')}#u-{user_id}", status_code=303)
    anchor = f"u-{user_id}"
    return await users_view(
        request,
        page_user,
        db_session,
        settings,
        values["q"],
        None,
        errors=refusal_at(anchor, outcome),
        status_code=outcome.status,
    )


# Organisations and plans -------------------------------------------------------------------------------


async def organizations_view(
    request: Request,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    q: str | None,
    cursor: str | None,
    **context,
) -> Any:
    q, q_error = search_words(q, SEARCH_MAX_CHARS)
    service = OrganizationService(db_session, settings, redis)
    items, next_cursor = await service.search(q or None, PAGE_SIZE, cursor)
    plans = get_args(OrganizationPlan)
    context.update(items=items, q=q, q_error=q_error, next_cursor=next_cursor, plans=plans)
    return render_desk(request, user, "organizations", "organizations", **context)


@get("/admin/organizations", name="admin_organizations")
async def organizations(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    q: str | None = None,  # longer than 320 characters: cut, with the error at the search box
    cursor: Cursor = None,
) -> Any:
    """Organisations, newest first, searched by handle or name (`GET /api/admin/organizations?q=`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    return await organizations_view(request, page_user, db_session, settings, redis, q, cursor)


@post("/admin/organizations/{organization_id:uuid}/plan")
async def change_organization_plan(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Change an organisation's plan (`PATCH /api/admin/organizations/{id}`)."""
    if redirect := admin_only(page_user, request):
        return redirect
    values = await form_values(request, "plan", "q")
    service = OrganizationService(db_session, settings, redis)
    outcome = await submit(
        db_session,
        OrganizationPlanUpdate,
        {"plan": values["plan"]},
        lambda data: service.set_plan(organization_id, data.plan),
    )
    anchor = f"o-{organization_id}"
    if outcome.ok:
        return Redirect(f"/admin/organizations?q={quote(values['q'], safe='')}#{anchor}", status_code=303)
    return await organizations_view(
        request,
        page_user,
        db_session,
        settings,
        redis,
        values["q"],
        None,
        errors=refusal_at(anchor, outcome),
        status_code=outcome.status,
    )


admin_account_handlers = [users, change_plan, organizations, change_organization_plan]
