"""Tools in the store chat: the scripted LLM calls the local trips API and MCP server, streamed and not;
errors go back to the model; at most 10 calls a turn; consequential calls wait for the user's approval."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import auth_headers, create_user
from tests.fake_openai import text, tool_call, tool_calls
from tests.tools.chatkit import create_tool_gpt, publish_and_start, sse_events, tool_messages
from tests.web.test_pages import HTML, log_in

STREAM = {"Accept": "text/event-stream"}


async def ask(client, headers, conversation_id, content, *, stream=False):
    return await client.post(
        f"/api/conversations/{conversation_id}/messages",
        json={"content": content},
        headers={**headers, **(STREAM if stream else {})},
    )


async def decide(client, headers, conversation_id, call_id, approve, *, always=False, stream=False):
    return await client.post(
        f"/api/conversations/{conversation_id}/approvals",
        json={"call_id": call_id, "approve": approve, "always": always},
        headers={**headers, **(STREAM if stream else {})},
    )


async def test_a_reply_calls_the_action_and_answers_from_its_output(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("listTrips", {"destination": "Lisbon"}), text("Your Lisbon trip is 4 days."))

    response = await ask(tool_client, creator_headers, conversation, "Which trips do I have to Lisbon?")

    assert response.status_code == 200, response.text
    message = response.json()["message"]
    assert message["content"] == "Your Lisbon trip is 4 days."
    assert message["status"] == "completed" and message["pending_call"] is None
    [call] = message["tool_calls"]
    assert call["name"] == "listTrips" and call["status"] == "completed" and call["domain"] == "127.0.0.1"
    assert tools_api.last.path == "/trips" and tools_api.last.query == {"destination": "Lisbon"}
    first, second = fake_openai.chat_requests
    assert "listTrips" in {t["function"]["name"] for t in first["tools"]}
    assert "untrusted data" in first["messages"][0]["content"]
    [output] = tool_messages(second)
    assert "Lisbon" in output["content"] and output["tool_call_id"] == call["call_id"]
    # The stored turn reads back the same way.
    listed = await tool_client.get(f"/api/conversations/{conversation}/messages", headers=creator_headers)
    assert listed.json()["data"][-1]["tool_calls"][0]["name"] == "listTrips"


async def test_the_stream_shows_each_call_starting_and_ending(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("getTrip", {"trip_id": "t2"}), text("Kyoto, for 9 days."))

    response = await ask(tool_client, creator_headers, conversation, "Trip t2?", stream=True)

    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names.index("tool_call.started") < names.index("tool_call.ended") < names.index("done")
    started = dict(events)["tool_call.started"]
    ended = dict(events)["tool_call.ended"]
    assert started == {"call_id": ended["call_id"], "name": "getTrip", "domain": "127.0.0.1"}
    assert ended["status"] == "completed" and ended["duration_ms"] >= 0
    assert "".join(d["text"] for n, d in events if n == "delta") == "Kyoto, for 9 days."
    assert dict(events)["done"]["message"]["tool_calls"][0]["status"] == "completed"


async def test_a_failing_call_is_given_back_to_the_model_as_its_output(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("getTrip", {"trip_id": "missing"}), text("I could not find that trip."))

    response = await ask(tool_client, creator_headers, conversation, "Show trip 'missing'")

    message = response.json()["message"]
    assert message["tool_calls"][0]["status"] == "failed"
    [output] = tool_messages(fake_openai.chat_requests[1])
    assert "404" in output["content"]
    assert message["content"] == "I could not find that trip."


async def test_a_turn_makes_at_most_ten_calls_then_the_model_must_answer(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(*[tool_call("listTrips", {}) for _ in range(10)], text("Two trips."))

    response = await ask(tool_client, creator_headers, conversation, "List my trips over and over")

    assert response.json()["message"]["content"] == "Two trips."
    assert len(response.json()["message"]["tool_calls"]) == 10
    assert len(tools_api.requests) == 10
    requests = fake_openai.chat_requests
    assert len(requests) == 11 and all("tools" in r for r in requests[:10])
    assert "tools" not in requests[10]  # the last request offers nothing more to call


async def test_calls_past_the_limit_in_one_reply_are_not_run(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_calls(*[("listTrips", {}) for _ in range(12)]), text("Done."))

    response = await ask(tool_client, creator_headers, conversation, "Twelve at once")

    assert len(tools_api.requests) == 10
    assert len(response.json()["message"]["tool_calls"]) == 10
    outputs = tool_messages(fake_openai.chat_requests[1])
    assert len(outputs) == 12  # every call the model made is answered, the last two with the limit
    assert all("limit of 10" in o["content"] for o in outputs[10:])


async def test_a_consequential_call_waits_for_approval_then_runs(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    body = {"body": {"destination": "Oslo", "days": 3}}
    fake_openai.script(tool_call("createTrip", body, content="I will book it."), text("Booked Oslo."))

    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo for 3 days")).json()["message"]

    assert paused["status"] == "requires_approval"
    pending = paused["pending_call"]
    assert pending["name"] == "createTrip" and pending["arguments"] == body
    assert pending["domain"] == "127.0.0.1"
    assert paused["content"] == "I will book it."
    assert not [r for r in tools_api.requests if r.method == "POST"]  # nothing ran yet

    response = await decide(tool_client, creator_headers, conversation, pending["call_id"], True)

    assert response.status_code == 200, response.text
    done = response.json()["message"]
    assert done["id"] == paused["id"] and done["status"] == "completed" and done["pending_call"] is None
    assert done["content"] == "I will book it.\n\nBooked Oslo."
    assert done["tool_calls"][0]["status"] == "completed"
    [created] = [r for r in tools_api.requests if r.method == "POST"]
    assert json.loads(created.body) == body["body"]
    # Deciding twice finds nothing waiting.
    again = await decide(tool_client, creator_headers, conversation, pending["call_id"], True)
    assert again.status_code == 404


async def test_a_declined_call_never_runs_and_the_model_is_told(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Rome"}}), text("Not booked."))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Rome")).json()["message"]

    response = await decide(
        tool_client, creator_headers, conversation, paused["pending_call"]["call_id"], False, stream=True
    )

    events = sse_events(response.text)
    assert ("tool_call.ended" in dict(events)) and dict(events)["tool_call.ended"]["status"] == "declined"
    done = dict(events)["done"]["message"]
    assert done["status"] == "completed" and done["tool_calls"][0]["status"] == "declined"
    assert not [r for r in tools_api.requests if r.method == "POST"]
    [output] = tool_messages(fake_openai.chat_requests[-1])
    assert "declined" in output["content"]


async def test_always_allows_the_operation_for_this_user_in_later_turns(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked Oslo."))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo")).json()["message"]
    await decide(
        tool_client, creator_headers, conversation, paused["pending_call"]["call_id"], True, always=True
    )
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Bergen"}}), text("Booked Bergen."))

    response = await ask(tool_client, creator_headers, conversation, "And Bergen", stream=True)

    done = dict(sse_events(response.text))["done"]["message"]
    assert done["status"] == "completed" and done["content"] == "Booked Bergen."
    assert [json.loads(r.body)["destination"] for r in tools_api.requests if r.method == "POST"] == [
        "Oslo",
        "Bergen",
    ]


async def test_another_user_cannot_decide_someone_elses_call(
    tool_client, creator_headers, tools_api, fake_openai, session, tool_settings
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo")).json()["message"]
    other = auth_headers(await create_user(session, tool_settings), tool_settings)

    for stream in (False, True):
        response = await decide(
            tool_client, other, conversation, paused["pending_call"]["call_id"], True, stream=stream
        )
        assert response.status_code == 404

    assert not [r for r in tools_api.requests if r.method == "POST"]
    listed = await tool_client.get(f"/api/conversations/{conversation}/messages", headers=creator_headers)
    assert listed.json()["data"][-1]["status"] == "requires_approval"


async def test_a_new_message_cancels_the_call_waiting_for_approval(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Fine, no booking."))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo")).json()["message"]

    await ask(tool_client, creator_headers, conversation, "Never mind")

    listed = (
        await tool_client.get(f"/api/conversations/{conversation}/messages", headers=creator_headers)
    ).json()
    assert [m["status"] for m in listed["data"] if m["role"] == "assistant"] == ["cancelled", "completed"]
    late = await decide(tool_client, creator_headers, conversation, paused["pending_call"]["call_id"], True)
    assert late.status_code == 404


async def test_an_mcp_tool_is_called_through_the_chat(tool_client, creator_headers, mcp_server, fake_openai):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, mcp=mcp_server)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("add", {"a": 2, "b": 40}), text("It is 42."))

    response = await ask(tool_client, creator_headers, conversation, "2 + 40?", stream=True)

    events = dict(sse_events(response.text))
    assert "tool_call.ended" in events, response.text
    assert events["tool_call.ended"]["name"] == "add" and events["tool_call.ended"]["status"] == "completed"
    [output] = tool_messages(fake_openai.chat_requests[1])
    assert "42" in output["content"]
    assert events["done"]["message"]["content"] == "It is 42."


async def test_the_calls_after_a_paused_one_run_once_it_is_decided(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(
        tool_calls(
            ("listTrips", {}),
            ("createTrip", {"body": {"destination": "Oslo"}}),
            ("createTrip", {"body": {"destination": "Rome"}}),
            ("getTrip", {"trip_id": "t1"}),
        ),
        text("Done."),
    )
    first = (await ask(tool_client, creator_headers, conversation, "Plan it all")).json()["message"]
    assert [c["name"] for c in first["tool_calls"]] == ["listTrips"]

    second = (
        await decide(tool_client, creator_headers, conversation, first["pending_call"]["call_id"], False)
    ).json()["message"]
    assert second["status"] == "requires_approval"  # the next consequential call asks again
    assert second["pending_call"]["arguments"] == {"body": {"destination": "Rome"}}
    third = (
        await decide(tool_client, creator_headers, conversation, second["pending_call"]["call_id"], True)
    ).json()["message"]

    assert third["status"] == "completed" and third["content"] == "Done."
    assert [(c["name"], c["status"]) for c in third["tool_calls"]] == [
        ("listTrips", "completed"),
        ("createTrip", "declined"),
        ("createTrip", "completed"),
        ("getTrip", "completed"),
    ]
    assert [json.loads(r.body)["destination"] for r in tools_api.requests if r.method == "POST"] == ["Rome"]
    assert len(fake_openai.chat_requests) == 2  # one model reply with four calls, one answer
    assert len(tool_messages(fake_openai.chat_requests[1])) == 4


async def test_an_approval_for_good_holds_only_for_what_it_reached_and_can_be_revoked(
    tool_client, creator, creator_headers, tools_api, fake_openai
):
    """A creator who points `createTrip` elsewhere (another server, path or method under the same name)
    gets no approval from the old grant; the user lists and revokes grants."""
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked Oslo."))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo")).json()["message"]
    await decide(
        tool_client, creator_headers, conversation, paused["pending_call"]["call_id"], True, always=True
    )
    approvals = f"/api/store/gpts/{gpt_id}/tool_approvals"
    listed = (await tool_client.get(approvals, headers=creator_headers)).json()["data"]
    assert [(a["name"], a["domain"], a["outdated"]) for a in listed] == [("createTrip", "127.0.0.1", False)]

    actions = (await tool_client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    moved = await tool_client.patch(
        f"/api/gpts/{gpt_id}/actions/{actions[0]['id']}",
        json={"server_url": f"{tools_api.base_url}/elsewhere"},
        headers=creator_headers,
    )
    assert moved.status_code == 200, moved.text
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Bergen"}}))
    asked = (await ask(tool_client, creator_headers, conversation, "Book Bergen")).json()["message"]
    assert asked["status"] == "requires_approval" and asked["pending_call"]["name"] == "createTrip"
    assert [json.loads(r.body)["destination"] for r in tools_api.requests if r.method == "POST"] == ["Oslo"]
    # The listing says so: the grant is still there (to revoke), marked as no longer applying.
    listed = (await tool_client.get(approvals, headers=creator_headers)).json()["data"]
    assert [(a["name"], a["domain"], a["outdated"]) for a in listed] == [("createTrip", "127.0.0.1", True)]
    await log_in(tool_client, creator.email)
    page = (await tool_client.get(f"/g/{gpt_id}", headers=HTML)).text
    assert 'aria-label="Revoke createTrip"' in page and "<strong>no longer applies</strong>" in page

    revoked = await tool_client.delete(f"{approvals}/createTrip", headers=creator_headers)
    assert revoked.status_code == 204
    assert (await tool_client.get(approvals, headers=creator_headers)).json()["data"] == []
    again = await tool_client.delete(f"{approvals}/createTrip", headers=creator_headers)
    assert again.status_code == 404 and "createTrip" in again.json()["detail"]


async def test_a_paused_call_whose_arguments_hold_nan_is_stored(
    tool_client, creator_headers, tools_api, fake_openai
):
    """Python's JSON reads `NaN`, which no JSON column stores: the paused call keeps the model's text."""
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo", "nights": float("nan")}}))

    paused = await ask(tool_client, creator_headers, conversation, "Book Oslo")

    assert paused.status_code == 200, paused.text
    pending = paused.json()["message"]["pending_call"]
    assert pending["name"] == "createTrip" and "NaN" in pending["arguments"]


@pytest.mark.parametrize("through", ["items", "responses"])
async def test_a_user_message_through_v1_cancels_the_call_waiting_for_approval(
    tool_client, creator_headers, tools_api, fake_openai, through
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Rome, then."))
    paused = (await ask(tool_client, creator_headers, conversation, "Book Oslo")).json()["message"]

    if through == "items":
        url, body = (
            f"/v1/conversations/{conversation}/items",
            {"items": [{"role": "user", "content": "Rome"}]},
        )
    else:
        url, body = "/v1/responses", {"model": gpt_id, "conversation": conversation, "input": "Rome"}
    added = await tool_client.post(url, json=body, headers=creator_headers)

    assert added.status_code == 200, added.text
    late = await decide(tool_client, creator_headers, conversation, paused["pending_call"]["call_id"], True)
    assert late.status_code == 404
    assert not [r for r in tools_api.requests if r.method == "POST"]
    listed = (
        await tool_client.get(f"/api/conversations/{conversation}/messages", headers=creator_headers)
    ).json()["data"]
    assert [(m["role"], m["status"]) for m in listed][:3] == [
        ("user", "completed"),
        ("assistant", "cancelled"),
        ("user", "completed"),
    ]


async def test_approvals_of_a_gpt_the_caller_cannot_see_are_a_404_like_an_unknown_id(
    tool_client, creator_headers, session, tool_settings
):
    """Listing and revoking answered 200 [] for any id; a GPT the caller may not see (here another's
    draft) answers as an unknown id does, and its builders still list theirs (previews ask too)."""
    made = await tool_client.post("/api/gpts", json={"name": "Hidden"}, headers=creator_headers)
    draft = made.json()["id"]
    other = auth_headers(await create_user(session, tool_settings), tool_settings)
    for gpt_id in (uuid.uuid4(), draft):
        approvals = f"/api/store/gpts/{gpt_id}/tool_approvals"
        for response in (
            await tool_client.get(approvals, headers=other),
            await tool_client.delete(f"{approvals}/createTrip", headers=other),
        ):
            assert response.status_code == 404 and response.json()["detail"] == "No such GPT", response.text
    mine = await tool_client.get(f"/api/store/gpts/{draft}/tool_approvals", headers=creator_headers)
    assert mine.status_code == 200 and mine.json()["data"] == []
