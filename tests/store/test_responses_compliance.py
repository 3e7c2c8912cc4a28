"""The seven cases of the Open Responses compliance suite, each a test of its own, against a published GPT:
with the scripted chat model (tests/fake_openai.py) and offline (all but tool calling, which is a clear 400).

Each case sends the suite's own request body (tests/data/open_responses/compliance_cases.json) as the suite
does (JSON over HTTP, `stream` set per case) and applies the suite's checks: the response (or, streamed, every
event and the final response) against the specification's required fields, output present, status
`completed`, and for tool calling a `function_call` item and its argument events.
"""

from __future__ import annotations

import pytest

from tests.fake_openai import text, tool_call
from tests.store.open_responses import CASES, check_events, check_response, parse_sse

TOOL_CASES = {"tool-calling", "tool-calling-streaming"}


async def _run(client, headers, gpt_id: str, case: str) -> tuple[int, dict, list[dict]]:
    spec = CASES[case]
    body = {**spec["body"], "model": gpt_id, "stream": spec["stream"]}
    response = await client.post("/v1/responses", json=body, headers=headers)
    if response.status_code != 200 or not spec["stream"]:
        return response.status_code, response.json(), []
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    return 200, check_events(events), events


def _check_case(case: str, final: dict, events: list[dict]) -> None:
    check_response(final)
    assert final["output"], "no output items"
    if case in TOOL_CASES:
        call = next(item for item in final["output"] if item["type"] == "function_call")
        assert call["name"] == "get_weather" and "San Francisco" in call["arguments"]
    else:
        assert final["status"] == "completed"
        message = next(item for item in final["output"] if item["type"] == "message")
        assert message["content"][0]["text"]
    if events:
        kinds = [e["type"] for e in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        if case in TOOL_CASES:
            added = [e for e in events if e["type"] == "response.output_item.added"]
            assert any(e["item"]["type"] == "function_call" for e in added)
            assert "response.function_call_arguments.delta" in kinds
            assert "response.function_call_arguments.done" in kinds
            done = [e for e in events if e["type"] == "response.output_item.done"]
            assert any(e["item"]["type"] == "function_call" for e in done)
        else:
            deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            assert deltas == final["output"][-1]["content"][0]["text"]


@pytest.mark.parametrize("case", list(CASES))
async def test_compliance_case_with_a_chat_model(
    case, llm_client, creator, llm_settings, gpt_id, fake_openai
):
    from tests.factories import auth_headers

    if case in TOOL_CASES:
        fake_openai.script(tool_call("get_weather", {"location": "San Francisco, CA"}))
    elif case == "system-prompt":
        fake_openai.script(text("Ahoy, matey!"))
    status, final, events = await _run(llm_client, auth_headers(creator, llm_settings), gpt_id, case)
    assert status == 200, final
    _check_case(case, final, events)
    sent = fake_openai.chat_requests[-1]
    if case in TOOL_CASES:
        assert sent["tools"][0]["function"]["name"] == "get_weather"
    if case == "system-prompt":
        system = sent["messages"][0]["content"]
        # The client's system message adds to the GPT's instructions, after them, never replacing them.
        assert system.index("Help people plan fjord trips.") < system.index("You are a pirate.")
        assert final["output"][0]["content"][0]["text"] == "Ahoy, matey!"
    if case == "image-input":  # gpt-4o-mini reads images: the image goes to the model with the text
        parts = sent["messages"][-1]["content"]
        assert parts[0]["type"] == "text" and parts[1]["type"] == "image_url"
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    if case == "multi-turn":
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
        assert sent["messages"][1]["content"] == "My name is Alice."


@pytest.mark.parametrize("case", list(CASES))
async def test_compliance_case_offline(case, client, creator_headers, gpt_id):
    status, final, events = await _run(client, creator_headers, gpt_id, case)
    if case in TOOL_CASES:
        assert status == 400, final
        error = final["error"]
        assert error["param"] == "tools" and error["type"] == "invalid_request_error"
        assert "language model" in error["message"]
        return
    assert status == 200, final
    _check_case(case, final, events)
    answer = final["output"][-1]["content"][0]["text"]
    if case == "image-input":  # no model to look at it: said in the answer, and still completed
        assert "image in your message was not looked at" in answer
