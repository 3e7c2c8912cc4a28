"""An HTTP client for the app on the test's own event loop (the database connection lives there)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app startup failed: {message}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


@asynccontextmanager
async def app_client(app, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60) as client:
            yield client


# Building the app (Litestar registering ~300 route handlers) takes 0.3-0.7 s on 2 busy cores: more than
# most tests that use it. Tests reuse one app per configuration: an idle app built for the same settings
# (the data dir aside: the app reads it from its state when it starts) is handed this test's settings,
# database and Redis in its state, and started again (its lifespan, in-process worker and MCP session
# manager run anew). An app still in use by another client of the same test is never shared.
_MAX_IDLE_APPS = 12  # ~7 MB each; the configurations used least recently go first
_idle_apps: OrderedDict[tuple, list] = OrderedDict()


def _settings_key(settings, service) -> tuple:
    """What an app captures of its settings when it is built: every setting but the data dir."""
    values = []
    for name in sorted(type(settings).model_fields):
        if name == "data_dir":
            continue
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            value = ("secret", value.get_secret_value())
        values.append((name, repr(value)))
    return (service, *values)


@asynccontextmanager
async def reused_app(settings, *, db=None, redis=None, service=None) -> AsyncIterator:
    """`create_app(settings, db=db, redis=redis, service=service)`, not started, from the idle apps of its
    configuration when there is one; it goes back to them when the block ends without an error."""
    from core.app import create_app

    key = _settings_key(settings, service)
    idle = _idle_apps.get(key)
    app = idle.pop() if idle else create_app(settings, db=db, redis=redis, service=service)
    app.state.settings, app.state.db, app.state.redis = settings, db, redis
    yield app  # an error (a failed start or stop among them) leaves the app out of the pool
    app.state.db = app.state.redis = None  # the test's connection is not kept alive past it
    _idle_apps.setdefault(key, []).append(app)
    _idle_apps.move_to_end(key)
    while sum(len(apps) for apps in _idle_apps.values()) > _MAX_IDLE_APPS:
        _idle_apps.popitem(last=False)


@asynccontextmanager
async def app_client_for(
    settings, *, db=None, redis=None, service=None, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """`app_client(create_app(settings, db=db, redis=redis, service=service))`, on a reused app."""
    async with (
        reused_app(settings, db=db, redis=redis, service=service) as app,
        app_client(app, base_url=base_url) as client,
    ):
        yield client
