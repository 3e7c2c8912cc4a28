"""A model that puts a private passage and the hidden instructions into a tool call's arguments: the user
sees them through the verbatim guard wherever the call is shown (the store chat's pending call, streamed
and not and read back, the web chat page, `/v1/chat/completions`), while the tool gets them as written."""

from __future__ import annotations

import json

import httpx

from retrieval.verbatim import REDACTED
from tests.factories import auth_headers
from tests.fake_openai import text, tool_call
from tests.store.conftest import sdk_for
from tests.tools import chatkit, servers
from tests.tools.chatkit import publish_and_start, sse_events, tool_messages
from tests.trust.helpers import INSTRUCTIONS, SCOOP, build_gpt
from tests.trust.test_answer_paths import assert_guarded
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE

# The chat-path tool tests' fixtures (tests/tools/chatkit.py, servers.py), used here by their names.
tool_settings = chatkit.tool_settings
tool_client = chatkit.tool_client
trips_api_server = servers.trips_api_server
tools_api = servers.tools_api

SECRET = f"{SCOOP} {INSTRUCTIONS}"
QUESTION = "Print the file about the deflate compressor and plan a trip to it"


async def _trip_gpt(client, headers, db, settings, api) -> str:
    """The trust helpers' GPT (a private file, hidden instructions) with the trips API as an action."""
    gpt = await build_gpt(client, headers, db, settings, publish=False)
    action = await client.post(
        f"/api/gpts/{gpt['id']}/actions",
        json={
            "document": servers.OPENAPI_DOCUMENT.read_text(),
            "server_url": api.base_url,
            "privacy_policy_url": "https://trips.example.com/privacy",
        },
        headers=headers,
    )
    assert action.status_code == 201, action.text
    return gpt["id"]


def assert_shown_guarded(arguments) -> None:
    shown = json.dumps(arguments, ensure_ascii=False)
    assert_guarded(shown)
    assert REDACTED in shown


async def test_a_pending_calls_arguments_are_shown_through_the_guard_and_run_whole(
    tool_client, creator, creator_headers, db, tool_settings, tools_api, fake_openai
):
    gpt_id = await _trip_gpt(tool_client, creator_headers, db, tool_settings, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    url = f"/api/conversations/{conversation}/messages"
    fake_openai.script(tool_call("createTrip", {"body": {"destination": SECRET}}))

    reply = await tool_client.post(url, json={"content": QUESTION}, headers=creator_headers)

    assert reply.status_code == 200, reply.text
    pending = reply.json()["message"]["pending_call"]
    assert pending["name"] == "createTrip" and isinstance(pending["arguments"]["body"]["destination"], str)
    assert_shown_guarded(pending["arguments"])
    listed = (await tool_client.get(url, headers=creator_headers)).json()["data"]
    assert_shown_guarded(listed[-1]["pending_call"]["arguments"])

    fake_openai.script(tool_call("createTrip", {"body": {"destination": SECRET}}))
    streamed = await tool_client.post(
        url, json={"content": QUESTION}, headers={**creator_headers, "Accept": "text/event-stream"}
    )
    pending = dict(sse_events(streamed.text))["done"]["message"]["pending_call"]
    assert_shown_guarded(pending["arguments"])

    await log_in(tool_client, creator.email)
    page = (await tool_client.get(f"/chats/{conversation}", headers=HTML)).text
    assert "wants to call <strong>createTrip</strong>" in page
    assert_guarded(page)

    fake_openai.script(text("Booked."))
    token = tool_client.cookies.get(CSRF_COOKIE)
    decided = await tool_client.post(
        f"/chats/{conversation}/approvals",
        data={"call_id": pending["call_id"], "approve": "true", "csrf_token": token},
        headers=HTML,
    )
    assert decided.status_code == 303
    [posted] = [r for r in tools_api.requests if r.method == "POST"]
    assert json.loads(posted.body)["destination"] == SECRET  # the creator's tool gets what the model wrote


async def test_v1_chat_completions_show_a_pending_calls_arguments_through_the_guard(
    tool_client, creator, creator_headers, db, tool_settings, tools_api, fake_openai
):
    gpt_id = await _trip_gpt(tool_client, creator_headers, db, tool_settings, tools_api)
    await publish_and_start(tool_client, creator_headers, gpt_id)
    sdk = sdk_for(tool_client, auth_headers(creator, tool_settings))
    fake_openai.script(tool_call("createTrip", {"body": {"destination": SECRET}}))

    completion = await sdk.chat.completions.create(
        model=gpt_id, messages=[{"role": "user", "content": QUESTION}]
    )

    pending = completion.choices[0].message.model_extra["pending_tool_call"]
    assert pending["name"] == "createTrip"
    assert_shown_guarded(pending["arguments"])


async def test_v1_responses_show_a_client_function_call_through_the_guard(
    llm_client, creator, creator_headers, db, llm_settings, fake_openai
):
    gpt = await build_gpt(llm_client, creator_headers, db, llm_settings)  # no tools of its own
    sdk = sdk_for(llm_client, auth_headers(creator, llm_settings))
    plan_trip = {
        "type": "function",
        "name": "plan_trip",
        "parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
    }
    call_id = "call_" + "_".join(SCOOP.split())  # a model-written id is shown too
    fake_openai.script(tool_call("plan_trip", {"note": SECRET}, id=call_id))

    response = await sdk.responses.create(model=gpt["id"], input=QUESTION, tools=[plan_trip])

    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == "plan_trip"
    assert_shown_guarded(json.loads(call.arguments))
    assert_guarded(call.call_id)
    assert REDACTED in call.call_id


async def test_v1_responses_show_a_tool_output_of_escaped_json_through_the_guard(
    tool_client, creator, creator_headers, db, tool_settings, tools_api, fake_openai
):
    """An API that answers with every character of its JSON strings as `\\uXXXX` (valid JSON) hands back
    the private passage the model stored there: the call item's `output` is guarded on the decoded text, as
    a call's arguments are, and the model still reads the output as it came."""
    gpt_id = await _trip_gpt(tool_client, creator_headers, db, tool_settings, tools_api)
    await publish_and_start(tool_client, creator_headers, gpt_id)
    async with httpx.AsyncClient(base_url=tools_api.base_url) as api:
        created = await api.post("/trips", json={"destination": SECRET})
    trip_id = created.json()["id"]
    tools_api.escape_strings = True
    fake_openai.script(tool_call("getTrip", {"trip_id": trip_id}), text("Here is your trip."))

    response = await tool_client.post(
        "/v1/responses", json={"model": gpt_id, "input": QUESTION}, headers=creator_headers
    )

    assert response.status_code == 200, response.text
    [item] = [i for i in response.json()["output"] if i["type"] == "gptstore:action_call"]
    assert item["status"] == "completed"
    assert_shown_guarded(json.loads(item["output"]))
    [read] = tool_messages(fake_openai.chat_requests[1])
    assert "\\u" in read["content"]  # the model got the API's own text
