"""The builder's Tools page in Chromium: what a server lists cannot stretch it sideways."""

from __future__ import annotations

import uuid

from core.db import Database, create_engine
from tests.web import test_builder_browser as kit
from tests.web.conftest import _in_thread
from tests.web.test_builder_browser import Builders, _draft
from tools.models import GptMcpServer

builders = kit.builders  # the fixtures of the builder's browser tests: servers, a signed-in page
offline_page = kit.offline_page


def _with_wordy_mcp_server(builders: Builders, gpt_id: str) -> None:
    """An MCP server row as saving one stores it, its tool described by one unbroken 3,000-character word."""

    async def add() -> None:
        db = Database(create_engine(builders.settings.database_url, pool_size=1))
        async with db.session_scope() as session:
            tool = {"name": "wordy", "description": "D" * 3000, "input_schema": {"type": "object"}}
            session.add(
                GptMcpServer(
                    gpt_id=uuid.UUID(gpt_id),
                    server_label="wordy",
                    server_url="https://mcp.example.com/" + "p" * 300,
                    tools=[tool],
                    require_approval="never",
                )
            )
        await db.dispose()

    _in_thread(add())


def test_a_long_unbroken_tool_description_wraps(offline_page, builders):
    page = offline_page
    gpt_id = _draft(builders, name="Wordy Tools")
    _with_wordy_mcp_server(builders, gpt_id)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/builder/{gpt_id}/tools")
    assert page.get_by_text("wordy", exact=True).count() >= 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the Tools page scrolls sideways ({width} px wide)"
