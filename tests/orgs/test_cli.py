"""`gptstore orgs set-plan`: a site operator gives an organisation the `team` plan."""

import asyncio
import uuid

import sqlalchemy as sa
from click.testing import CliRunner

from core.cli import main
from core.db import create_engine
from core.settings import get_settings
from orgs.models import Organization


def _run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_orgs_set_plan(database_url, server_urls, tmp_path, monkeypatch):
    async def execute(statement):
        engine = create_engine(database_url, pool_size=1)
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            value = result.scalar() if result.returns_rows else None
        await engine.dispose()
        return value

    _run(execute(sa.insert(Organization).values(id=uuid.uuid4(), handle="Cli-Org", name="Cli", plan="free")))
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["orgs", "set-plan", "cli-org", "team"])
        missing = CliRunner().invoke(main, ["orgs", "set-plan", "no-such-org", "team"])
        wrong = CliRunner().invoke(main, ["orgs", "set-plan", "cli-org", "plus"])
    finally:
        get_settings.cache_clear()
        plan = _run(execute(sa.select(Organization.plan).where(Organization.handle == "Cli-Org")))
        _run(execute(sa.delete(Organization).where(Organization.handle == "Cli-Org")))
    assert result.exit_code == 0, result.output
    assert plan == "team"
    assert missing.exit_code == 1 and "No such organisation" in missing.output
    assert wrong.exit_code == 2
