"""What a benchmark runs against: a fresh, migrated database and a Redis, embedded unless URLs are given.

GPTSTORE_BENCH_DATABASE_URL is an admin URL of a server on which a `<name>_<pid>` database may be created
and dropped; GPTSTORE_BENCH_REDIS_URL a Redis whose `gptstore:cache:*` keys the benchmark may change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core import migrate
from core.db import create_engine
from core.embedded import EmbeddedServers


@dataclass
class BenchServers:
    database_url: str  # the fresh database, migrated to head
    redis_url: str | None
    pids: dict[str, int] = field(default_factory=dict)  # "postgres" / "redis": pids of embedded servers


@asynccontextmanager
async def bench_servers(
    workdir: Path, name: str, *, redis: bool = True, postgres_options: dict[str, str] | None = None
) -> AsyncIterator[BenchServers]:
    """A new database `<name>_<pid>`, dropped afterwards; embedded servers in `workdir` for unset URLs
    (`postgres_options`: `-c` settings of an embedded PostgreSQL)."""
    admin_url = os.environ.get("GPTSTORE_BENCH_DATABASE_URL")
    redis_url = os.environ.get("GPTSTORE_BENCH_REDIS_URL") if redis else None
    embedded = EmbeddedServers(
        workdir / "servers",
        postgres=not admin_url,
        redis=redis and not redis_url,
        postgres_options=postgres_options or {},
    )
    pids: dict[str, int] = {}
    if embedded.postgres or embedded.redis:
        embedded.start()
        admin_url = admin_url or embedded.database_url
        redis_url = redis_url or embedded.redis_url
        names = [n for n in ("postgres", "redis") if getattr(embedded, n)]
        pids = dict(zip(names, embedded.pids, strict=True))
    database = f"{name}_{os.getpid()}"
    admin = create_engine(admin_url, pool_size=1)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            await conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        url = sa.make_url(admin_url).set(database=database).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate.upgrade, url)
        yield BenchServers(url, redis_url, pids)
    finally:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await admin.dispose()
        embedded.stop()


@dataclass
class BenchApp:
    """The app on the bench servers, with one signed-up account (`headers` carry its token)."""

    client: Any
    headers: dict[str, str]
    db: Any
    redis: Any
    settings: Any


async def bench_app(stack: AsyncExitStack, servers: BenchServers, settings: Any) -> BenchApp:
    """`create_app` on `servers` through the in-process ASGI client; closed with `stack`."""
    from core.app import create_app
    from core.db import Database
    from core.redis import create_redis
    from tests.asgi import app_client

    settings = settings.model_copy(update={"database_url": servers.database_url})
    engine = create_engine(servers.database_url, pool_size=2)
    stack.push_async_callback(engine.dispose)
    db = Database(engine)
    redis = create_redis(servers.redis_url)
    stack.push_async_callback(redis.aclose)
    client = await stack.enter_async_context(app_client(create_app(settings, db=db, redis=redis)))
    signup = {"email": "bench@example.com", "password": "correct horse battery", "display_name": "B"}
    response = await client.post("/api/auth/signup", json=signup)
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return BenchApp(client, headers, db, redis, settings)
