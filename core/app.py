"""The app factory: mounts the contexts' routes on one Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from typing import Any, Literal

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.plugins.pydantic import PydanticPlugin
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis
from saq import CronJob

from core import apidocs, openapi
from core import routes as core_routes
from core.allow import complete_allow
from core.db import Database
from core.deps import close_request_session, dependencies
from core.errors import exception_handlers
from core.guard import request_guard
from core.jobs import build_worker, create_queue
from core.openai_errors import with_openai_errors
from core.redis import redis_from_settings
from core.settings import Settings, get_settings
from core.storage import storage_of

Service = Literal["all", "builder", "store"]
logger = logging.getLogger("gptstore.access")


def _header_list(name: str) -> list[str]:
    lines = resources.files("core").joinpath("data", name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@cache
def cors_headers() -> list[str]:
    """The request headers a cross-origin browser may send (`data/cors_headers.txt`): ours and those of the
    official OpenAI and MCP SDKs (`X-Stainless-*`, `OpenAI-*`, `Mcp-*`), so their browser clients work."""
    return _header_list("cors_headers.txt")


@cache
def cors_expose_headers() -> list[str]:
    """The response headers a cross-origin script may read (`data/cors_expose_headers.txt`): `Retry-After`,
    `WWW-Authenticate`, `Mcp-Session-Id` and a download's name and terms (`Link`, `Dataset-*`)."""
    return _header_list("cors_expose_headers.txt")


def _context_routes(service: Service, extra: list[Any]) -> list[Any]:
    from builder import routes as builder_routes
    from orgs import routes as orgs_routes
    from retrieval import batch_routes, import_routes
    from retrieval import dataset_routes as retrieval_dataset_routes
    from retrieval import routes as retrieval_routes
    from store import (
        conversations_api,
        embed_routes,
        feedback_routes,
        openai_api,
        responses_api,
    )
    from store import dataset_routes as store_dataset_routes
    from store import routes as store_routes
    from tools import approval_routes
    from tools import routes as tools_routes

    handlers: list[Any] = [*core_routes.route_handlers, *orgs_routes.route_handlers, apidocs.assets_router()]
    if service in ("all", "builder"):
        handlers += (
            builder_routes.route_handlers
            + retrieval_routes.route_handlers
            + retrieval_dataset_routes.route_handlers
            + import_routes.route_handlers
            + batch_routes.route_handlers
            + tools_routes.route_handlers
        )
    if service in ("all", "store"):
        handlers += (
            store_routes.route_handlers
            + approval_routes.route_handlers
            + feedback_routes.route_handlers
            + openai_api.route_handlers
            + responses_api.route_handlers
            + conversations_api.route_handlers
            + embed_routes.route_handlers
            + store_dataset_routes.route_handlers
        )
    from web.routes import page_routes

    return handlers + extra + page_routes(service)


def job_functions() -> list[tuple[str, Any]]:
    from retrieval import imports as retrieval_imports
    from retrieval import jobs as retrieval_jobs
    from retrieval import orphans
    from store import jobs as store_jobs

    return [
        *retrieval_jobs.functions,
        *retrieval_imports.functions,
        *orphans.functions,
        *store_jobs.functions,
    ]


def cron_jobs(settings: Settings) -> list[CronJob]:
    from retrieval import jobs as retrieval_jobs
    from retrieval import orphans
    from store import jobs as store_jobs

    seconds = max(1, settings.counters_flush_seconds)
    flush = f"* * * * * */{seconds}" if seconds < 60 else f"*/{max(1, seconds // 60)} * * * *"
    resume = f"* * * * * */{max(1, min(59, settings.ingestion_lease_seconds // 2))}"
    return [
        # Often enough that a killed worker's files resume about one lease after it died.
        CronJob(retrieval_jobs.resume_ingestion, cron=resume, unique=True),
        CronJob(orphans.collect_orphan_uploads, cron="17 * * * *", unique=True),  # hourly
        CronJob(store_jobs.flush_counters, cron=flush, unique=True),
    ]


def _access_log(app: ASGIApp) -> ASGIApp:
    """One structured log line per request: method, path, status, duration."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                },
            )

    return middleware


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    redis: Redis | None = None,
    service: Service | None = None,
) -> Litestar:
    """Build the app; `db` and `redis` may be handed in (tests), else they come from the settings."""
    settings = settings or get_settings()
    service = service or settings.service
    from web.errors import negotiated
    from web.templates import template_config

    # Each GPT as an MCP server (store.mcp_server): an ASGI mount whose SDK session manager runs with the app.
    mounts: list[Any] = []
    lifespans: list[Any] = []
    if service in ("all", "store"):
        from store.mcp_server import McpMount

        mcp_mount = McpMount(settings)
        mounts.append(mcp_mount.handler())
        lifespans.append(mcp_mount.lifespan())

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        # The state's settings, not the factory's: an app may be started again with new ones (the tests
        # reuse one app per configuration, each test with its own data dir, database session and Redis).
        settings = state.settings
        storage = storage_of(settings)  # a storage setting that cannot work stops the start here
        own_db = state.get("db") is None
        own_redis = state.get("redis") is None
        if own_db:
            if not settings.database_url:
                raise RuntimeError(
                    "No database URL; start through `gptstore serve` or set GPTSTORE_DATABASE_URL"
                )
            state.db = Database.from_settings(settings, settings.database_url)
        if own_redis:
            if not settings.redis_url:
                raise RuntimeError("No Redis URL; start through `gptstore serve` or set GPTSTORE_REDIS_URL")
            state.redis = redis_from_settings(settings)
        state.queue = create_queue(state.redis)
        worker_task = None
        if settings.run_worker:
            worker = build_worker(
                state.queue,
                job_functions(),
                cron_jobs(settings),
                {"settings": settings, "db": state.db, "redis": state.redis, "queue": state.queue},
                in_process=True,
                concurrency=settings.worker_concurrency,
            )
            worker_task = asyncio.create_task(worker.start())
        try:
            yield
        finally:
            if worker_task is not None:
                await worker.stop()
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker_task
            await storage.drain()  # deletes still on their way to a bucket
            if own_redis:
                await state.redis.aclose()
            if own_db:
                await state.db.dispose()

    app = Litestar(
        route_handlers=_context_routes(service, mounts),
        dependencies=dependencies,
        exception_handlers=negotiated(with_openai_errors(exception_handlers)),  # HTML error pages (web/)
        before_request=complete_allow,
        after_exception=[close_request_session],  # a dependency that raised leaves it open (core.deps)
        plugins=[PydanticPlugin(validate_strict=None)],  # type: ignore[arg-type]  # field-level `strict` holds
        on_startup=[lambda app: openapi.install(app, app.state.settings)],
        template_config=template_config(),
        lifespan=[lifespan, *lifespans],
        state=State({"settings": settings, "db": db, "redis": redis, "service": service}),
        middleware=[lambda app: _access_log(app), request_guard()],
        cors_config=CORSConfig(
            allow_origins=["*"], allow_headers=cors_headers(), expose_headers=cors_expose_headers()
        ),
        openapi_config=apidocs.openapi_config(),
        # the guard (core.guard) bounds each route kind; this is the outer bound of the largest kind
        request_max_body_size=max(
            settings.max_file_bytes + settings.max_request_body_bytes, settings.max_batch_bytes
        ),
        logging_config=None,  # logs are configured once, as JSON lines (core.logs)
        debug=False,
    )
    return app


def create_app_from_env() -> Litestar:
    """Uvicorn factory for multi-worker runs: settings (with URLs) come from the environment. Each worker
    is a spawned process that inherits no logging set-up: its logs become JSON lines here (core.logs)."""
    from core.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
