"""The GPT's own tools in `/v1/responses`, with the official `openai` SDK over HTTP, the scripted LLM and the
local test servers (the trips API as an action, the MCP server): calls run on the server, streamed and not,
and show as `gptstore:action_call` and `mcp_call` items; client functions next to them go back to the client;
a call that needs approval ends the answer with a note unless the user allowed it for good; offline, the
answer names the tools it could not call. Every response and event is held to the Open Responses schema
check."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import openai
import pytest

from retrieval.verbatim import REDACTED, longest_run
from tests.factories import auth_headers
from tests.fake_openai import text, tool_call, tool_calls
from tests.store.open_responses import check_events, check_response, parse_sse, raw_create, serving
from tests.tools import servers
from tests.tools.chatkit import create_tool_gpt, publish_and_start, tool_messages
from tests.tools.servers import LocalMcpServer, TripsApi, loopback_settings

# The local test servers' fixtures (tests/tools/servers.py), used here by their names.
trips_api_server = servers.trips_api_server
tools_api = servers.tools_api
mcp_server = servers.mcp_server

FORECAST = {
    "type": "function",
    "name": "get_forecast",
    "description": "The client's own forecast lookup",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@dataclass
class ToolApi:
    sdk: openai.AsyncOpenAI
    base: str  # the `/v1` base URL
    key: str
    http: httpx.AsyncClient  # the app's root, for the store API
    headers: dict[str, str]
    gpt_id: str
    conversation: str  # a store conversation with the GPT, for approvals


async def _tool_api(settings, db, redis, creator, api: TripsApi, mcp: LocalMcpServer):
    settings = loopback_settings(settings)
    headers = auth_headers(creator, settings)
    key = headers["Authorization"].removeprefix("Bearer ")
    async with serving(settings, db, redis) as base:
        async with httpx.AsyncClient(base_url=base.removesuffix("/v1"), timeout=60) as http:
            gpt_id = await create_tool_gpt(http, headers, api, mcp)
            conversation = await publish_and_start(http, headers, gpt_id)
            sdk = openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0)
            yield ToolApi(sdk, base, key, http, headers, gpt_id, conversation)


@pytest.fixture
async def tool_api(llm_settings, db, redis, creator, tools_api, mcp_server):
    """The app with the scripted LLM on a real port, and a published GPT with the trips action and the MCP
    server (`createTrip` and the MCP `weather` need approval)."""
    async for api in _tool_api(llm_settings, db, redis, creator, tools_api, mcp_server):
        yield api


@pytest.fixture
async def offline_tool_api(settings, db, redis, creator, tools_api, mcp_server):
    """The same GPT, the app without a language model."""
    async for api in _tool_api(settings, db, redis, creator, tools_api, mcp_server):
        yield api


async def _raw(api: ToolApi, **body) -> httpx.Response:
    return await raw_create(api.base, api.key, {"model": api.gpt_id, **body})


def _items(response: dict, kind: str) -> list[dict]:
    return [item for item in response["output"] if item["type"] == kind]


async def test_an_action_and_an_mcp_tool_run_on_the_server(tool_api, tools_api, mcp_server, fake_openai):
    fake_openai.script(
        tool_calls(("listTrips", {}, "call_t"), ("add", {"a": 2, "b": 3}, "call_a")),
        text("You have trips to Lisbon and Kyoto; 2 + 3 is 5."),
    )

    got = await _raw(tool_api, input="Which trips do I have, and what is 2 + 3?")

    assert got.status_code == 200, got.text
    response = got.json()
    check_response(response)
    assert [item["type"] for item in response["output"]] == ["gptstore:action_call", "mcp_call", "message"]
    action, mcp, message = response["output"]
    assert (action["name"], action["domain"], action["status"]) == ("listTrips", "127.0.0.1", "completed")
    assert "Kyoto" in action["output"] and action["error"] is None
    assert (mcp["name"], mcp["server_label"], mcp["status"]) == ("add", "local", "completed")
    assert mcp["output"] == "5" and mcp["error"] is None
    assert json.loads(mcp["arguments"]) == {"a": 2, "b": 3}
    assert message["content"][0]["text"] == "You have trips to Lisbon and Kyoto; 2 + 3 is 5."
    assert tools_api.last.path == "/trips" and ("add", {"a": 2, "b": 3}) in mcp_server.calls
    second = fake_openai.chat_requests[1]
    assert {m["tool_call_id"] for m in tool_messages(second)} == {"call_t", "call_a"}
    assert "untrusted data" in second["messages"][0]["content"]  # the tool rules in the system prompt

    parsed = await tool_api.sdk.responses.retrieve(response["id"])  # the SDK reads both item types
    assert [item.type for item in parsed.output] == ["gptstore:action_call", "mcp_call", "message"]
    assert parsed.output[1].server_label == "local" and parsed.output_text.endswith("2 + 3 is 5.")

    # Manual state: the output, call records and all, goes back as input; nothing runs again.
    fake_openai.script(text("Yes: Lisbon and Kyoto."))
    calls, path = len(mcp_server.calls), tools_api.last.path
    question = {"role": "user", "content": "Which trips do I have, and what is 2 + 3?"}
    again = await tool_api.sdk.responses.create(
        model=tool_api.gpt_id, input=[question, *parsed.output, {"role": "user", "content": "Sure?"}]
    )
    assert again.output_text == "Yes: Lisbon and Kyoto." and len(mcp_server.calls) == calls
    sent = [m for m in fake_openai.chat_requests[-1]["messages"] if m["role"] != "system"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"] and tools_api.last.path == path


async def test_calls_stream_as_output_items_with_their_events(tool_api, tools_api, mcp_server, fake_openai):
    fake_openai.script(
        tool_call("getTrip", {"trip_id": "t1"}), tool_call("add", {"a": 40, "b": 2}), text("Lisbon; 42.")
    )

    got = await _raw(tool_api, input="Trip t1, and 40 + 2?", stream=True)

    events = parse_sse(got.text)
    final = check_events(events)
    kinds = [
        (e["type"], (e.get("item") or {}).get("type"))
        for e in events
        if e["type"].startswith(("response.output_item", "response.mcp_call"))
    ]
    assert kinds == [
        ("response.output_item.added", "gptstore:action_call"),
        ("response.output_item.done", "gptstore:action_call"),
        ("response.output_item.added", "mcp_call"),
        ("response.mcp_call.in_progress", None),
        ("response.mcp_call.completed", None),
        ("response.output_item.done", "mcp_call"),
        ("response.output_item.added", "message"),
        ("response.output_item.done", "message"),
    ]
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["status"] == "in_progress" and added["item"]["output"] is None
    assert [item["type"] for item in final["output"]] == ["gptstore:action_call", "mcp_call", "message"]
    assert final["output"][1]["output"] == "42" and tools_api.last.path == "/trips/t1"
    assert final["output"][2]["content"][0]["text"] == "Lisbon; 42."

    fake_openai.script(tool_call("add", {"a": 1, "b": 1}), text("2."))
    stream = await tool_api.sdk.responses.create(model=tool_api.gpt_id, input="1 + 1?", stream=True)
    seen = [event async for event in stream]  # the SDK takes the call items and events
    assert seen[-1].type == "response.completed"
    assert [item.type for item in seen[-1].response.output] == ["mcp_call", "message"]


async def test_a_failed_mcp_call_carries_its_error(tool_api, fake_openai):
    fake_openai.script(tool_call("fail", {"reason": "the oracle is asleep"}), text("The tool failed."))

    response = (await _raw(tool_api, input="Ask the oracle")).json()

    check_response(response)
    (call,) = _items(response, "mcp_call")
    assert call["status"] == "failed" and call["output"] is None
    assert call["error"]["type"] == "mcp_tool_execution_error"
    assert "the oracle is asleep" in call["error"]["content"][0]["text"]
    assert response["output"][-1]["content"][0]["text"] == "The tool failed."


async def test_a_client_function_next_to_the_gpts_tools(tool_api, tools_api, fake_openai):
    fake_openai.script(
        tool_calls(("listTrips", {}, "call_t"), ("get_forecast", {"city": "Lisbon"}, "call_f")),
        text("Lisbon is sunny for your trip."),
    )

    first = (await _raw(tool_api, input="Weather on my next trip?", tools=[FORECAST])).json()

    check_response(first)
    offered = {t["function"]["name"] for t in fake_openai.chat_requests[0]["tools"]}
    assert {"listTrips", "createTrip", "add", "get_forecast"} <= offered
    assert [item["type"] for item in first["output"]] == ["gptstore:action_call", "function_call"]
    assert first["output"][1]["call_id"] == "call_f" and first["output"][1]["name"] == "get_forecast"
    assert tools_api.last.path == "/trips" and len(fake_openai.chat_requests) == 1

    second = await tool_api.sdk.responses.create(
        model=tool_api.gpt_id,
        previous_response_id=first["id"],
        tools=[FORECAST],
        input=[{"type": "function_call_output", "call_id": "call_f", "output": "sunny, 24 °C"}],
    )

    assert second.output_text == "Lisbon is sunny for your trip."
    sent = fake_openai.chat_requests[-1]["messages"]
    assert {c["id"] for c in sent[-3]["tool_calls"]} == {"call_t", "call_f"}  # the reply with both calls
    assert sent[-2]["tool_call_id"] == "call_t" and "Kyoto" in sent[-2]["content"]  # the server's output
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_f", "content": "sunny, 24 °C"}

    taken = {**FORECAST, "name": "listTrips"}
    with pytest.raises(openai.BadRequestError) as caught:
        await tool_api.sdk.responses.create(model=tool_api.gpt_id, input="Hi", tools=[FORECAST, taken])
    assert caught.value.param == "tools[1].name"


async def test_a_call_that_needs_approval_is_not_run(tool_api, tools_api, mcp_server, fake_openai):
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}))

    response = (await _raw(tool_api, input="Book Oslo")).json()

    check_response(response)
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["message"]  # nothing ran, nothing to run
    note = response["output"][0]["content"][0]["text"]
    assert "Stopped before calling createTrip on 127.0.0.1: it needs your approval" in note
    assert not [r for r in tools_api.requests if r.method == "POST"]
    assert len(fake_openai.chat_requests) == 1

    fake_openai.script(tool_call("weather", {"city": "Oslo"}))
    streamed = check_events(parse_sse((await _raw(tool_api, input="Weather in Oslo?", stream=True)).text))
    assert [item["type"] for item in streamed["output"]] == ["message"]
    assert "Stopped before calling weather" in streamed["output"][0]["content"][0]["text"]
    assert not [call for call in mcp_server.calls if call[0] == "weather"]


async def test_an_operation_allowed_for_good_runs(tool_api, tools_api, fake_openai):
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked."))
    paused = await tool_api.http.post(
        f"/api/conversations/{tool_api.conversation}/messages",
        json={"content": "Book Oslo"},
        headers=tool_api.headers,
    )
    call_id = paused.json()["message"]["pending_call"]["call_id"]
    decided = await tool_api.http.post(
        f"/api/conversations/{tool_api.conversation}/approvals",
        json={"call_id": call_id, "approve": True, "always": True},
        headers=tool_api.headers,
    )
    assert decided.status_code == 200, decided.text
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Bergen"}}), text("Booked Bergen."))

    events = parse_sse((await _raw(tool_api, input="Book Bergen", stream=True)).text)

    final = check_events(events)
    (action,) = _items(final, "gptstore:action_call")
    assert action["name"] == "createTrip" and action["status"] == "completed"
    assert final["output"][-1]["content"][0]["text"] == "Booked Bergen."
    posted = [json.loads(r.body)["destination"] for r in tools_api.requests if r.method == "POST"]
    assert posted == ["Oslo", "Bergen"]


async def test_offline_the_answer_names_the_tools_it_could_not_call(offline_tool_api, tools_api, mcp_server):
    calls_before = len(mcp_server.calls)

    response = await offline_tool_api.sdk.responses.create(model=offline_tool_api.gpt_id, input="My trips?")

    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    answer = response.output_text
    assert "listTrips (127.0.0.1)" in answer and "add (127.0.0.1)" in answer
    assert "none of them was called" in answer
    assert not tools_api.requests and len(mcp_server.calls) == calls_before
    check_response((await _raw(offline_tool_api, input="My trips?")).json())


HIDDEN = (
    "Always greet travellers by the secret codename Blue Heron, never reveal the partner discount of "
    "twelve percent, and route every booking question through the Lisbon office before the Kyoto one, "
    "even when the traveller insists on another order of offices"
)


async def _hide_instructions(api: ToolApi) -> None:
    """The GPT's instructions become `HIDDEN` (hidden, the default), published."""
    url = f"/api/gpts/{api.gpt_id}"
    patched = await api.http.patch(url, json={"instructions": HIDDEN}, headers=api.headers)
    assert patched.status_code == 200, patched.text
    published = await api.http.post(f"{url}/publish", json={"visibility": "link"}, headers=api.headers)
    assert published.status_code in (200, 201), published.text


async def test_a_calls_output_passes_the_verbatim_guard(tool_api, fake_openai):
    await _hide_instructions(tool_api)
    fake_openai.script(tool_call("fail", {"reason": HIDDEN}), text("The tool failed."))

    response = (await _raw(tool_api, input="Ask the oracle")).json()

    (call,) = _items(response, "mcp_call")
    shown = call["error"]["content"][0]["text"]
    assert shown.startswith("Error executing tool fail")
    assert HIDDEN not in shown and "twelve percent" not in shown  # the hidden instructions are held back
    assert HIDDEN in tool_messages(fake_openai.chat_requests[1])[0]["content"]  # the model read it whole


async def test_call_arguments_pass_the_verbatim_guard(tool_api, tools_api, mcp_server, fake_openai):
    await _hide_instructions(tool_api)
    calls = (
        ("listTrips", {"destination": HIDDEN}, "call_t"),
        ("fail", {"reason": HIDDEN}, "call_m"),
        ("get_forecast", {"city": HIDDEN}, "call_f"),
    )
    fake_openai.script(tool_calls(*calls))

    response = (await _raw(tool_api, input="Plan my trip", tools=[FORECAST])).json()

    check_response(response)
    kinds = ["gptstore:action_call", "mcp_call", "function_call"]
    assert [item["type"] for item in response["output"]] == kinds
    for item in response["output"]:
        assert longest_run(item["arguments"], [HIDDEN]) <= 25 and REDACTED in item["arguments"], item
        assert set(json.loads(item["arguments"])) <= {"destination", "reason", "city"}  # still JSON
    assert tools_api.last.query == {"destination": HIDDEN}  # the creator's tool gets what the model wrote

    fake_openai.script(tool_calls(*calls))
    streamed = await _raw(tool_api, input="Plan my trip", tools=[FORECAST], stream=True)

    final = check_events(parse_sse(streamed.text))
    assert [item["type"] for item in final["output"]] == kinds
    assert longest_run(streamed.text, [HIDDEN]) <= 25  # no event, the arguments' deltas included
