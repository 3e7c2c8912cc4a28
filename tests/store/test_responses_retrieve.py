"""`GET /v1/responses/{id}` with the `openai` SDK's options: what it cannot do is a 400, never ignored."""

from __future__ import annotations

import openai
import pytest

from tests.store.factories import create_published_gpt


async def test_retrieve_refuses_stream_and_include_instead_of_ignoring_them(sdk, session, creator):
    """`retrieve(id, stream=True)` used to answer the JSON object, which the SDK read as a stream of no
    events; `include` was dropped. Both are a 400 naming them; a plain retrieve is the stored response."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    made = await sdk.responses.create(model=gpt_id, input="Best fjord in May?")

    with pytest.raises(openai.BadRequestError) as streamed:
        await sdk.responses.retrieve(made.id, stream=True)
    assert (streamed.value.body["param"], streamed.value.body["code"]) == ("stream", "unsupported_value")
    with pytest.raises(openai.BadRequestError) as included:
        await sdk.responses.retrieve(made.id, include=["file_search_call.results"])
    assert (included.value.body["param"], included.value.body["code"]) == ("include", "unsupported_parameter")

    fetched = await sdk.responses.retrieve(made.id, stream=False)
    assert (fetched.id, fetched.output_text) == (made.id, made.output_text)
    with pytest.raises(openai.NotFoundError):  # an unknown id is still a 404 first
        await sdk.responses.retrieve("resp_unknown", stream=True)


async def test_the_sdks_query_lists_are_read(sdk):
    """The SDK writes a query list as `include[]=...`: read under `include`, so a value outside OpenAI's is
    a 400 naming it through the SDK too (it was never seen, so anything passed)."""
    conversation = await sdk.conversations.create(items=[{"role": "user", "content": "Best fjord?"}])
    listed = await sdk.conversations.items.list(conversation.id, include=["message.output_text.logprobs"])
    assert len(listed.data) == 1
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.conversations.items.list(conversation.id, include=["nope"])  # type: ignore[list-item]
    assert refused.value.body["param"] == "include"
