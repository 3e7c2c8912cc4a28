"""Fixtures for the OpenAI-compatible API: the official `openai` SDK pointed at the app in-process."""

from __future__ import annotations

import openai
import pytest

from tests.factories import auth_headers
from tests.store.factories import create_published_gpt


def sdk_for(http_client, headers: dict[str, str]) -> openai.AsyncOpenAI:
    """The SDK over the app's ASGI client, authenticated as the owner of `headers`."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return openai.AsyncOpenAI(
        base_url=str(http_client.base_url).rstrip("/") + "/v1",
        api_key=token,
        http_client=http_client,
        max_retries=0,
    )


@pytest.fixture
async def gpt_id(session, creator) -> str:
    """A published, listed GPT of `creator`."""
    return str((await create_published_gpt(session, creator)).gpt_id)


@pytest.fixture
def sdk(client, creator, settings) -> openai.AsyncOpenAI:
    """The SDK against the app in offline mode (extractive answers)."""
    return sdk_for(client, auth_headers(creator, settings))


@pytest.fixture
def llm_sdk(llm_client, creator, llm_settings) -> openai.AsyncOpenAI:
    """The SDK against the app whose chat model is the local fake OpenAI server."""
    return sdk_for(llm_client, auth_headers(creator, llm_settings))
