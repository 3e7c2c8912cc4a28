"""Helpers of the race tests: requests sent at once to an app on real, separate connections."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from redis.asyncio import Redis

from core.db import Database
from core.models import User
from core.settings import Settings
from store.models import Listing
from tests.asgi import app_client_for
from tests.factories import create_user
from tests.store.factories import create_published_gpt

DATA = Path(__file__).parent.parent / "data"
PARALLEL = 8


@asynccontextmanager
async def running_app(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on its own engine, its pool already holding PARALLEL open connections
    (opening them one by one staggers the requests enough to hide a race)."""
    async with app_client_for(settings, redis=redis) as client:
        assert statuses(await together([client.get("/ready") for _ in range(PARALLEL)])) == {200: PARALLEL}
        yield client


async def together(requests: list[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Send every request at once and wait for all answers."""
    return list(await asyncio.gather(*requests))


def statuses(responses: list[httpx.Response]) -> Counter:
    return Counter(r.status_code for r in responses)


async def new_user(db: Database, settings: Settings, **overrides: Any) -> User:
    async with db.session_scope() as session:
        return await create_user(session, settings, **overrides)


async def count(db: Database, query: sa.Select) -> int:
    async with db.session_scope() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def stored_blobs(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.data_dir / "files").rglob("*") if p.is_file())


async def new_gpt(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/gpts", json={"name": "Canteen"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(client, gpt_id: str, headers, content: bytes, filename: str = "notes.txt"):
    return client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (filename, content, "text/plain")}, headers=headers
    )


async def published(race_db: Database, settings: Settings, **overrides: Any) -> tuple[User, Listing]:
    creator = await new_user(race_db, settings, plan="plus")
    async with race_db.session_scope() as session:
        listing = await create_published_gpt(session, creator, **overrides)
    return creator, listing
