"""Pooled connections: one the server closed is replaced without failing the request, one idle for long
is pinged first, and one given back a moment ago is used without a round trip (core.db._alive_check,
instead of `pool_pre_ping`'s three round trips on every checkout)."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from core import db as core_db
from core.db import create_engine


@pytest.fixture
async def pool_of_one(database_url: str):
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text("SELECT pg_backend_pid()"))


async def _terminate(engine, pid: int) -> None:
    async with engine.connect() as killer:
        await killer.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})


async def _last_statement(engine, pid: int) -> str:
    """What the backend `pid` ran last (pg_stat_activity), asked on a connection of another pool."""
    async with engine.connect() as other:
        query = sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid")
        return await other.scalar(query, {"pid": pid})


async def test_a_connection_the_server_closed_is_replaced(pool_of_one, engine, monkeypatch):
    monkeypatch.setattr(core_db, "ALIVE_BYPASS_SECONDS", 3600.0)  # no ping: the closed socket is seen
    async with pool_of_one.connect() as conn:
        pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        pooled = (await conn.get_raw_connection()).driver_connection
    await _terminate(engine, pid)
    deadline = time.monotonic() + 30
    while not pooled.is_closed() and time.monotonic() < deadline:  # noqa: ASYNC110 (asyncpg has no event)
        await asyncio.sleep(0.01)  # until the loop has read the server's goodbye
    assert pooled.is_closed()
    async with pool_of_one.connect() as conn:
        assert await conn.scalar(sa.text("SELECT 1")) == 1
        assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid


async def test_an_idle_connection_is_pinged_and_replaced_when_dead(pool_of_one, engine, monkeypatch):
    monkeypatch.setattr(core_db, "ALIVE_BYPASS_SECONDS", -1.0)  # every pooled connection counts as idle
    pid = await _backend_pid(pool_of_one)
    await _terminate(engine, pid)  # at once, whether or not this side has seen the socket close yet
    async with pool_of_one.connect() as conn:
        assert await conn.scalar(sa.text("SELECT 1")) == 1
        assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid


@pytest.mark.parametrize(("window", "pinged"), [(3600.0, False), (-1.0, True)])
async def test_a_recently_used_connection_is_not_pinged(pool_of_one, engine, monkeypatch, window, pinged):
    monkeypatch.setattr(core_db, "ALIVE_BYPASS_SECONDS", window)
    async with pool_of_one.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")  # no BEGIN/ROLLBACK around it
        pid = await conn.scalar(sa.text("SELECT pg_backend_pid() /* marker */"))
    async with pool_of_one.connect() as conn:  # checked out again: pinged or not
        last = await _last_statement(engine, pid)
        assert ("marker" not in last) is pinged
        assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) == pid
