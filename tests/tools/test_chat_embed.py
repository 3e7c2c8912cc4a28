"""Tools in the embedded chat: an anonymous visitor's answer runs the GPT's action (streamed and not), and a
call that needs approval is not run (nobody can approve it), as on /v1."""

from __future__ import annotations

from tests.fake_openai import text, tool_call
from tests.tools.chatkit import create_tool_gpt, publish_and_start, sse_events
from tests.web.test_embed import open_window


async def visitor(client, creator_headers, tools_api) -> tuple[str, str]:
    gpt_id = await create_tool_gpt(client, creator_headers, tools_api)
    await publish_and_start(client, creator_headers, gpt_id)  # published by link: embeddable
    response, token = await open_window(client, gpt_id)
    assert response.status_code == 200 and token, response.text
    return gpt_id, token


async def test_a_visitor_answer_runs_the_gpts_action(tool_client, creator_headers, tools_api, fake_openai):
    gpt_id, token = await visitor(tool_client, creator_headers, tools_api)
    fake_openai.script(tool_call("listTrips", {"destination": "Lisbon"}), text("Your Lisbon trip is 4 days."))

    response = await tool_client.post(
        f"/api/embed/{gpt_id}/messages",
        json={"content": "Trips to Lisbon?"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["content"] == "Your Lisbon trip is 4 days."
    assert tools_api.last.path == "/trips" and tools_api.last.query == {"destination": "Lisbon"}
    # Nothing of the visitor's request reaches the action: no bearer token, no cookie.
    assert token not in str(tools_api.last.headers) and not tools_api.last.cookies


async def test_the_stream_shows_calls_and_a_consequential_call_waits_for_nobody(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id, token = await visitor(tool_client, creator_headers, tools_api)
    before = len(tools_api.requests)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo", "days": 3}}), text("unused"))

    response = await tool_client.post(
        f"/api/embed/{gpt_id}/messages",
        json={"content": "Book Oslo for 3 days"},
        headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
    )

    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    done = dict(events)["done"]
    assert len(tools_api.requests) == before  # createTrip (a POST: consequential) never ran
    assert "createTrip" in done["content"] and "approv" in done["content"].lower()


async def test_a_visitor_is_not_told_to_allow_the_call_for_good(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id, token = await visitor(tool_client, creator_headers, tools_api)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}))

    response = await tool_client.post(
        f"/api/embed/{gpt_id}/messages",
        json={"content": "Book Oslo"},
        headers={"Authorization": f"Bearer {token}"},
    )

    content = response.json()["content"]
    assert "Stopped before calling createTrip" in content and "signed-in user" in content
    assert "Allow it for good" not in content  # an anonymous visitor's grant could never apply here
