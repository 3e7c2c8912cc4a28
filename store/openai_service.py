"""Chat completions as a GPT: choices, token usage and OpenAI's response and chunk shapes.

Usage is counted with tiktoken in OpenAI's way (`core.tokens.count_chat_tokens`) over what the model reads:
the GPT's system prompt with its sources, the history that fits and the question. With a chat model the
provider's reported usage wins when it sends one; each of `n` choices is one model call, so usage is their
sum. Offline nothing is sampled: the prompt counts once and each choice's extractive answer adds its tokens.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.errors import AppError, Invalid, NotFound
from core.llm import ChatModel, Delta, Message
from core.models import User
from core.openai_errors import stream_error_event
from core.settings import Settings
from core.tokens import count_chat_tokens, count_tokens, encoding_for_model, truncate_tokens
from retrieval.answer import (
    Answer,
    AnswerContext,
    answer_guard,
    answer_messages,
    extractive_answer,
    find_sources,
    model_answer,
    with_offline_note,
)
from retrieval.knowledge_search import SourcedHit
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted
from store import usage as usage_counters
from store.chat import version_context
from store.openai_checks import check_question, forwarded
from store.openai_params import ChatCompletionRequest
from store.service import StoreService
from tools.approvals import allowed_grants
from tools.chat import open_toolset
from tools.runtime import Toolset

logger = logging.getLogger("gptstore.openai")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Plan:
    """A checked request, resolved to the GPT's live version: everything needed to answer it."""

    model: str
    context: AnswerContext
    history: list[Message]
    question: str
    sources: list[SourcedHit] = field(default_factory=list)
    n: int = 1
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = False
    toolset: Toolset | None = None  # the GPT's tools; `choices` closes it
    allowed: frozenset[str] = frozenset()  # functions the user allowed for good: they run without asking
    # The site's origin (`https://host`): a citation's dataset and owner pages are whole URLs on it.
    site: str = ""
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def _text(content: str | list[Any] | None) -> str:
    if isinstance(content, list):
        return "".join(part["text"] for part in content)
    return content or ""


def model_not_found(model: str) -> NotFound:
    return NotFound(
        f"The model '{model}' does not exist or you do not have access to it; use an id from /v1/models.",
        param="model",
        code="model_not_found",
    )


async def plan(
    session: AsyncSession, settings: Settings, redis: Redis, user: User, request: ChatCompletionRequest
) -> Plan:
    """Resolve `model` to a GPT the user may use (404 `model_not_found` otherwise), check the question,
    then rate-limit (each of the `n` choices is a message: it is a model call that may run the GPT's tools),
    search its knowledge for the question, count the message. A refused request counts nothing."""
    try:
        gpt_id = uuid.UUID(request.model)
    except ValueError:
        raise model_not_found(request.model) from None
    store = StoreService(session, settings, redis)
    try:
        listing = await store.visible_listing(gpt_id, user)
    except NotFound:
        raise model_not_found(request.model) from None
    check_question(request.messages)
    version = await store.live_version(listing)
    n = request.n or 1
    limit = settings.rate_limit_messages_per_minute
    if n > limit:  # never within the limit, however long the caller waits: a 400, not a 429
        raise Invalid(
            f"'n' is {n}, more than the {limit} messages a minute this server allows "
            "(GPTSTORE_RATE_LIMIT_MESSAGES_PER_MINUTE): each choice counts as a message.",
            field="n",
            param="n",
            code="invalid_value",
        )
    extra = "\n\n".join(_text(m.content) for m in request.messages if m.role in ("system", "developer"))
    dialogue = [m for m in request.messages if m.role in ("user", "assistant")]
    # The question is the last user message; every other turn, also an assistant one after it, is history.
    asked = max(i for i, m in enumerate(dialogue) if m.role == "user")
    history: list[Message] = []
    for m in dialogue[:asked] + dialogue[asked + 1 :]:
        message: Message = {"role": m.role, "content": _text(m.content)}
        if m.name:
            message["name"] = m.name
        history.append(message)
    stop = request.stop
    await ratelimit.enforce(redis, user.id, "messages", limit, 60, cost=n)
    context = replace(version_context(version), client_instructions=extra or None)
    question = _text(dialogue[asked].content)
    sources = await find_sources(session, settings, context, question)
    toolset = await open_toolset(session, settings, gpt_id, user.id, version)
    allowed = await allowed_grants(session, user.id, gpt_id) if toolset else frozenset()
    await usage_counters.count(redis, gpt_id, user.id, messages=1)
    return Plan(
        model=str(gpt_id),  # the id /v1/models lists, whichever form of it (`urn:uuid:`, upper case) was sent
        context=context,
        history=history,
        question=question,
        sources=sources,
        n=n,
        max_tokens=request.max_tokens or request.max_completion_tokens,
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        options=forwarded(request),
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
        toolset=toolset,
        allowed=allowed,
    )


def clip(answer: Answer, stop: list[str], max_tokens: int | None, encoding: Any) -> Answer:
    """An offline answer cut before the first stop sequence and to `max_tokens`, as a model would stop."""
    content, finish = answer.content, "stop"
    cuts = [content.find(s) for s in stop if s and s in content]
    if cuts:
        content = content[: min(cuts)]
    if max_tokens is not None:
        shorter = truncate_tokens(content, max_tokens, encoding)
        if shorter != content:
            content, finish = shorter, "length"
    citations = [c for number, c in enumerate(answer.citations, 1) if f"[{number}]" in content]
    return Answer(content, citations, None, finish)


async def choices(
    settings: Settings, llm: ChatModel | None, plan: Plan
) -> AsyncIterator[tuple[int, Delta | Answer] | Usage]:
    """`(choice index, Delta or Answer)` for each of the n choices in turn, then the `Usage`.

    The API is stateless, so nothing can wait for an approval: only calls that need none, or that the user
    allowed for good, run; a call that needs approval ends its choice with a note (docs/tools-chat.md).
    """
    try:
        async for event in _choices(settings, llm, plan):
            yield event
    finally:
        if plan.toolset is not None:
            await plan.toolset.aclose()


async def _choices(
    settings: Settings, llm: ChatModel | None, plan: Plan
) -> AsyncIterator[tuple[int, Delta | Answer] | Usage]:
    sources = plan.sources
    model = plan.context.model or (llm.model if llm else settings.chat_model)
    tools = plan.toolset is not None and bool(plan.toolset.definitions)
    messages = answer_messages(
        settings, plan.context, sources, plan.history, plan.question, model, tools=tools
    )
    encoding = encoding_for_model(model)
    guard = answer_guard(settings, plan.context, sources)
    prompt_tokens = count_chat_tokens(messages, encoding)
    total = Usage(prompt_tokens=prompt_tokens if llm is None else 0)
    offline = None
    if llm is None:
        answer = with_offline_note(extractive_answer(plan.question, sources, guard), plan.toolset)
        offline = clip(answer, plan.stop, plan.max_tokens, encoding)
    for index in range(plan.n):
        if offline is not None:  # deterministic: the same answer for every choice
            answer = offline
            total.completion_tokens += count_tokens(answer.content, encoding)
            yield index, Delta(answer.content)
            yield index, answer
            continue
        request = {"max_tokens": plan.max_tokens, "stop": plan.stop or None, **plan.options}
        events = model_answer(
            llm, messages, sources, model, guard,
            toolset=plan.toolset, allowed=plan.allowed, can_ask=False, **request,
        )  # fmt: skip
        async for event in events:
            if isinstance(event, ToolCallStarted | ToolCallEnded):
                continue  # Chat Completions has no event for a call the server runs itself
            if isinstance(event, Answer):
                reported = event.usage or {}
                total.prompt_tokens += reported.get("prompt_tokens", prompt_tokens)
                total.completion_tokens += reported.get(
                    "completion_tokens", count_tokens(event.content, encoding)
                )
            yield index, event
    yield total


def _extensions(answer: Answer, site: str) -> dict[str, Any]:
    """gptstore's fields of a message besides OpenAI's: its citations and, when the reply stopped before a
    call that needs the user's approval, that call (`pending_tool_call`: call_id, name, domain, and
    `arguments` as a JSON string, as OpenAI's `tool_calls` and the Responses call items write them)."""
    fields: dict[str, Any] = {"citations": [c.as_json(site) for c in answer.citations]}
    if answer.status == "requires_approval" and answer.pending is not None:
        pending = answer.pending
        fields["pending_tool_call"] = {**pending.as_json(), "arguments": pending.arguments or "{}"}
    return fields


async def completion(events: AsyncIterator[tuple[int, Delta | Answer] | Usage], plan: Plan) -> dict[str, Any]:
    """The `chat.completion` object."""
    answers: dict[int, Answer] = {}
    total = Usage()
    async for event in events:
        if isinstance(event, Usage):
            total = event
        elif isinstance(event[1], Answer):
            answers[event[0]] = event[1]
    return {
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": answer.content,
                    "refusal": None,
                    **_extensions(answer, plan.site),
                },
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
            for index, answer in sorted(answers.items())
        ],
        "usage": total.as_json(),
    }


async def chunks(events: AsyncIterator[tuple[int, Delta | Answer] | Usage], plan: Plan) -> AsyncIterator[str]:
    """`chat.completion.chunk` events ending in `data: [DONE]`; a failure ends it with `data: {"error"}`."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body: dict[str, Any] = {
            "id": plan.id,
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": plan.model,
            "choices": choices,
        }
        if plan.include_usage:
            body["usage"] = None
        body.update(extra)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def choice(index: int, delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]

    started: set[int] = set()
    try:
        async for event in events:
            if isinstance(event, Usage):
                if plan.include_usage:
                    yield chunk([], usage=event.as_json())
                continue
            index, item = event
            if index not in started:
                started.add(index)
                yield chunk(choice(index, {"role": "assistant", "content": ""}))
            if isinstance(item, Delta):
                if item.text:
                    yield chunk(choice(index, {"content": item.text}))
            else:
                yield chunk(choice(index, _extensions(item, plan.site), item.finish_reason))
    except Exception as exc:  # the status line is sent: the error travels in the stream, as OpenAI's does
        if not isinstance(exc, AppError):
            logger.exception("chat completion stream failed")
        yield stream_error_event(exc)
        return
    yield "data: [DONE]\n\n"
