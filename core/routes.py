"""Accounts, API keys, admin user management, and health endpoints."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import migrate
from core.auth import AccountService, client_ip, session_only
from core.embedded import servers_down
from core.errors import problem
from core.models import User
from core.pagination import Page
from core.params import Cursor, Limit
from core.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginRequest,
    PlanUpdate,
    SignupRead,
    SignupRequest,
    TokenRead,
    UserRead,
)
from core.settings import Settings


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/signup", status_code=201)
    async def signup(self, data: SignupRequest, db_session: AsyncSession, settings: Settings) -> SignupRead:
        service = AccountService(db_session, settings)
        user = await service.signup(data.email, data.password, data.display_name)
        token, ttl = service.issue_token(user)
        return SignupRead(user=UserRead.model_validate(user), access_token=token, expires_in=ttl)

    @post("/login", status_code=200)
    async def login(
        self, data: LoginRequest, request: Request, db_session: AsyncSession, settings: Settings, redis: Redis
    ) -> TokenRead:
        """An access token; failed log-ins are throttled per account and per IP (429 past the limit)."""
        service = AccountService(db_session, settings, redis)
        user = await service.log_in(data.email, data.password, client_ip(request))
        token, ttl = service.issue_token(user)
        return TokenRead(access_token=token, expires_in=ttl)

    @post("/logout", status_code=204)
    async def logout(
        self, request: Request, current_user: User, db_session: AsyncSession, settings: Settings, redis: Redis
    ) -> None:
        """Revoke the access token this request carries: it is refused from now on, until it expires."""
        credential = request.headers["authorization"].partition(" ")[2].strip()
        await AccountService(db_session, settings, redis).revoke_token(credential)


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]

    @get("/")
    async def me(self, current_user: User) -> UserRead:
        return UserRead.model_validate(current_user)

    @post("/api-keys", status_code=201, guards=[session_only])
    async def create_api_key(
        self, data: ApiKeyCreate, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> ApiKeyCreated:
        row, key = await AccountService(db_session, settings).create_api_key(current_user, data.name)
        return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)

    @get("/api-keys", guards=[session_only])
    async def list_api_keys(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[ApiKeyRead]:
        """The caller's keys (never the keys themselves), newest first, one page at a time."""
        rows, next_cursor = await AccountService(db_session, settings).list_api_keys(
            current_user, limit, cursor
        )
        return Page(data=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=next_cursor)

    @delete("/api-keys/{key_id:uuid}", status_code=204, guards=[session_only])
    async def revoke_api_key(
        self, key_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> None:
        await AccountService(db_session, settings).revoke_api_key(current_user, key_id)


class AdminUserController(Controller):
    path = "/api/admin/users"
    tags = ["admin"]

    @get("/")
    async def search_users(
        self,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
        q: str | None = Parameter(default=None, max_length=320),
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[UserRead]:
        """Accounts, newest first; `q` matches part of the e-mail, handle or display name."""
        rows, next_cursor = await AccountService(db_session, settings).search_users(q, limit, cursor)
        return Page(data=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor)

    @patch("/{user_id:uuid}")
    async def set_plan(
        self,
        user_id: uuid.UUID,
        data: PlanUpdate,
        site_admin: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> UserRead:
        user = await AccountService(db_session, settings).set_plan(user_id, data.plan)
        return UserRead.model_validate(user)


@get("/health", tags=["health"])
async def health(state: State) -> Response:
    """The process is alive: 200, or 503 while an embedded server of `gptstore serve` is down (it is
    being restarted; if that fails the process exits). An external database or Redis that is down is
    `/ready`'s concern, not this process's health."""
    down = servers_down(state.settings.data_dir)
    if down:
        failing = ", ".join(f"embedded {name} {what}" for name, what in sorted(down.items()))
        return problem(503, f"Not healthy ({failing})", checks=down)
    return Response({"status": "ok"})


@get("/ready", tags=["health"])
async def ready(state: State) -> Response:
    """The database and Redis answer and the schema is at the migration head (`migrations`: else
    `behind`, or `ahead` when a newer version of gptstore migrated it)."""
    checks: dict[str, str] = {}
    try:
        async with state.db.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        schema, _ = await migrate.schema_state(state.db.engine)
        checks["migrations"] = "ok" if schema == "current" else schema  # behind, or ahead (a newer version's)
    except Exception as exc:  # readiness reports failures instead of raising them
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis: Redis = state.redis
        await redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return Response({"status": "ready", "checks": checks})
    failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem(503, f"Not ready ({failing})", checks=checks)


route_handlers = [AuthController, MeController, AdminUserController, health, ready]
