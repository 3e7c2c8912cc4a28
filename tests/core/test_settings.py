import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from core.cli import main
from core.settings import Settings, get_settings
from tests.conftest import _recreate_database

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


async def test_serve_refuses_an_external_database_that_is_behind(server_urls, tmp_path, monkeypatch):
    url = await _recreate_database(server_urls[0], "gptstore_behind_check")
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        import asyncio
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = str(probe.getsockname()[1])
        result = await asyncio.to_thread(CliRunner().invoke, main, ["serve", "--port", port])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "gptstore db upgrade" in result.output
