"""A `/v1/responses` request resolved into what the answer needs (`plan`, a `ResponsePlan`): the GPT and its
live version, the dialogue (a `conversation`'s messages or a `previous_response_id`'s, then the input items
as chat messages), the knowledge retrieved for the question, and the GPT's own tools opened for the turn.
Answered and kept by `store.responses`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.errors import Invalid, NotFound
from core.llm import ChatModel, Message, fit_messages
from core.models import User
from core.settings import Settings
from retrieval.answer import AnswerContext, find_sources
from retrieval.answer_prompt import system_prompt
from retrieval.knowledge_search import SourcedHit
from store import usage as usage_counters
from store.chat import ChatService, version_context
from store.conversations import ConversationService
from store.models import Conversation, StoredResponse
from store.openai_service import model_not_found
from store.responses_input import InputItem
from store.responses_params import CreateResponseRequest, check_content, conversation_ref, forwarded
from store.responses_tools import chat_tool, open_server_tools
from store.service import StoreService
from tools.runtime import Toolset

RESPONSE_PREFIX = "resp_"
CONVERSATION_PREFIX = "conv_"
NEEDS_MODEL = "needs a language model, and this server runs without one (offline mode)"


@dataclass
class ResponsePlan:
    """A checked request, resolved to the GPT: everything needed to answer it and to keep it."""

    request: CreateResponseRequest
    user_id: uuid.UUID
    gpt_id: uuid.UUID
    context: AnswerContext
    model: str  # the chat model behind the GPT
    messages: list[Message]  # what the chat model reads: system prompt with sources, then the dialogue
    dialogue: list[Message]  # the dialogue as chat messages (no system prompt), for the stored response
    question: str
    images: list[str]
    sources: list[SourcedHit]
    input_items: list[dict[str, Any]]
    conversation_id: uuid.UUID | None = None
    previous_response_id: uuid.UUID | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # Chat Completions `tools`
    options: dict[str, Any] = field(default_factory=dict)
    image_note: str | None = None  # why the images were not looked at, if they were not
    toolset: Toolset | None = None  # the GPT's own tools; `answer` closes it
    allowed: frozenset[str] = frozenset()  # functions the user allowed for good: they run without asking
    # The site's origin (`https://host`): a citation's dataset and owner pages are whole URLs on it.
    site: str = ""
    uuid: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def id(self) -> str:
        return public_id(self.uuid)


def public_id(response_id: uuid.UUID) -> str:
    return RESPONSE_PREFIX + response_id.hex


def _uuid(value: str, prefix: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.removeprefix(prefix))
    except (ValueError, AttributeError):
        return None


async def owned_response(session: AsyncSession, user: User, response_id: str, param: str | None = None):
    """The user's stored response `resp_...`; 404 otherwise (also for another user's)."""
    key = _uuid(response_id, RESPONSE_PREFIX)
    row = await session.get(StoredResponse, key) if key else None
    if row is None or row.user_id != user.id:
        raise NotFound(f"No response found with id '{response_id}'.", param=param, code="not_found")
    return row


async def find_conversation(session: AsyncSession, user: User, ref: str) -> Conversation:
    """The user's store conversation named `ref` (`conv_<hex>` or its UUID); 404 naming `conversation`."""
    key = _uuid(ref, CONVERSATION_PREFIX)
    conversation = await session.get(Conversation, key) if key else None
    if conversation is None or conversation.user_id != user.id:
        raise NotFound(f"No conversation found with id '{ref}'.", param="conversation", code="not_found")
    return conversation


@cache
def _vision_prefixes() -> tuple[str, ...]:
    lines = resources.files("store").joinpath("data", "vision_models.txt").read_text().splitlines()
    return tuple(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def reads_images(model: str) -> bool:
    """Whether `model` takes images (`data/vision_models.txt`; a provider prefix like `openai/` skipped)."""
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_vision_prefixes())


def _item_id(item: InputItem) -> str:
    prefix = {
        "message": "msg_",
        "function_call": "fc_",
        "function_call_output": "fco_",
        "file_search_call": "fs_",
        "mcp_call": "mcp_",
    }.get(item.type, "act_")
    return prefix + uuid.uuid4().hex


def _chat_messages(items: list[InputItem]) -> list[Message]:
    """Input items as chat messages: function calls join the assistant turn before them."""
    out: list[Message] = []
    for item in items:
        if item.record is not None:
            continue  # the server's own work: the assistant message after it holds what it found
        if item.type == "message":
            out.append({"role": item.role, "content": item.text})
        elif item.type == "function_call":
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            if out and out[-1]["role"] == "assistant":
                out[-1].setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
    return out


def _check_outputs_follow_calls(items: list[InputItem], history: list[Message]) -> None:
    """Each `function_call_output` directly answers a call still waiting for it (only other outputs
    between), and every call is answered before the next message, as a chat model requires: a 400 naming
    the item, not the provider's 400 as a 502."""
    waiting: dict[str, str] = {}  # call id -> where it was made
    answered: set[str] = set()
    for message in history:
        if message["role"] == "assistant" and message.get("tool_calls"):
            waiting = {c["id"]: "the previous response" for c in message["tool_calls"]}
        elif message["role"] == "tool":
            waiting.pop(message.get("tool_call_id"), None)
            answered.add(message.get("tool_call_id"))
        else:
            waiting = {}
    after_output = False
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if item.type == "function_call":
            if after_output:  # a new assistant turn: the calls before it must all be answered
                _unanswered(waiting, where)
            waiting[item.call_id] = where
            after_output = False
        elif item.type == "function_call_output":
            if item.call_id not in waiting:
                why = (
                    "it has an output already"
                    if item.call_id in answered
                    else "no function call before it has this call_id, with only outputs in between"
                )
                raise Invalid(
                    f"No function call waits for the output with call_id '{item.call_id}': {why}.",
                    field=f"{where}.call_id",
                    param=f"{where}.call_id",
                    code="invalid_value",
                )
            del waiting[item.call_id]
            answered.add(item.call_id)
            after_output = True
        elif item.type == "message" and item.role not in ("system", "developer"):
            _unanswered(waiting, where)
            waiting, after_output = {}, False


def _unanswered(waiting: dict[str, str], where: str) -> None:
    if waiting:
        call_id, made = next(iter(waiting.items()))
        raise Invalid(
            f"No output found for the function call with call_id '{call_id}' (made in {made}): send its "
            f"'function_call_output' before '{where}'.",
            field=where,
            param=where,
            code="invalid_value",
        )


async def _history(
    chats: ChatService, user: User, request: CreateResponseRequest
) -> tuple[list[Message], Conversation | None, uuid.UUID | None, str | None]:
    """The dialogue before this input: the previous response's, or the conversation's messages (the
    `/v1/conversations` transcript, whose `system`/`developer` items come back as client instructions)."""
    if request.previous_response_id is not None:
        previous = await owned_response(
            chats.session, user, request.previous_response_id, "previous_response_id"
        )
        return list(previous.messages), None, previous.id, None
    ref = conversation_ref(request.conversation)
    if ref is None:
        return [], None, None, None
    conversation = await find_conversation(chats.session, user, ref)
    history, instructions = await ConversationService(chats.session, chats.settings, chats.redis).transcript(
        conversation
    )
    return history, conversation, None, instructions


async def plan(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    llm: ChatModel | None,
    user: User,
    request: CreateResponseRequest,
) -> ResponsePlan:
    """Resolve `model` to a GPT the user may use (404 `model_not_found` otherwise), read the input and the
    dialogue it continues, then rate-limit (a refused request counts nothing), search the GPT's knowledge
    for the last user message, count the message. The input is read after the model is known: a request
    the schema allows is not a 400 for an unknown model."""
    gpt_id = _uuid(request.model, "")
    store = StoreService(session, settings, redis)
    try:
        listing = await store.visible_listing(gpt_id, user) if gpt_id else None
    except NotFound:
        listing = None
    if listing is None:
        raise model_not_found(request.model)
    items = check_content(request)
    if llm is None and request.tools:
        raise Invalid(
            f"Client tools ('tools') {NEEDS_MODEL}.",
            field="tools",
            param="tools",
            code="unsupported_parameter",
        )
    if llm is None and any(i.type in ("function_call", "function_call_output") for i in items):
        raise Invalid(
            f"Function calls and their outputs in 'input' {NEEDS_MODEL}.",
            field="input",
            param="input",
            code="unsupported_value",
        )
    chats = ChatService(session, settings, redis, llm)
    history, conversation, previous_id, kept_instructions = await _history(chats, user, request)
    extra = [kept_instructions or "", request.instructions or ""]
    extra += [i.text for i in items if i.role in ("system", "developer")]
    dialogue_items = [i for i in items if i.role not in ("system", "developer")]
    dialogue = history + _chat_messages(dialogue_items)
    _check_outputs_follow_calls(items, history)
    users = [i for i, m in enumerate(dialogue) if m["role"] == "user"]
    if not users:
        raise Invalid(
            "'input' needs a user message: the last one is the question.",
            field="input",
            param="input",
            code="invalid_value",
        )
    question = dialogue[users[-1]]["content"] or ""
    first_answer = False
    if conversation is not None:
        # An unbound /v1 conversation is pinned to this GPT now (and counted); a bound one must be of this
        # GPT (400). One bound when it was made counts with its first answer.
        first_answer = conversation.gpt_id is not None and not any(m["role"] == "assistant" for m in history)
        conversations = ConversationService(session, settings, redis)
        version = await conversations.bind(user, conversation, gpt_id)
    else:
        version = await store.live_version(listing)
    await ratelimit.enforce(redis, user.id, "messages", settings.rate_limit_messages_per_minute, 60)
    context = replace(
        version_context(version), client_instructions="\n\n".join(t for t in extra if t) or None
    )
    model = context.model or (llm.model if llm else settings.chat_model)
    sources = await find_sources(session, settings, context, question)
    # A toolset holds no connection before its first call: a refusal below leaves nothing open.
    toolset, allowed = await open_server_tools(
        session, settings, gpt_id, user.id, version, list(request.tools or [])
    )
    tools = toolset is not None and llm is not None
    system = {"role": "system", "content": system_prompt(context, sources, tools=tools)}
    budget = settings.chat_context_tokens - settings.chat_max_output_tokens
    messages = fit_messages([system, *dialogue], budget, model)
    if request.truncation == "disabled" and len(messages) < len(dialogue) + 1:
        raise Invalid(
            "The input does not fit the model's context window and 'truncation' is 'disabled'.",
            field="input",
            param="input",
            code="context_length_exceeded",
        )
    images = [url for i in dialogue_items if i.role == "user" for url in i.images]
    note = None
    if images and (llm is None or not reads_images(model)):
        why = (
            "no language model is configured"
            if llm is None
            else f"this GPT's model ({model}) cannot see images"
        )
        note = f"(The image in your message was not looked at: {why}.)"
    elif images and messages[-1]["role"] == "user":
        parts = [{"type": "text", "text": question}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
        messages[-1] = {**messages[-1], "content": parts}
    await usage_counters.count(redis, gpt_id, user.id, conversations=int(first_answer), messages=1)
    return ResponsePlan(
        request=request,
        user_id=user.id,
        gpt_id=gpt_id,
        context=context,
        model=model,
        messages=messages,
        dialogue=dialogue,
        question=question,
        images=images,
        sources=sources,
        input_items=[item.as_item(_item_id(item)) for item in items],
        conversation_id=conversation.id if conversation else None,
        previous_response_id=previous_id,
        tools=[chat_tool(t) for t in request.tools or []],
        options=forwarded(request),
        image_note=note,
        toolset=toolset,
        allowed=allowed,
    )
