import asyncio
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.cli import main
from core.db import create_engine
from core.models import User
from core.settings import get_settings


def _run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_users_set_plan(database_url, server_urls, tmp_path, monkeypatch):
    async def insert() -> None:
        engine = create_engine(database_url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(User).values(
                    email="cli@example.com",
                    password_hash="x",
                    display_name="Cli",
                    handle="cli-user",
                    plan="free",
                )
            )
        await engine.dispose()

    async def plan_and_cleanup() -> str:
        engine = create_engine(database_url, pool_size=1)
        async with engine.begin() as conn:
            plan = await conn.scalar(sa.select(User.plan).where(User.email == "cli@example.com"))
            await conn.execute(sa.delete(User).where(User.email == "cli@example.com"))
        await engine.dispose()
        return plan

    _run(insert())
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["users", "set-plan", "cli@example.com", "team"])
        missing = CliRunner().invoke(main, ["users", "set-plan", "nobody@example.com", "team"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert _run(plan_and_cleanup()) == "team"
    assert missing.exit_code == 1 and "No account" in missing.output


def _invoke(args: list[str], env: dict[str, str], tmp_path):
    """The command under `env` (GPTSTORE_* variables of this process left out), settings read afresh."""
    clean = {k: None for k in os.environ if k.startswith("GPTSTORE_")}
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, args, env={**clean, "GPTSTORE_DATA_DIR": str(tmp_path / "d"), **env})
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"GPTSTORE_DEFAULT_PLAN": "gold"}, "Error: GPTSTORE_DEFAULT_PLAN: must be 'free', 'plus' or 'team'"),
        ({"GPTSTORE_DB_POOL_SIZE": "abc"}, "Error: GPTSTORE_DB_POOL_SIZE: must be a valid integer"),
        ({"GPTSTORE_DB_POOL_SIZE": "0"}, "Error: GPTSTORE_DB_POOL_SIZE: must be greater than or equal to 1"),
        ({"GPTSTORE_LLM_PROVIDER": "foo"}, "Error: GPTSTORE_LLM_PROVIDER: must be 'auto', 'openai' or"),
        ({"GPTSTORE_SMTP_SECURITY": "ssl"}, "Error: GPTSTORE_SMTP_SECURITY: must be 'starttls', 'tls' or"),
        ({"GPTSTORE_CATEGORIES": "notjson"}, "Error: GPTSTORE_CATEGORIES: must be a JSON list"),
        (
            {"GPTSTORE_PREVIOUS_SECRET_KEYS": "abc"},
            "Error: GPTSTORE_PREVIOUS_SECRET_KEYS: must be a JSON list",
        ),
        ({"GPTSTORE_LOG_LEVEL": "LOUD"}, "Error: GPTSTORE_LOG_LEVEL: must be one of DEBUG, INFO"),
        ({"GPTSTORE_DATABASE_URL": "foo"}, "Error: GPTSTORE_DATABASE_URL: must be a PostgreSQL URL"),
        ({"GPTSTORE_REDIS_URL": "notaurl"}, "Error: GPTSTORE_REDIS_URL: must be a Redis URL"),
        (
            {"GPTSTORE_DATA_DIR": "/etc/hostname"},
            "Error: GPTSTORE_DATA_DIR: /etc/hostname is not a directory",
        ),
        (
            {"GPTSTORE_DATA_DIR": "/etc/hostname/sub"},
            "Error: GPTSTORE_DATA_DIR: /etc/hostname is not a directory",
        ),
        (
            {"GPTSTORE_ACTIONS_ALLOWED_HOSTS": '["10.0.0.0/33"]'},
            "Error: GPTSTORE_ACTIONS_ALLOWED_HOSTS: not a host name, IP address or CIDR network: 10.0.0.0/33",
        ),
        (
            {"GPTSTORE_ACTIONS_ALLOWED_HOSTS": "wiki.corp.example,not a host!"},
            "Error: GPTSTORE_ACTIONS_ALLOWED_HOSTS: not a host name, IP address or CIDR network: not a host!",
        ),
        (
            {"GPTSTORE_RERANK_PROVIDER": "http"},
            "Error: GPTSTORE_RERANK_BASE_URL must be set when GPTSTORE_RERANK_PROVIDER is http",
        ),
    ],
)
@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "8000"], ["worker"]])
def test_a_wrong_setting_is_one_error_line_naming_it(tmp_path, env, line, command):
    result = _invoke(command, env, tmp_path)
    assert result.exit_code == 1
    assert line in result.output.splitlines()[0]
    assert "Traceback" not in result.output


def test_every_wrong_setting_gets_its_line(tmp_path):
    result = _invoke(
        ["db", "upgrade"], {"GPTSTORE_DEFAULT_PLAN": "gold", "GPTSTORE_LOG_LEVEL": "LOUD"}, tmp_path
    )
    assert result.exit_code == 1
    assert {line.split(":")[1].strip() for line in result.output.splitlines()} == {
        "GPTSTORE_LOG_LEVEL",
        "GPTSTORE_DEFAULT_PLAN",
    }


UNREACHABLE = {
    "GPTSTORE_DATABASE_URL": "postgresql+asyncpg://gptstore:pw@127.0.0.1:9/gptstore",  # nothing listens
    "GPTSTORE_SECRET_KEY": "s" * 40,
}


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "8000"], ["worker"]])
def test_an_unreachable_database_at_start_is_one_line(tmp_path, server_urls, command):
    result = _invoke(command, {**UNREACHABLE, "GPTSTORE_REDIS_URL": server_urls[1]}, tmp_path)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(
        "Error: GPTSTORE_DATABASE_URL: the database is busy or cannot be reached ("
    )
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_an_unreachable_redis_at_start_is_one_line(tmp_path, database_url):
    env = {"GPTSTORE_DATABASE_URL": database_url, "GPTSTORE_REDIS_URL": "redis://127.0.0.1:9/0"}
    result = _invoke(["worker"], env, tmp_path)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: GPTSTORE_REDIS_URL: the queue and cache server (Redis) is busy")


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_serve_refuses_a_port_out_of_range(tmp_path, port):
    result = _invoke(["serve", "--port", port], {}, tmp_path)
    assert result.exit_code == 2
    assert "is not in the range 1<=x<=65535" in result.output
    assert not (tmp_path / "d").exists()


def test_reindex_of_an_unknown_dataset_says_so(database_url, server_urls, tmp_path):
    env = {"GPTSTORE_DATABASE_URL": database_url, "GPTSTORE_REDIS_URL": server_urls[1]}
    result = _invoke(["reindex", "--gpt", "00000000-0000-0000-0000-000000000001"], env, tmp_path)
    assert result.exit_code == 1, result.output
    assert "Error: No such dataset or GPT" in result.output
