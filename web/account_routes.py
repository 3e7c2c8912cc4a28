"""The account page: profile, plan, and API keys (created and shown once, revoked)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import PAID_PLANS, AccountService
from core.models import User
from core.params import Cursor
from core.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from core.settings import Settings
from store.creators import CreatorService, ProfileRead, ProfileUpdate
from web.forms import form_values, parse, submit
from web.once import keep_once, take_once
from web.session import login_required
from web.templates import render

PROFILE_FIELDS = ("handle", "display_name", "website", "bio")
KEYS_PAGE = 50


async def account_view(
    request: Request,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    *,
    status_code: int = 200,
    **context: Any,
) -> Any:
    """Profile (`GET /api/me/profile`), plan and API keys (`GET /api/me/api-keys`) on one page."""
    cursor = context.pop("keys_cursor", None)
    keys, next_cursor = await AccountService(db_session, settings).list_api_keys(user, KEYS_PAGE, cursor)
    context.setdefault("values", ProfileRead.model_validate(user).model_dump())
    context.setdefault("errors", {})
    return render(
        request,
        "account.html",
        user,
        keys=[ApiKeyRead.model_validate(k) for k in keys],
        keys_next_cursor=next_cursor,
        paid_plans=PAID_PLANS,
        status_code=status_code,
        **context,
    )


@get("/account", name="account")
async def account(
    request: Request,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    saved: bool = False,
    keys_cursor: Cursor = None,
    once: str | None = Parameter(default=None, max_length=64),
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    kept = await take_once(redis, page_user.id, once)  # a key just created (`create_api_key`)
    created = ApiKeyCreated(**kept) if kept else None
    return await account_view(
        request, page_user, db_session, settings, saved=saved, keys_cursor=keys_cursor, created=created
    )


@post("/account/profile")
async def update_profile(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings, redis: Redis
) -> Any:
    """Save the profile (`PATCH /api/me/profile`); errors at their fields."""
    if redirect := login_required(page_user, request, "/account"):
        return redirect
    values = await form_values(request, *PROFILE_FIELDS)
    creators = CreatorService(db_session, settings, redis)
    outcome = await submit(
        db_session, ProfileUpdate, values, lambda data: creators.update_profile(page_user, data)
    )
    if outcome.ok:
        return Redirect("/account?saved=true", status_code=303)
    errors, status = outcome.errors, outcome.status
    if sa.inspect(page_user).expired_attributes:  # a lost race on the handle rolled the user back
        await db_session.refresh(page_user)
    return await account_view(
        request, page_user, db_session, settings, values=values, errors=errors, status_code=status
    )


@post("/account/api-keys")
async def create_api_key(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings, redis: Redis
) -> Any:
    """A new API key (`POST /api/me/api-keys`), shown once, on the page this redirects to
    (`web.once`: a reload makes no second key)."""
    if redirect := login_required(page_user, request, "/account"):
        return redirect
    data, errors = parse(ApiKeyCreate, await form_values(request, "name"))
    if data is None:
        errors = {f"key_{k}": v for k, v in errors.items()}
        return await account_view(request, page_user, db_session, settings, errors=errors, status_code=422)
    row, key = await AccountService(db_session, settings).create_api_key(page_user, data.name)
    created = ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)
    token = await keep_once(redis, page_user.id, created.model_dump(mode="json"))
    return Redirect(f"/account?once={token}#h-keys", status_code=303)


@post("/account/api-keys/{key_id:uuid}/revoke")
async def revoke_api_key(
    request: Request, key_id: uuid.UUID, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Revoke one of the user's keys (`DELETE /api/me/api-keys/{id}`)."""
    if redirect := login_required(page_user, request, "/account"):
        return redirect
    await AccountService(db_session, settings).revoke_api_key(page_user, key_id)
    return Redirect("/account#h-keys", status_code=303)


account_handlers = [account, update_profile, create_api_key, revoke_api_key]
