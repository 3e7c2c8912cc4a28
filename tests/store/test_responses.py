"""`/v1/responses` with the official `openai` SDK over HTTP against the running app: create (streamed and
not), `previous_response_id`, `conversation`, retrieve, delete, input items, citations and knowledge search,
client function calls and their outputs, parameters honoured or refused, usage and rate limits. Every response
and event is held to the Open Responses schema (`tests/store/open_responses.py`)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa

from retrieval.jobs import ingest
from store import usage
from store.models import ChatMessage, GptVersion
from store.openai_params import parameters
from store.responses_params import TABLE, CreateResponseRequest
from tests.factories import auth_headers, create_user
from tests.fake_openai import Reply, error, text, tool_call
from tests.store.factories import create_conversation, create_published_gpt
from tests.store.open_responses import check_events, check_response, parse_sse, raw_create, serving

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def _stored(base: str, key: str, response_id: str) -> dict:
    """The stored response as JSON (the SDK's objects read timestamps as floats)."""
    async with httpx.AsyncClient() as http:
        got = await http.get(f"{base}/responses/{response_id}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200, got.text
    return got.json()


def _key(user, settings) -> str:
    return auth_headers(user, settings)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def llm_api(llm_settings, db, redis, creator):
    """(SDK, base URL, key) against the app with the scripted chat model, on a real port."""
    async with serving(llm_settings, db, redis) as base:
        key = _key(creator, llm_settings)
        yield openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0), base, key


@pytest.fixture
async def offline_api(settings, db, redis, creator):
    """(SDK, base URL, key) against the app in offline mode (extractive answers), on a real port."""
    async with serving(settings, db, redis) as base:
        key = _key(creator, settings)
        yield openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0), base, key


async def _knowledge_gpt(client, headers, db, settings) -> str:
    """A published GPT with one open knowledge file about kayak rentals."""
    gpt = (
        await client.post(
            "/api/gpts",
            json={
                "name": "Fjord Guide",
                "description": "Plans fjord trips.",
                "instructions": "Help with fjord trips.",
                "category": "lifestyle",
                "conversation_starters": ["What does a kayak cost?"],
            },
            headers=headers,
        )
    ).json()
    upload = await client.post(
        f"/api/gpts/{gpt['id']}/files",
        files={
            "file": ("kayaks.md", b"# Kayaks\n\nKayak rentals in Gudvangen cost 600 NOK for half a day.\n")
        },
        data={"access": "open"},
        headers=headers,
    )
    await ingest(db, settings, uuid.UUID(upload.json()["id"]))
    published = await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": "public"}, headers=headers
    )
    assert published.json()["review_status"] == "approved", published.text
    return gpt["id"]


async def test_create_retrieve_input_items_and_delete(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    fake_openai.script(text("Geiranger is best in May."))
    response = await sdk.responses.create(
        model=gpt_id, input="Which fjord in May?", instructions="Answer briefly.", metadata={"trip": "42"}
    )
    assert response.status == "completed" and response.output_text == "Geiranger is best in May."
    assert response.model == gpt_id and response.metadata == {"trip": "42"}
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0
    check_response(await _stored(base, key, response.id))
    system = fake_openai.chat_requests[-1]["messages"][0]["content"]
    assert system.index("Help people plan fjord trips.") < system.index("Answer briefly.")

    again = await sdk.responses.retrieve(response.id)
    assert again.id == response.id and again.output_text == response.output_text
    items = await sdk.responses.input_items.list(response.id)
    assert [(i.type, i.role, i.content[0].text) for i in items.data] == [
        ("message", "user", "Which fjord in May?")
    ]
    assert (await sdk.responses.input_items.list(response.id, after=items.data[0].id)).data == []
    with pytest.raises(openai.NotFoundError) as unknown:  # as a conversation's items answer
        await sdk.responses.input_items.list(response.id, after="msg_garbage")
    assert unknown.value.body["param"] == "after"

    await sdk.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.input_items.list(response.id)


async def test_streamed_with_the_sdk_and_every_event_against_the_schema(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    fake_openai.script(text("One, two, three."))
    stream = await sdk.responses.create(model=gpt_id, input="Count to three.", stream=True)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "One, two, three."
    stored = await sdk.responses.retrieve(events[-1].response.id)
    assert stored.output_text == "One, two, three."  # kept before the last event was sent

    fake_openai.script(text("Four, five."))
    raw = await raw_create(base, key, {"model": gpt_id, "input": "Go on.", "stream": True})
    final = check_events(parse_sse(raw.text))
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "Four, five."


async def test_previous_response_id_continues_the_dialogue_for_its_owner_only(
    llm_api, gpt_id, fake_openai, llm_settings, session
):
    sdk, base, key = llm_api
    fake_openai.script(text("Hello Alice!"), text("Your name is Alice."))
    first = await sdk.responses.create(model=gpt_id, input="My name is Alice.")
    second = await sdk.responses.create(model=gpt_id, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text == "Your name is Alice."
    sent = fake_openai.chat_requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "My name is Alice."),
        ("assistant", "Hello Alice!"),
        ("user", "What is my name?"),
    ]
    other = await create_user(session, llm_settings)
    stranger = openai.AsyncOpenAI(base_url=base, api_key=_key(other, llm_settings), max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        await stranger.responses.create(model=gpt_id, input="And mine?", previous_response_id=first.id)
    assert caught.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        await stranger.responses.retrieve(first.id)


async def test_function_calls_go_to_the_client_and_their_outputs_come_back(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    fake_openai.script(
        tool_call("get_weather", {"city": "Bergen"}, id="call_1"), text("Rain, 9 °C in Bergen.")
    )
    first = await sdk.responses.create(model=gpt_id, input="Weather in Bergen?", tools=[WEATHER])
    call = first.output[-1]
    assert (call.type, call.name, call.call_id, call.arguments) == (
        "function_call",
        "get_weather",
        "call_1",
        '{"city": "Bergen"}',
    )
    check_response(await _stored(base, key, first.id))
    second = await sdk.responses.create(
        model=gpt_id,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[
            {"type": "function_call_output", "call_id": "call_1", "output": '{"rain": true, "celsius": 9}'}
        ],
    )
    assert second.output_text == "Rain, 9 °C in Bergen."
    sent = fake_openai.chat_requests[-1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == "call_1"
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": '{"rain": true, "celsius": 9}'}
    orphan = {"type": "function_call_output", "call_id": "call_9", "output": "{}"}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(
            model=gpt_id, tools=[WEATHER], input=[{"role": "user", "content": "Hi"}, orphan]
        )
    assert caught.value.param == "input[1].call_id"


async def test_knowledge_as_file_search_call_and_file_citations(
    llm_client, llm_api, creator_headers, db, llm_settings, fake_openai
):
    sdk, base, key = llm_api
    gpt_id = await _knowledge_gpt(llm_client, creator_headers, db, llm_settings)
    fake_openai.script(text("Half a day costs 600 NOK [1]."))
    raw = await raw_create(
        base,
        key,
        {
            "model": gpt_id,
            "input": "What does a kayak cost?",
            "include": ["file_search_call.results"],
            "stream": True,
        },
    )
    events = parse_sse(raw.text)
    final = check_events(events)
    search, message = final["output"]
    assert search["type"] == "file_search_call" and search["queries"] == ["What does a kayak cost?"]
    assert search["results"][0]["filename"] == "kayaks.md" and "600 NOK" in search["results"][0]["text"]
    annotation = message["content"][0]["annotations"][0]
    assert annotation["filename"] == "kayaks.md" and annotation["index"] == message["content"][0][
        "text"
    ].index("[1]")
    kinds = [e["type"] for e in events]
    assert kinds.index("response.file_search_call.completed") < kinds.index("response.output_text.delta")
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    # Without `include` the search shows, without its results.
    fake_openai.script(text("600 NOK [1]."))
    plain = await sdk.responses.create(model=gpt_id, input="What does a kayak cost?")
    assert plain.output[0].type == "file_search_call" and plain.output[0].results is None


async def test_manual_state_sends_the_output_back_as_input(
    llm_client, llm_api, creator_headers, db, llm_settings, fake_openai
):
    """`input += response.output` (OpenAI's "manual state"): the `file_search_call` record is taken back as
    context and not searched again; the model reads the dialogue as chat messages."""
    sdk, base, key = llm_api
    gpt_id = await _knowledge_gpt(llm_client, creator_headers, db, llm_settings)
    fake_openai.script(text("Half a day costs 600 NOK [1]."), text("A full day is not listed."))
    history: list = [{"role": "user", "content": "What does a kayak cost?"}]
    first = await sdk.responses.create(model=gpt_id, input=history, include=["file_search_call.results"])
    assert [item.type for item in first.output] == ["file_search_call", "message"]
    history += first.output
    history.append({"role": "user", "content": "And a full day?"})
    second = await sdk.responses.create(model=gpt_id, input=history)
    assert second.output_text == "A full day is not listed."
    dialogue = [m for m in fake_openai.chat_requests[-1]["messages"] if m["role"] != "system"]
    assert [(m["role"], m["content"]) for m in dialogue] == [
        ("user", "What does a kayak cost?"),
        ("assistant", "Half a day costs 600 NOK [1]."),
        ("user", "And a full day?"),
    ]
    items = await sdk.responses.input_items.list(second.id, order="asc")
    assert [i.type for i in items.data] == ["message", "file_search_call", "message", "message"]
    bad = {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": "kayak"}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(model=gpt_id, input=[bad, {"role": "user", "content": "Hi"}])
    assert caught.value.param == "input[0].queries"


async def test_client_function_mistakes_are_400s_naming_them(llm_api, gpt_id, fake_openai):
    """What the provider would refuse (a 502 the SDK retries) is refused first, naming the parameter."""
    sdk, base, key = llm_api
    for tools, param in [
        ([{**WEATHER, "name": "bad name!"}], "tools[0].name"),
        ([{**WEATHER, "name": "x" * 65}], "tools[0].name"),
        ([WEATHER, {**WEATHER, "description": "again"}], "tools[1].name"),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.responses.create(model=gpt_id, input="Hi", tools=tools)
        assert caught.value.param == param and caught.value.code == "invalid_value"
    fake_openai.script(tool_call("get_weather", {"city": "Bergen"}, id="call_1"), text("Rain."))
    first = await sdk.responses.create(model=gpt_id, input="Weather in Bergen?", tools=[WEATHER])
    output = {"type": "function_call_output", "call_id": "call_1", "output": "rain"}
    with pytest.raises(openai.BadRequestError) as caught:  # the call waits for its output first
        await sdk.responses.create(
            model=gpt_id, previous_response_id=first.id, tools=[WEATHER], input="And tomorrow?"
        )
    assert caught.value.param == "input[0]" and "call_1" in caught.value.message
    second = await sdk.responses.create(
        model=gpt_id, previous_response_id=first.id, tools=[WEATHER], input=[output]
    )
    with pytest.raises(openai.BadRequestError) as caught:  # answered already
        await sdk.responses.create(
            model=gpt_id, previous_response_id=second.id, tools=[WEATHER], input=[output]
        )
    assert caught.value.param == "input[0].call_id" and "output already" in caught.value.message
    call = {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"}
    with pytest.raises(openai.BadRequestError) as caught:  # a message between a call and its output
        await sdk.responses.create(
            model=gpt_id,
            tools=[WEATHER],
            input=[
                {"role": "user", "content": "Weather?"},
                call,
                {"role": "user", "content": "Hurry"},
                {**output, "call_id": "call_2"},
            ],
        )
    assert caught.value.param == "input[2]"
    assert len(fake_openai.chat_requests) == 2  # only the two good requests reached the model


async def test_offline_answers_from_knowledge_with_citations(
    client, offline_api, creator_headers, db, settings
):
    sdk, base, key = offline_api
    gpt_id = await _knowledge_gpt(client, creator_headers, db, settings)
    response = await sdk.responses.create(model=gpt_id, input="What does a kayak cost?")
    check_response(await _stored(base, key, response.id))
    message = response.output[-1]
    assert "600 NOK" in message.content[0].text
    assert message.content[0].annotations[0].filename == "kayaks.md"


async def test_a_store_conversation_is_read_and_continued(llm_api, gpt_id, fake_openai, session, creator):
    sdk, base, key = llm_api
    conversation = await create_conversation(session, creator, uuid.UUID(gpt_id), question=None)
    fake_openai.script(text("Geiranger."), text("In May."))
    await sdk.responses.create(model=gpt_id, input="Best fjord?", conversation=str(conversation.id))
    second = await sdk.responses.create(
        model=gpt_id, input="When?", conversation=f"conv_{conversation.id.hex}"
    )
    assert second.conversation.id == f"conv_{conversation.id.hex}"
    sent = fake_openai.chat_requests[-1]["messages"]
    assert [m["content"] for m in sent[1:]] == ["Best fjord?", "Geiranger.", "When?"]
    rows = await session.scalars(
        sa.select(ChatMessage)
        .where(ChatMessage.conversation_id == conversation.id)
        .order_by(ChatMessage.created_at)
    )
    assert [(m.role, m.content) for m in rows] == [
        ("user", "Best fjord?"),
        ("assistant", "Geiranger."),
        ("user", "When?"),
        ("assistant", "In May."),
    ]
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.responses.create(model=gpt_id, input="Hi", conversation=str(uuid.uuid4()))
    assert caught.value.param == "conversation"
    other = await create_published_gpt(session, creator, name="Other")
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(model=str(other.gpt_id), input="Hi", conversation=str(conversation.id))
    assert caught.value.param == "conversation"


@pytest.mark.parametrize("question", ["", "   ", "\u0000?"])
async def test_empty_or_odd_questions_are_answered(offline_api, gpt_id, question):
    sdk, base, key = offline_api
    raw = await raw_create(base, key, {"model": gpt_id, "input": question})
    assert raw.status_code in (200, 400), raw.text
    if raw.status_code == 200:
        check_response(raw.json())


async def test_store_false_is_not_kept(offline_api, gpt_id):
    sdk, base, key = offline_api
    response = await sdk.responses.create(model=gpt_id, input="Hi", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(response.id)


async def test_max_output_tokens_ends_incomplete(offline_api, llm_api, gpt_id, fake_openai):
    sdk, base, key = offline_api
    cut = await sdk.responses.create(
        model=gpt_id, input="Tell me everything about fjords.", max_output_tokens=16
    )
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output[0].status == "incomplete" and cut.usage.output_tokens <= 16
    llm_sdk, llm_base, llm_key = llm_api
    fake_openai.script(text("A long", finish_reason="length"))
    raw = await raw_create(
        llm_base, llm_key, {"model": gpt_id, "input": "More", "max_output_tokens": 16, "stream": True}
    )
    events = parse_sse(raw.text)
    assert check_events(events)["status"] == "incomplete" and events[-1]["type"] == "response.incomplete"
    assert fake_openai.chat_requests[-1]["max_tokens"] == 16


async def test_images_for_a_model_that_cannot_see_them_get_a_note(llm_api, gpt_id, session, fake_openai):
    sdk, base, key = llm_api
    version = await session.scalar(sa.select(GptVersion).where(GptVersion.gpt_id == uuid.UUID(gpt_id)))
    version.config = {**version.config, "model": "gpt-3.5-turbo"}
    await session.commit()
    fake_openai.script(text("A fjord guide answer."))
    image = {"type": "input_image", "image_url": "https://example.com/fjord.png"}
    response = await sdk.responses.create(
        model=gpt_id,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, image]}],
    )
    assert response.status == "completed"
    assert response.output_text.endswith(
        "(The image in your message was not looked at: this GPT's model (gpt-3.5-turbo) cannot see images.)"
    )
    assert fake_openai.chat_requests[-1]["messages"][-1]["content"] == "What is this?"


async def test_a_provider_failure_before_the_first_token_is_an_error_status(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    fake_openai.script(error(500, "boom"))
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.responses.create(model=gpt_id, input="Hi", stream=True)
    assert caught.value.status_code == 502 and caught.value.body["type"] == "server_error"


async def test_a_failure_mid_stream_ends_it_with_response_failed(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    words = " ".join(f"word{i}" for i in range(80))
    fake_openai.script(Reply(content=words, stream_error={"message": "overloaded", "type": "server_error"}))
    raw = await raw_create(base, key, {"model": gpt_id, "input": "Talk", "stream": True})
    assert raw.status_code == 200
    events = parse_sse(raw.text)
    final = check_events(events)
    assert events[-1]["type"] == "response.failed" and final["status"] == "failed"
    assert final["error"]["code"] and "overloaded" in final["error"]["message"]
    assert "response.output_text.delta" in [e["type"] for e in events]
    with pytest.raises(openai.NotFoundError):  # a failed response is not kept
        await sdk.responses.retrieve(final["id"])


async def test_usage_is_counted_and_rate_limited_like_chat(offline_api, gpt_id, db, redis, settings):
    sdk, base, key = offline_api
    await sdk.responses.create(model=gpt_id, input="Hi")
    assert await usage.flush(db, redis) == 1
    settings.rate_limit_messages_per_minute = 1
    await redis.flushdb()
    await sdk.responses.create(model=gpt_id, input="Hi")
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.responses.create(model=gpt_id, input="Hi again")
    assert int(caught.value.response.headers["retry-after"]) >= 1


REFUSED = [  # (body fields, the `param` the 400 names)
    ({"temperature": 3}, "temperature"),
    ({"max_output_tokens": 8}, "max_output_tokens"),
    ({"max_output_tokens": 10_000_000}, "max_output_tokens"),
    ({"top_p": "high"}, "top_p"),
    ({"stream": "yes"}, "stream"),
    ({"text": {"format": {"type": "json_object"}}}, "text"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"background": True}, "background"),
    ({"top_logprobs": 5}, "top_logprobs"),
    ({"service_tier": "flex"}, "service_tier"),
    ({"max_tool_calls": 3}, "max_tool_calls"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"prompt_cache_retention": "24h"}, "prompt_cache_retention"),
    ({"stream_options": {"include_obfuscation": True}}, "stream_options"),
    ({"seed": 1}, "seed"),
    ({"include": ["message.output_text.logprobs"]}, "include[0]"),
    ({"truncation": "middle"}, "truncation"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": 5}}, "metadata.k"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{**WEATHER, "cache": True}]}, "tools[0].cache"),
    ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER]}, "tool_choice.name"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
        "input[0].content[0].type",
    ),
    ({"input": [{"role": "user", "content": "x", "cache_control": {}}]}, "input[0].cache_control"),
    ({"input": [{"role": "assistant", "content": "Only me."}]}, "input"),
    ({"input": []}, "input"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]},
        "input[0].content[0].text",
    ),
    ({"input": [{"role": "user", "content": []}]}, "input[0].content"),
    (
        {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
        "input[0].content[0].type",
    ),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "input"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x/y.png"}]}]},
        "input[0].content[0].image_url",
    ),
    ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"metadata": {"k" * 65: "v"}}, "metadata"),
    ({"conversation": "conv_x", "previous_response_id": "resp_x"}, "previous_response_id"),
]


@pytest.mark.parametrize(("fields", "param"), REFUSED, ids=[p for _, p in REFUSED])
async def test_parameters_are_honoured_or_refused_naming_them(offline_api, gpt_id, fields, param):
    sdk, base, key = offline_api
    raw = await raw_create(base, key, {"model": gpt_id, "input": "Hi", **fields})
    assert raw.status_code == 400, raw.text
    error = raw.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"], error


async def test_a_function_tool_choice_without_a_name_says_the_name_is_missing(offline_api, gpt_id):
    """Not "names None, which is not in 'tools'": the name is what is missing, as OpenAI says it."""
    sdk, base, key = offline_api
    raw = await raw_create(base, key, {"model": gpt_id, "input": "Hi", "tool_choice": {"type": "function"}})
    assert raw.status_code == 400, raw.text
    error = raw.json()["error"]
    assert (error["param"], error["code"]) == ("tool_choice.name", "missing_required_parameter"), error
    assert "None" not in error["message"]


async def test_honoured_and_forwarded_parameters_reach_the_model(llm_api, gpt_id, fake_openai):
    sdk, base, key = llm_api
    response = await sdk.responses.create(
        model=gpt_id,
        input="Hi",
        temperature=0.2,
        top_p=0.5,
        safety_identifier="u1",
        prompt_cache_key="k",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        truncation="disabled",
    )
    sent = fake_openai.chat_requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["safety_identifier"], sent["prompt_cache_key"]) == (
        0.2,
        0.5,
        "u1",
        "k",
    )
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert (response.temperature, response.top_p, response.truncation) == (0.2, 0.5, "disabled")
    assert response.tools[0].name == "get_weather"


def test_the_table_covers_the_request_and_the_docs_show_it():
    table = parameters(TABLE)
    assert list(table) == list(CreateResponseRequest.model_fields)
    section = DOCS.read_text().split("## Responses parameters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (honoured|forwarded|refused) \|", section, re.MULTILINE)
    assert rows == [(name, p.support) for name, p in table.items()]


async def test_unstorable_characters_in_input_text_are_removed_alike(offline_api, gpt_id):
    """`input` as a string is a user message, as a content part's `text` is: a stray U+0000 (or a lone
    surrogate) goes, the request is answered (it was a 400 for the string and silently cleaned in a part)."""
    sdk, base, key = offline_api
    as_string = await raw_create(base, key, {"model": gpt_id, "input": "Which fjord?\u0000"})
    part = {"role": "user", "content": [{"type": "input_text", "text": "Which fjord?\u0000"}]}
    as_part = await raw_create(base, key, {"model": gpt_id, "input": [part]})
    assert (as_string.status_code, as_part.status_code) == (200, 200), (as_string.text, as_part.text)
    stored = await sdk.responses.input_items.list(as_string.json()["id"])
    assert stored.data[0].content[0].text == "Which fjord?"
