"""The fake OpenAI server speaks the real wire format: the official SDK parses what it sends."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from tests.fake_openai import FakeOpenAI, error, fake_embedding, text, tool_call

UPDATE_GPT_TOOL = {
    "type": "function",
    "function": {
        "name": "update_gpt",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_openai(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
async def sdk(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK pointed at the fake, with its own retries off."""
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="test-key", max_retries=0)
    yield client
    await client.close()


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


async def test_text_reply_and_recorded_request(fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI) -> None:
    fake_openai.script(text("Hello there."))

    completion = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=user("hi"), tools=[UPDATE_GPT_TOOL]
    )

    assert completion.choices[0].message.content == "Hello there."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    [sent] = fake_openai.chat_requests
    assert sent["messages"] == user("hi")
    assert sent["tools"][0]["function"]["name"] == "update_gpt"
    assert fake_openai.calls[0].headers["authorization"] == "Bearer test-key"


async def test_empty_script_echoes_last_user_message(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=user("ping"))

    assert completion.choices[0].message.content == "echo: ping"


async def test_streamed_text_arrives_in_pieces_with_usage(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.script(text("A streamed answer, in several pieces."))

    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("stream please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish_reasons, usage = [], [], None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)

    assert "".join(pieces) == "A streamed answer, in several pieces."
    assert len(pieces) > 1
    assert finish_reasons == ["stop"]
    assert usage is not None and usage.completion_tokens > 0


async def test_streamed_tool_call_arguments_accumulate_to_json(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    arguments = {"name": "Sous-chef", "instructions": "Answer with recipes only."}
    fake_openai.script(tool_call("update_gpt", arguments, id="call_1"))

    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=user("make me a GPT"), tools=[UPDATE_GPT_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    argument_pieces = 0
    finish_reason = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish_reason = choice.finish_reason or finish_reason
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                if delta.function.arguments:
                    call["arguments"] += delta.function.arguments
                    argument_pieces += 1

    assert finish_reason == "tool_calls"
    assert calls[0]["id"] == "call_1"
    assert calls[0]["name"] == "update_gpt"
    assert json.loads(calls[0]["arguments"]) == arguments
    assert argument_pieces > 1


async def test_non_streamed_tool_call(fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI) -> None:
    fake_openai.script(tool_call("update_gpt", {"name": "Chef"}))

    completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=user("x"))

    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "update_gpt"
    assert json.loads(call.function.arguments) == {"name": "Chef"}
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_embeddings_honour_dimensions(fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI) -> None:
    inputs = ["the cat sat on the mat", "a cat sat on a mat", "quarterly revenue report"]

    # The SDK asks for base64 by default; ask for floats once too.
    as_base64 = await sdk.embeddings.create(model="text-embedding-3-small", input=inputs, dimensions=64)
    as_floats = await sdk.embeddings.create(
        model="text-embedding-3-small", input=inputs, dimensions=64, encoding_format="float"
    )
    default = await sdk.embeddings.create(model="text-embedding-3-small", input="one")

    vectors = [item.embedding for item in as_base64.data]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert len(default.data[0].embedding) == 1536
    assert as_base64.usage.total_tokens > 0
    for got, want in zip(vectors, (item.embedding for item in as_floats.data), strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert vectors[0] == pytest.approx(fake_embedding(inputs[0], 64), abs=1e-6)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert math.isclose(cosine(vectors[0], vectors[0]), 1.0, rel_tol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert [r.get("dimensions") for r in fake_openai.embedding_requests] == [64, 64, None]


async def test_scripted_error_raises_matching_sdk_exception(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.script(error(429, "Slow down", headers={"retry-after": "1"}))

    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=user("x"))

    assert caught.value.status_code == 429
    assert caught.value.body["message"] == "Slow down"
    assert caught.value.response.headers["retry-after"] == "1"


async def test_fail_next_applies_to_embeddings_then_recovers(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.fail_next(503)

    with pytest.raises(openai.InternalServerError):
        await sdk.embeddings.create(model="text-embedding-3-small", input="x")
    response = await sdk.embeddings.create(model="text-embedding-3-small", input="x")

    assert len(response.data) == 1


async def test_wrong_api_key_is_rejected() -> None:
    with FakeOpenAI(api_key="right") as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
        await client.close()


async def test_models_are_listed(sdk: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in sdk.models.list()]

    assert "gpt-4o-mini" in models and "text-embedding-3-small" in models
