"""Tools in the builder's preview: the draft's action is called, streamed and not, and a consequential call
waits for the creator's decision on the preview's own approvals route."""

from __future__ import annotations

from tests.factories import auth_headers, create_user
from tests.fake_openai import text, tool_call
from tests.tools.chatkit import create_tool_gpt, sse_events, tool_messages

STREAM = {"Accept": "text/event-stream"}


async def test_the_preview_calls_the_drafts_action(tool_client, creator_headers, tools_api, fake_openai):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    fake_openai.script(tool_call("listTrips", {"destination": "Kyoto"}), text("Kyoto, 9 days."))

    response = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/messages", json={"content": "Kyoto trips?"}, headers=creator_headers
    )

    message = response.json()["message"]
    assert message["content"] == "Kyoto, 9 days." and message["tool_calls"][0]["name"] == "listTrips"
    assert tools_api.last.query == {"destination": "Kyoto"}
    assert "Kyoto" in tool_messages(fake_openai.chat_requests[1])[0]["content"]


async def test_a_preview_call_waits_for_the_creator_then_streams_on(
    tool_client, creator_headers, tools_api, fake_openai, session, tool_settings
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked."))

    response = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "Book Oslo"},
        headers={**creator_headers, **STREAM},
    )
    done = dict(sse_events(response.text))["done"]
    assert done["message"]["status"] == "requires_approval"
    call_id = done["message"]["pending_call"]["call_id"]
    decision = {"conversation_id": done["conversation_id"], "call_id": call_id, "approve": True}
    # Only the GPT's owner can decide: for anyone else the GPT does not exist.
    stranger = auth_headers(await create_user(session, tool_settings, plan="plus"), tool_settings)
    refused = await tool_client.post(f"/api/gpts/{gpt_id}/preview/approvals", json=decision, headers=stranger)
    assert refused.status_code == 404
    assert not [r for r in tools_api.requests if r.method == "POST"]

    approved = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/approvals", json=decision, headers={**creator_headers, **STREAM}
    )

    events = sse_events(approved.text)
    assert [n for n, _ in events if n.startswith("tool_call")] == ["tool_call.started", "tool_call.ended"]
    message = dict(events)["done"]["message"]
    assert message["status"] == "completed" and message["content"] == "Booked."
    assert [r.method for r in tools_api.requests] == ["POST"]
    wrong = {**decision, "conversation_id": "00000000-0000-0000-0000-000000000000"}
    again = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/approvals", json=wrong, headers=creator_headers
    )
    assert again.status_code == 404


async def test_allowing_for_good_a_call_whose_function_was_removed_grants_nothing(
    tool_client, creator_headers, tools_api, mcp_server, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api, mcp_server)  # the GPT keeps tools
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Not booked."))
    asked = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/messages", json={"content": "Book Oslo"}, headers=creator_headers
    )
    (action,) = (await tool_client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    removed = await tool_client.delete(f"/api/gpts/{gpt_id}/actions/{action['id']}", headers=creator_headers)
    assert removed.status_code == 204
    decision = {
        "conversation_id": asked.json()["conversation_id"],
        "call_id": asked.json()["message"]["pending_call"]["call_id"],
        "approve": True,
        "always": True,
    }

    answered = await tool_client.post(
        f"/api/gpts/{gpt_id}/preview/approvals", json=decision, headers=creator_headers
    )

    assert answered.status_code == 200 and not [r for r in tools_api.requests if r.method == "POST"]
    grants = await tool_client.get(f"/api/store/gpts/{gpt_id}/tool_approvals", headers=creator_headers)
    assert grants.json()["data"] == []
