"""A message with no text but spaces and line breaks is refused naming the field of each API that takes a
user's message (it used to be a 500 when it began a conversation: its title had no first line)."""

from __future__ import annotations

import pytest

from store.chat import conversation_title
from tests.store.factories import create_published_gpt
from tests.store.test_mcp_server import api_key, mcp_session, running
from tests.web.test_embed import open_window

BLANK = "   \n  "
# only characters that show nothing: zero-width space, BOM, word joiner (a pattern `\S` let them through)
INVISIBLE = "\u200b\ufeff\u2060"


def named(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("blank", [BLANK, INVISIBLE])
async def test_the_store_chat_and_the_embed_refuse_a_blank_message_naming_content(
    client, session, creator, creator_headers, blank
):
    gpt_id = (await create_published_gpt(session, creator)).gpt_id
    started = await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=creator_headers)
    conversation = started.json()["id"]

    for headers in (creator_headers, {**creator_headers, "Accept": "text/event-stream"}):
        refused = await client.post(
            f"/api/conversations/{conversation}/messages", json={"content": blank}, headers=headers
        )
        assert refused.status_code == 422 and named(refused) == ["content"], refused.text

    _, token = await open_window(client, gpt_id)
    refused = await client.post(
        f"/api/embed/{gpt_id}/messages", json={"content": blank}, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 422 and named(refused) == ["content"], refused.text


@pytest.mark.parametrize("blank", [BLANK, INVISIBLE])
async def test_the_builder_chat_and_the_preview_refuse_a_blank_message_naming_content(
    client, creator_headers, blank
):
    gpt_id = (await client.post("/api/gpts", json={"name": "Fjord Guide"}, headers=creator_headers)).json()[
        "id"
    ]

    for path in ("builder/messages", "preview/messages"):
        refused = await client.post(
            f"/api/gpts/{gpt_id}/{path}", json={"content": blank}, headers=creator_headers
        )
        assert refused.status_code == 422 and named(refused) == ["content"], (path, refused.text)


@pytest.mark.parametrize("blank", [BLANK, INVISIBLE])
async def test_v1_refuses_a_blank_question_naming_its_parameter(
    client, session, creator, creator_headers, blank
):
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": [{"type": "text", "text": blank}]},
    ]

    completion = await client.post(
        "/v1/chat/completions", json={"model": gpt_id, "messages": messages}, headers=creator_headers
    )

    assert completion.status_code == 400, completion.text
    assert completion.json()["error"]["param"] == "messages[1].content"
    for body, param in (
        ({"input": blank}, "input"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": blank}]}]},
            "input[0].content",
        ),
    ):
        response = await client.post("/v1/responses", json={"model": gpt_id, **body}, headers=creator_headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("blank", [BLANK, INVISIBLE])
async def test_mcp_ask_refuses_a_blank_question(settings, db, redis, session, creator, blank):
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    key = await api_key(session, settings, creator)
    async with running(settings, db, redis) as (app, _):
        async with mcp_session(app, gpt_id, key) as mcp:
            refused = await mcp.call_tool("ask", {"question": blank})
    assert refused.is_error and "question" in refused.content[0].text


@pytest.mark.parametrize(
    ("text", "title"),
    [("\n\n  Fjords?\nMore", "Fjords?"), (BLANK, ""), ("\u2028x", "x"), ("a" * 200, "a" * 120)],
)
def test_a_title_comes_from_the_first_line_with_text(text, title):
    assert conversation_title(text) == title
