"""Tools through `/v1/chat/completions` (stateless): calls that need no approval run, streamed and not; a
call that needs approval ends the choice with a note and `pending_tool_call` unless the user allowed the
operation for good."""

from __future__ import annotations

import json

from tests.fake_openai import text, tool_call
from tests.store.conftest import sdk_for
from tests.tools.chatkit import create_tool_gpt, publish_and_start, tool_messages

QUESTION = [{"role": "user", "content": "Which trips do I have?"}]


async def test_a_completion_runs_a_call_that_needs_no_approval(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    await publish_and_start(tool_client, creator_headers, gpt_id)
    sdk = sdk_for(tool_client, creator_headers)
    fake_openai.script(tool_call("listTrips", {}), text("Lisbon and Kyoto."))

    completion = await sdk.chat.completions.create(model=gpt_id, messages=QUESTION)

    assert completion.choices[0].message.content == "Lisbon and Kyoto."
    assert completion.choices[0].finish_reason == "stop"
    assert tools_api.last.path == "/trips"
    assert "Kyoto" in tool_messages(fake_openai.chat_requests[1])[0]["content"]

    fake_openai.script(tool_call("getTrip", {"trip_id": "t1"}), text("Lisbon, 4 days."))
    stream = await sdk.chat.completions.create(model=gpt_id, messages=QUESTION, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Lisbon, 4 days."
    assert tools_api.last.path == "/trips/t1"


async def test_a_call_that_needs_approval_ends_the_choice_with_a_note(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    await publish_and_start(tool_client, creator_headers, gpt_id)
    body = {"body": {"destination": "Oslo"}}
    fake_openai.script(tool_call("createTrip", body))

    response = await tool_client.post(
        "/v1/chat/completions",
        json={"model": gpt_id, "messages": [{"role": "user", "content": "Book Oslo"}]},
        headers=creator_headers,
    )

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "needs your approval" in choice["message"]["content"]
    pending = choice["message"]["pending_tool_call"]
    assert (
        pending["name"] == "createTrip"
        and json.loads(pending["arguments"]) == body  # a JSON string, as OpenAI's `tool_calls` write it
        and pending["domain"] == "127.0.0.1"
    )
    assert "tool_calls" not in choice["message"]  # nothing for the client to run itself
    assert not [r for r in tools_api.requests if r.method == "POST"]
    assert len(fake_openai.chat_requests) == 1

    fake_openai.script(tool_call("createTrip", body))
    streamed = await tool_client.post(
        "/v1/chat/completions",
        json={"model": gpt_id, "messages": [{"role": "user", "content": "Book Oslo"}], "stream": True},
        headers=creator_headers,
    )
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    last = [c for c in chunks if c["choices"]][-1]["choices"][0]
    assert last["finish_reason"] == "stop" and last["delta"]["pending_tool_call"]["name"] == "createTrip"
    assert not [r for r in tools_api.requests if r.method == "POST"]


async def test_an_operation_allowed_for_good_runs_in_the_api(
    tool_client, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked."))
    paused = await tool_client.post(
        f"/api/conversations/{conversation}/messages", json={"content": "Book Oslo"}, headers=creator_headers
    )
    call_id = paused.json()["message"]["pending_call"]["call_id"]
    await tool_client.post(
        f"/api/conversations/{conversation}/approvals",
        json={"call_id": call_id, "approve": True, "always": True},
        headers=creator_headers,
    )
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Bergen"}}), text("Booked Bergen."))

    completion = await sdk_for(tool_client, creator_headers).chat.completions.create(
        model=gpt_id, messages=[{"role": "user", "content": "Book Bergen"}]
    )

    assert completion.choices[0].message.content == "Booked Bergen."
    assert [json.loads(r.body)["destination"] for r in tools_api.requests if r.method == "POST"] == [
        "Oslo",
        "Bergen",
    ]
