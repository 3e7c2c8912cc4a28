"""Responses as a GPT (`/v1/responses`): a request resolved to the GPT and its dialogue
(`store.responses_plan`), answered, and kept.

The answer comes from the same grounded-answer code as the store chat and Chat Completions
(`retrieval.answer`: the GPT's instructions, its knowledge as numbered sources, the verbatim guard), so a GPT
behaves the same under any API. Client instructions (`instructions`, `system`/`developer` messages) add to the
GPT's and never replace them. Client `function` tools go to the chat model; the calls it makes come back as
`function_call` items for the client to run. The GPT's own actions and MCP tools run on the server, as in
Chat Completions (`store.responses_tools`). The events and objects are written by `store.responses_output`.

Stored responses (`store: true`, the default) are rows of `response`, visible to their user only; the dialogue
they hold (input and output as chat messages) is what `previous_response_id` continues. A `conversation` is
the store's own (`store.models.Conversation`), the one the web chat shows: its messages come first and the
turn is added to it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.llm import ChatModel, Delta
from core.settings import Settings
from core.tokens import count_chat_tokens, count_tokens, encoding_for_model
from retrieval.answer import (
    Answer,
    answer_guard,
    extractive_answer,
    model_answer,
    with_offline_note,
)
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted
from store.chat import cancel_waiting, conversation_title, hold_for_turn
from store.models import ChatMessage, Conversation, StoredResponse
from store.openai_ids import conversation_public_id, item_key
from store.openai_service import clip
from store.responses_plan import ResponsePlan
from store.responses_tools import chat_tool_choice, turn_messages


async def answer(
    settings: Settings, llm: ChatModel | None, plan: ResponsePlan
) -> AsyncIterator[Delta | ToolCallStarted | ToolCallEnded | Answer]:
    """The answer's text as it comes (`Delta`s) with the start and end of each call of the GPT's own tools,
    then the `Answer` (citations, usage, client function calls). Closes the plan's toolset.

    The API is stateless, so nothing can wait for an approval: only calls that need none, or that the user
    allowed for good, run; a call that needs approval ends the answer with a note (docs/tools-chat.md)."""
    try:
        async for event in _answer(settings, llm, plan):
            yield event
    finally:
        if plan.toolset is not None:
            await plan.toolset.aclose()


async def _answer(
    settings: Settings, llm: ChatModel | None, plan: ResponsePlan
) -> AsyncIterator[Delta | ToolCallStarted | ToolCallEnded | Answer]:
    guard = answer_guard(settings, plan.context, plan.sources)
    encoding = encoding_for_model(plan.model)
    cap = plan.request.max_output_tokens
    if llm is None:
        offline = with_offline_note(extractive_answer(plan.question, plan.sources, guard), plan.toolset)
        result = clip(offline, [], cap, encoding)
        result.usage = {
            "prompt_tokens": count_chat_tokens(plan.messages, encoding),
            "completion_tokens": count_tokens(result.content, encoding),
        }
        yield Delta(result.content)
    else:
        options: dict[str, Any] = {"max_tokens": cap, **plan.options}
        if plan.tools:
            options["tool_choice"] = chat_tool_choice(plan.request.tool_choice)
        result = None
        events = model_answer(
            llm, plan.messages, plan.sources, plan.model, guard,
            toolset=plan.toolset, allowed=plan.allowed, can_ask=False, client_functions=plan.tools, **options,
        )  # fmt: skip
        async for event in events:
            if isinstance(event, Answer):
                result = event
            else:
                yield event
        assert result is not None
        reported = result.usage or {}
        result.usage = {
            "prompt_tokens": reported.get("prompt_tokens", count_chat_tokens(plan.messages, encoding)),
            "completion_tokens": reported.get("completion_tokens", count_tokens(result.content, encoding)),
        }
    if plan.image_note:
        note = ("\n\n" if result.content else "") + plan.image_note
        result.content += note
        yield Delta(note)
    yield result


Persist = Callable[[ResponsePlan, dict[str, Any], Answer], Awaitable[None]]


async def save(session: AsyncSession, plan: ResponsePlan, response: dict[str, Any], result: Answer) -> None:
    """Keep the response (`store`) and add the turn to its conversation, in `session`. A conversation
    deleted while the answer was made is a 404 naming `conversation` and nothing is kept (a stream ends
    with `response.failed` saying so), as the store chat answers it: never a 200 whose turn was dropped."""
    alive = plan.conversation_id is not None and await hold_for_turn(session, plan.conversation_id)
    if plan.conversation_id is not None and not alive:
        raise NotFound(
            f"The conversation '{conversation_public_id(plan.conversation_id)}' was deleted while this "
            "response was being made; the answer was not saved.",
            param="conversation",
            code="conversation_deleted",
        )
    if plan.request.store is not False:
        session.add(
            StoredResponse(
                id=plan.uuid,
                user_id=plan.user_id,
                gpt_id=plan.gpt_id,
                conversation_id=plan.conversation_id,
                previous_response_id=plan.previous_response_id,
                body=response,
                input_items=plan.input_items,
                messages=[*plan.dialogue, *turn_messages(result)],
            )
        )
    if alive:
        conversation = await session.get(Conversation, plan.conversation_id)
        if not conversation.title:
            conversation.title = conversation_title(plan.question)
        conversation.updated_at = sa.func.now()
        await cancel_waiting(session, conversation.id)  # a newer question, as in the store chat
        # the items keep the ids this response shows them with, as OpenAI's conversations do
        asked = _last_id(plan.input_items, lambda i: i.get("type") == "message" and i.get("role") == "user")
        answered = _last_id(response.get("output", []), lambda i: i.get("type") == "message")
        session.add(
            ChatMessage(id=asked, conversation_id=conversation.id, role="user", content=plan.question)
        )
        session.add(
            ChatMessage(
                id=answered,
                conversation_id=conversation.id,
                role="assistant",
                content=result.content,
                citations=[c.as_json() for c in result.citations],
                usage=result.usage,
            )
        )
    await session.flush()


def _last_id(items: list[dict[str, Any]], wanted: Callable[[dict[str, Any]], bool]) -> uuid.UUID:
    """The message id (`msg_<hex>`) of the last item `wanted` picks, as a UUID; a new one if none."""
    picked = [item["id"] for item in items if wanted(item)]
    return (item_key(picked[-1]) if picked else None) or uuid.uuid4()


async def input_items_page(row: StoredResponse, limit: int, order: str, after: str | None) -> dict[str, Any]:
    """A page of a stored response's input items (OpenAI's list shape), `order` `asc` or `desc`; 404 naming
    `after` when it is not one of them (as a conversation's items answer)."""
    items = list(row.input_items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise NotFound(f"Item with id '{after}' not found.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
