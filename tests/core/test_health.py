import os

import sqlalchemy as sa

from core.db import Database
from tests.asgi import app_client_for
from tests.conftest import _drop_database, migrated_database


async def test_health_and_ready(client):
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


async def test_openapi_schema_is_served(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/auth/signup" in response.json()["paths"]


async def test_ready_tells_a_schema_behind_from_one_newer_than_this_version(
    server_urls, migrated_template, settings, redis
):
    """A database migrated by a newer version (a revision this one does not know, as after rolling the
    app back) is not "behind": `gptstore db upgrade` could do nothing for it."""
    name = f"gptstore_ready_{os.getpid()}"
    url = await migrated_database(server_urls[0], name, migrated_template)
    db = Database.from_settings(settings, url)
    try:
        async with app_client_for(settings, db=db, redis=redis) as client:
            for revision, state in (
                ("0032_mcp_server_credentials", "behind"),
                ("0099_from_a_newer_version", "ahead"),
            ):
                async with db.session_scope() as session:
                    await session.execute(
                        sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                    )
                ready = await client.get("/ready")
                assert ready.status_code == 503
                assert ready.json()["checks"]["migrations"] == state, ready.json()
    finally:
        await db.dispose()
        await _drop_database(server_urls[0], name)
