"""Migration 0031: the user info (`user:password@`) of URLs stored by web imports before such URLs were
refused is removed from the files' `source_url` and names, and from the imports' URLs and pages."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from core import migrate
from core.db import create_engine
from tests.conftest import _recreate_database

DUMMIES = {"uuid": uuid.uuid4, "boolean": lambda: False, "jsonb": lambda: "[]", "json": lambda: "[]"}


async def insert(conn, table: str, **values) -> None:
    """A row of `table` at revision 0030: `values`, and a dummy for every other required column."""
    required = await conn.execute(
        sa.text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t "
            "AND is_nullable = 'NO' AND column_default IS NULL"
        ),
        {"t": table},
    )
    for name, kind in required:
        if name not in values:
            if "timestamp" in kind:
                values[name] = datetime.now(UTC)
            elif kind in ("integer", "bigint", "smallint", "double precision", "real", "numeric"):
                values[name] = 0
            else:
                values[name] = DUMMIES.get(kind, lambda: uuid.uuid4().hex[:8])()
    kinds = dict((await conn.execute(
        sa.text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t"),
        {"t": table},
    )).all())  # fmt: skip
    columns = ", ".join(values)
    params = ", ".join(f"CAST(:{n} AS jsonb)" if kinds.get(n) == "jsonb" else f":{n}" for n in values)
    await conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)


async def test_stored_passwords_leave_source_urls_names_and_imports(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_migration_0031")
    await asyncio.to_thread(migrate.upgrade, url, "0030_script_boundaries")
    engine = create_engine(url, pool_size=1)
    user, dataset, file, web = (uuid.uuid4() for _ in range(4))
    secret = "http://alice:S3cretPw@example.com:8080/Docs/a.txt"
    try:
        async with engine.begin() as conn:
            await insert(conn, "user_account", id=user, email="a@example.com")
            await insert(conn, "dataset", id=dataset, owner_id=user, name="D")
            await insert(
                conn, "knowledge_file", id=file, dataset_id=dataset, owner_id=user,
                filename="alice:s3cretpw@example.com:8080_Docs_a.txt", sha256="0" * 64, source_url=secret,
            )  # fmt: skip
            await insert(
                conn, "web_import", id=web, dataset_id=dataset, owner_id=user,
                urls=json.dumps([secret, "https://example.com/b"]),
            )  # fmt: skip
            await insert(conn, "web_page", id=uuid.uuid4(), import_id=web, url=secret)
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url, pool_size=1)
        async with engine.connect() as conn:
            name, source = (
                await conn.execute(sa.text("SELECT filename, source_url FROM knowledge_file"))
            ).one()
            urls = await conn.scalar(sa.text("SELECT urls FROM web_import"))
            pages = list(await conn.scalars(sa.text("SELECT url FROM web_page")))
        clean = "http://example.com:8080/Docs/a.txt"
        assert (name, source) == ("example.com:8080_Docs_a.txt", clean)
        assert urls == [clean, "https://example.com/b"] and pages == [clean]
    finally:
        await engine.dispose()
