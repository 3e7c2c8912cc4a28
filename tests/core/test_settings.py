import asyncio
import socket

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pydantic import ValidationError

from core.cli import main
from core.db import create_engine
from core.settings import Settings, get_settings
from tests.conftest import _recreate_database, migrated_database

REMOTE = "postgresql+asyncpg://gptstore:pw@db.example.com:5432/gptstore"


def test_a_production_database_needs_a_real_secret(tmp_path):
    with pytest.raises(ValidationError, match="GPTSTORE_SECRET_KEY must be set"):
        Settings(database_url=REMOTE, data_dir=tmp_path)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(database_url=REMOTE, secret_key="changeme", data_dir=tmp_path)
    assert Settings(database_url=REMOTE, secret_key="s" * 40, data_dir=tmp_path).secret() == "s" * 40


def test_the_embedded_default_generates_and_keeps_a_secret(tmp_path):
    first = Settings(data_dir=tmp_path).secret()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


async def run_cli(url: str, redis_url: str, tmp_path, monkeypatch, *commands: list[str]) -> list:
    """Each of `commands` (`gptstore` arguments; "{port}" becomes a free port) against the database `url`."""
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", redis_url)
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = str(probe.getsockname()[1])
        return [
            await asyncio.to_thread(CliRunner().invoke, main, [arg.replace("{port}", port) for arg in args])
            for args in commands
        ]
    finally:
        get_settings.cache_clear()


async def test_serve_refuses_an_external_database_that_is_behind(server_urls, tmp_path, monkeypatch):
    url = await _recreate_database(server_urls[0], "gptstore_behind_check")
    [result] = await run_cli(url, server_urls[1], tmp_path, monkeypatch, ["serve", "--port", "{port}"])
    assert result.exit_code == 1
    assert "gptstore db upgrade" in result.output


async def test_serve_refuses_a_database_migrated_by_a_newer_version_saying_so(
    server_urls, migrated_template, tmp_path, monkeypatch
):
    """Not "behind: run gptstore db upgrade", which cannot locate a revision it does not know; nor does
    `gptstore db upgrade` end in a traceback."""
    url = await migrated_database(server_urls[0], "gptstore_ahead_check", migrated_template)
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_a_newer_version'"))
    await engine.dispose()
    results = await run_cli(
        url, server_urls[1], tmp_path, monkeypatch, ["serve", "--port", "{port}"], ["db", "upgrade"]
    )
    for result in results:  # not a traceback of alembic's "Can't locate revision"
        assert result.exit_code == 1, result.output
        assert "0099_from_a_newer_version" in result.output and "newer version of gptstore" in result.output
        assert "db upgrade" not in result.output
