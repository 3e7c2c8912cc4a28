"""Alembic environment: async engine, full metadata of every context."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import connect_or_unreachable
from core.migrate import include_object
from core.registry import metadata
from core.settings import get_settings

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    if not url:
        raise SystemExit("No database URL: set GPTSTORE_DATABASE_URL or use `gptstore db upgrade`.")
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        await connection.run_sync(_configure)
        return
    engine = create_async_engine(_url())
    sa.event.listen(engine.sync_engine, "do_connect", connect_or_unreachable)  # an outage reads as one
    async with engine.connect() as conn:
        await conn.run_sync(_configure)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run())
