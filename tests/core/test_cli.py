import asyncio

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
