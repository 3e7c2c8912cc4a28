"""The GPT's MCP tool `ask` with the GPT's own tools: an MCP client cannot approve a call, so a call that
needs approval ends the answer with the note /v1 gives, and nothing is left waiting in the conversation."""

from __future__ import annotations

from store.openai_ids import conversation_key
from tests.factories import auth_headers, create_user
from tests.fake_openai import tool_call
from tests.store.test_mcp_server import api_key, mcp_session, running
from tests.tools.chatkit import create_tool_gpt, publish_and_start


async def test_ask_says_why_it_stopped_before_a_call_that_needs_approval(
    tool_settings, db, redis, creator_headers, tools_api, fake_openai, session
):
    user = await create_user(session, tool_settings)
    key = await api_key(session, tool_settings, user)
    async with running(tool_settings, db, redis) as (app, client):
        gpt_id = await create_tool_gpt(client, creator_headers, tools_api)
        await publish_and_start(client, creator_headers, gpt_id)
        fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}))

        async with mcp_session(app, gpt_id, key) as mcp:
            asked = await mcp.call_tool("ask", {"question": "Book Oslo"})

        assert not asked.is_error
        answer = asked.structured_content["answer"]
        assert "Stopped before calling createTrip on 127.0.0.1" in answer and "approval" in answer
        assert not [r for r in tools_api.requests if r.method == "POST"]
        conversation = conversation_key(asked.structured_content["conversation_id"])
        listed = await client.get(
            f"/api/conversations/{conversation}/messages", headers=auth_headers(user, tool_settings)
        )
        [reply] = [m for m in listed.json()["data"] if m["role"] == "assistant"]
        assert reply["status"] == "completed" and reply["pending_call"] is None and reply["content"] == answer
