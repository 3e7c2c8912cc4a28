"""Exhaustion under load: 200 concurrent connections on a real server with small pools get no 5xx, and a
resource held until its pool times out is answered with 503 and `Retry-After` (issue #8, kind 10)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from core.app import create_app
from core.db import Database, create_engine
from core.settings import Settings
from tests.asgi import app_client
from tests.conftest import TEST_SECRET, _drop_database, migrated_database
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt

CONCURRENCY = 200


@pytest.fixture(scope="module")
async def load_database_url(server_urls: tuple[str, str], migrated_template: str) -> AsyncIterator[str]:
    """A database of its own: the server commits, so nothing it writes may reach other tests."""
    name = f"gptstore_load_{os.getpid()}"
    yield await migrated_database(server_urls[0], name, migrated_template)
    await _drop_database(server_urls[0], name)


def small_pools(url: str, redis_url: str, tmp_path, **overrides) -> Settings:
    """Pools far smaller than the load, so requests really queue for connections."""
    fields = {
        "database_url": url,
        "redis_url": redis_url,
        "data_dir": tmp_path / "data",
        "secret_key": TEST_SECRET,
        "llm_provider": "offline",
        "db_pool_size": 3,
        "db_max_overflow": 0,
        "db_pool_timeout_seconds": 60,
        "redis_pool_size": 4,
        "redis_pool_timeout_seconds": 60,
        "rate_limit_messages_per_minute": 10 * CONCURRENCY,  # one user sends them all
    }
    return Settings(**{**fields, **overrides})


@pytest.fixture(scope="module")
async def store(load_database_url: str, server_urls, tmp_path_factory):
    """A creator with published GPTs, and a user with a bearer token."""
    settings = small_pools(load_database_url, server_urls[1], tmp_path_factory.mktemp("load"))
    db = Database(create_engine(load_database_url, pool_size=1))
    async with db.sessionmaker() as session:
        creator = await create_user(session, settings, plan="plus")
        listings = [
            await create_published_gpt(session, creator, name=f"Fjord Guide {i}", category="lifestyle")
            for i in range(5)
        ]
        user = await create_user(session, settings)
        conversations = [
            (await create_conversation(session, user, listings[i % len(listings)].gpt_id, question=None)).id
            for i in range(CONCURRENCY)
        ]
    await db.dispose()
    return settings, [listing.gpt_id for listing in listings], auth_headers(user, settings), conversations


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """The app on a real uvicorn server on a loopback port, on this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", backlog=4 * CONCURRENCY)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def burst(client: httpx.AsyncClient, requests) -> Counter:
    """Send the requests all at once; count the answers by status."""
    responses = await asyncio.gather(
        *(client.request(method, url, **kw) for method, url, kw in requests), return_exceptions=True
    )
    errors = Counter(repr(r) for r in responses if isinstance(r, Exception))
    assert not errors, errors
    for response in responses:
        if response.status_code >= 500:
            pytest.fail(f"{response.request.url.path}: {response.status_code} {response.text[:300]}")
    return Counter(r.status_code for r in responses)


async def test_200_concurrent_connections_get_no_5xx(store, redis):
    settings, gpt_ids, headers, conversations = store
    # A fresh connection per request: 200 really concurrent connections in each burst, and no reuse of
    # a connection the server closed after its keep-alive timeout.
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    async with (
        serving(create_app(settings)) as base,
        httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client,
    ):
        n = range(CONCURRENCY)
        # Distinct pages and queries: each one misses the cache and needs a database connection.
        listing = await burst(
            client, [("GET", "/api/store/gpts", {"params": {"limit": 1 + i % 100}}) for i in n]
        )
        assert listing == {200: CONCURRENCY}
        search = await burst(client, [("GET", "/api/store/gpts", {"params": {"q": f"fjord {i}"}}) for i in n])
        assert search == {200: CONCURRENCY}

        message = {"content": "Which fjord in May?"}
        chat = await burst(client, [
            ("POST", f"/api/conversations/{c}/messages", {"headers": headers, "json": message})
            for c in conversations
        ])  # fmt: skip
        assert chat == {200: CONCURRENCY}

        completion = {"messages": [{"role": "user", "content": "Which fjord in May?"}]}
        v1 = await burst(client, [
            ("POST", "/v1/chat/completions", {"headers": headers, "json": {**completion, "model": str(g)}})
            for g in (gpt_ids * CONCURRENCY)[:CONCURRENCY]
        ])  # fmt: skip
        assert v1 == {200: CONCURRENCY}


def assert_retry_later(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503


async def test_an_exhausted_database_pool_answers_503_with_retry_after(store, redis, tmp_path):
    settings = store[0]
    settings = settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_seconds": 0.2})
    app = create_app(settings)
    async with app_client(app) as client:
        async with app.state.db.engine.connect() as held:  # the pool's only connection
            await held.execute(sa.text("SELECT 1"))
            busy = await client.get("/api/store/gpts", params={"q": "held pool"})
        assert_retry_later(busy)
        assert "database connection pool" in busy.json()["detail"]
        assert (await client.get("/api/store/gpts", params={"q": "held pool"})).status_code == 200


async def test_an_exhausted_redis_pool_degrades_the_cache_and_refuses_rate_limited_work(store, redis):
    settings, gpt_ids, headers, _ = store
    settings = settings.model_copy(update={"redis_pool_size": 2, "redis_pool_timeout_seconds": 0.2})
    app = create_app(settings)
    async with app_client(app) as client:
        started = await client.post(f"/api/store/gpts/{gpt_ids[0]}/conversations", headers=headers)
        assert started.status_code == 201
        pool = app.state.redis.connection_pool
        held = [await pool.get_connection() for _ in range(settings.redis_pool_size)]
        try:
            listing = await client.get("/api/store/gpts", params={"limit": 3})
            message = await client.post(
                f"/api/conversations/{started.json()['id']}/messages", headers=headers, json={"content": "Hi"}
            )
        finally:
            for connection in held:
                await pool.release(connection)
        assert listing.status_code == 200  # a cache lookup that cannot get a connection is a miss
        assert len(listing.json()["data"]) == 3
        assert_retry_later(message)  # the rate limit fails closed
        assert "(Redis)" in message.json()["detail"]


async def test_a_database_out_of_connection_slots_answers_503(store, load_database_url, redis):
    """PostgreSQL refuses a connection past a limit (here the role's `CONNECTION LIMIT`, as it does past
    `max_connections`): `TooManyConnectionsError`, answered 503, not 500."""
    role = f"load_limited_{os.getpid()}"
    admin = create_engine(load_database_url, pool_size=1)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        await conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1'))
    url = sa.make_url(load_database_url).set(username=role).render_as_string(hide_password=False)
    holder = create_engine(url, pool_size=1)
    try:
        settings = store[0].model_copy(update={"database_url": url})
        async with holder.connect() as held, app_client(create_app(settings)) as client:
            await held.execute(sa.text("SELECT 1"))  # the role's only connection slot
            response = await client.get("/api/store/gpts", params={"q": "no slot"})
        assert_retry_later(response)
        assert "database connection slots" in response.json()["detail"]
    finally:
        await holder.dispose()
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        await admin.dispose()
