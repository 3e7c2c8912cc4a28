"""Building a GPT by chat: the offline builder, and an LLM agent on the local OpenAI-compatible server."""

import json

from tests.fake_openai import error, text, tool_call


async def new_gpt(client, headers) -> str:
    return (await client.post("/api/gpts", headers=headers)).json()["id"]


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_offline_builder_turns_plain_sentences_into_changes(client, creator_headers):
    gpt_id = await new_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/builder/messages",
        json={
            "content": "make a bot that helps tourists plan fjord trips, call it Fjord Guide, friendly tone"
        },
        headers=creator_headers,
    )
    assert response.status_code == 200, response.text
    turn = response.json()
    assert (
        "without a language model" in turn["message"]["content"]
        or "no language model" in turn["message"]["content"]
    )
    changed = {c["field"]: c for c in turn["changes"]}
    assert changed["name"]["before"] == "" and changed["name"]["after"] == "Fjord Guide"
    assert "description" in changed and "instructions" in changed
    assert turn["gpt"]["name"] == "Fjord Guide"
    assert "friendly" in turn["gpt"]["instructions"].lower()

    german = await client.post(
        f"/api/gpts/{gpt_id}/builder/messages",
        json={"content": "antworte auf Deutsch"},
        headers=creator_headers,
    )
    assert german.json()["gpt"]["language"] == "de"
    assert german.json()["gpt"]["name"] == "Fjord Guide"  # untouched fields stay


async def test_undo_reverts_the_last_turn(client, creator_headers):
    gpt_id = await new_gpt(client, creator_headers)
    url = f"/api/gpts/{gpt_id}/builder/messages"
    await client.post(url, json={"content": "call it Fjord Guide"}, headers=creator_headers)
    await client.post(url, json={"content": "rename it Fjord Buddy"}, headers=creator_headers)
    undone = await client.post(f"/api/gpts/{gpt_id}/builder/undo", headers=creator_headers)
    assert undone.status_code == 200
    assert undone.json()["reverted"] == [
        {"field": "name", "before": "Fjord Buddy", "after": "Fjord Guide", "label": "Name"}
    ]
    assert undone.json()["gpt"]["name"] == "Fjord Guide"
    history = (await client.get(url, headers=creator_headers)).json()["data"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[-1]["undone"] is True


async def test_offline_builder_streams_changes_and_done(client, creator_headers):
    gpt_id = await new_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/builder/messages",
        json={"content": "call it Fjord Guide"},
        headers={**creator_headers, "Accept": "text/event-stream"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert "change" in names and "delta" in names and names[-1] == "done"
    assert events[-1][1]["gpt"]["name"] == "Fjord Guide"


async def test_llm_tool_calls_become_field_changes(llm_client, creator_headers, fake_openai):
    fake_openai.script(
        tool_call(
            "update_gpt",
            {"name": "Fjord Guide", "description": "Plans fjord trips.", "category": "lifestyle"},
        ),
        text("I drafted Fjord Guide. Does the name work for you?"),
    )
    gpt_id = await new_gpt(llm_client, creator_headers)
    response = await llm_client.post(
        f"/api/gpts/{gpt_id}/builder/messages",
        json={"content": "make a bot that helps tourists plan fjord trips"},
        headers=creator_headers,
    )
    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["message"]["content"] == "I drafted Fjord Guide. Does the name work for you?"
    assert {c["field"] for c in turn["changes"]} == {"name", "description", "category"}
    assert turn["gpt"]["category"] == "lifestyle"
    assert turn["usage"]["total_tokens"] > 0
    first, second = fake_openai.chat_requests
    assert first["tools"][0]["function"]["name"] == "update_gpt"
    assert "make a bot" in first["messages"][-1]["content"]
    assert second["messages"][-1]["role"] == "tool" and second["messages"][-1]["content"].startswith("ok")


async def test_invalid_tool_arguments_are_reported_to_the_model_not_applied(
    llm_client, creator_headers, fake_openai
):
    fake_openai.script(
        tool_call("update_gpt", {"name": "N" * 80, "category": "astrology"}),
        tool_call("update_gpt", {"name": "Fjord Guide"}),
        text("Named it Fjord Guide."),
    )
    gpt_id = await new_gpt(llm_client, creator_headers)
    turn = (
        await llm_client.post(
            f"/api/gpts/{gpt_id}/builder/messages", json={"content": "name it"}, headers=creator_headers
        )
    ).json()
    assert turn["changes"] == [{"field": "name", "before": "", "after": "Fjord Guide", "label": "Name"}]
    tool_reply = fake_openai.chat_requests[1]["messages"][-1]
    assert tool_reply["role"] == "tool" and tool_reply["content"].startswith("error")
    assert "name" in tool_reply["content"] and "category" in tool_reply["content"]


async def test_provider_errors_are_502_or_503_and_change_nothing(llm_client, creator_headers, fake_openai):
    gpt_id = await new_gpt(llm_client, creator_headers)
    url = f"/api/gpts/{gpt_id}/builder/messages"
    fake_openai.script(error(401, "bad key"))
    refused = await llm_client.post(url, json={"content": "call it X"}, headers=creator_headers)
    assert refused.status_code == 502
    assert "refused" in refused.json()["detail"]
    fake_openai.script(error(503))
    down = await llm_client.post(url, json={"content": "call it X"}, headers=creator_headers)
    assert down.status_code == 503
    assert (await llm_client.get(url, headers=creator_headers)).json()["data"] == []


async def test_llm_turn_streams_deltas_changes_and_done(llm_client, creator_headers, fake_openai):
    fake_openai.script(tool_call("update_gpt", {"name": "Fjord Guide"}), text("Named it. Who is it for?"))
    gpt_id = await new_gpt(llm_client, creator_headers)
    response = await llm_client.post(
        f"/api/gpts/{gpt_id}/builder/messages",
        json={"content": "call it Fjord Guide"},
        headers={**creator_headers, "Accept": "text/event-stream"},
    )
    events = sse_events(response.text)
    deltas = "".join(data["text"] for name, data in events if name == "delta")
    assert deltas == "Named it. Who is it for?"
    assert [data["field"] for name, data in events if name == "change"] == ["name"]
    assert events[-1][0] == "done" and events[-1][1]["gpt"]["name"] == "Fjord Guide"
    assert all(r.get("stream") for r in fake_openai.chat_requests)


async def test_builder_turns_are_rate_limited_with_retry_after(client, creator_headers, settings):
    settings.rate_limit_messages_per_minute = 1
    gpt_id = await new_gpt(client, creator_headers)
    url = f"/api/gpts/{gpt_id}/builder/messages"
    assert (await client.post(url, json={"content": "call it A"}, headers=creator_headers)).status_code == 200
    limited = await client.post(
        url, json={"content": "call it B"}, headers={**creator_headers, "Accept": "text/event-stream"}
    )
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"].startswith("application/problem+json")
