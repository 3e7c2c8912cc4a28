"""Without a language model, a GPT with tools answers from its knowledge, names the tools it cannot call,
and never makes up a result: nothing is called."""

from __future__ import annotations

import pytest

from tests.asgi import app_client_for
from tests.store.conftest import sdk_for
from tests.tools.chatkit import create_tool_gpt, publish_and_start
from tests.tools.servers import loopback_settings


@pytest.fixture
async def offline_client(settings, db, redis):
    async with app_client_for(loopback_settings(settings), db=db, redis=redis) as client:
        yield client


async def test_the_offline_answer_names_the_tools_it_cannot_call(offline_client, creator_headers, tools_api):
    gpt_id = await create_tool_gpt(offline_client, creator_headers, tools_api)
    conversation = await publish_and_start(offline_client, creator_headers, gpt_id)

    response = await offline_client.post(
        f"/api/conversations/{conversation}/messages",
        json={"content": "Book me a trip to Oslo"},
        headers=creator_headers,
    )

    message = response.json()["message"]
    assert "createTrip (127.0.0.1)" in message["content"] and "listTrips (127.0.0.1)" in message["content"]
    assert "without a language model" in message["content"]
    assert message["tool_calls"] == [] and message["status"] == "completed"
    assert tools_api.requests == []


async def test_the_offline_preview_and_api_say_the_same(offline_client, creator_headers, creator, tools_api):
    gpt_id = await create_tool_gpt(offline_client, creator_headers, tools_api)
    preview = await offline_client.post(
        f"/api/gpts/{gpt_id}/preview/messages", json={"content": "List my trips"}, headers=creator_headers
    )
    assert "listTrips (127.0.0.1)" in preview.json()["message"]["content"]
    await publish_and_start(offline_client, creator_headers, gpt_id)

    completion = await sdk_for(offline_client, creator_headers).chat.completions.create(
        model=gpt_id, messages=[{"role": "user", "content": "List my trips"}]
    )

    assert "listTrips (127.0.0.1)" in completion.choices[0].message.content
    assert tools_api.requests == []


async def test_a_gpt_without_tools_adds_no_tool_sentence(offline_client, creator_headers):
    created = await offline_client.post("/api/gpts", json={"name": "Plain"}, headers=creator_headers)
    preview = await offline_client.post(
        f"/api/gpts/{created.json()['id']}/preview/messages", json={"content": "Hi"}, headers=creator_headers
    )
    assert "tools" not in preview.json()["message"]["content"]
