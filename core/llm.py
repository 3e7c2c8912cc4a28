"""Chat models behind one small interface: any OpenAI-compatible endpoint, through the `openai` SDK.

With no provider configured there is no chat model (`get_llm` returns None) and callers use their offline
paths. Provider failures become 502 (it answered badly or refused) or 503 (unreachable, overloaded) problems.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from core.errors import ProviderError
from core.settings import Settings
from core.storable import model_json, storable
from core.tokens import count_tokens, encoding_for_model

Message = dict[str, Any]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict, without text PostgreSQL cannot store; `ValueError` for anything else."""
        value = model_json(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value


@dataclass
class ChatResult:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, int] | None = None
    finish_reason: str | None = None

    def as_message(self) -> Message:
        message: Message = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


@dataclass
class Delta:
    """A piece of streamed reply text."""

    text: str


def _provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("The language model did not answer in time; try again", status=503)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("The language model provider cannot be reached", status=503)
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(
            "The language model provider is over its rate limit; try again shortly", status=503
        )
    if isinstance(exc, openai.APIStatusError):
        status = 503 if exc.status_code in (502, 503, 504, 529) else 502
        message = exc.message if isinstance(exc.message, str) else str(exc)
        return ProviderError(
            f"The language model provider refused the request ({exc.status_code}): {message}", status=status
        )
    return ProviderError(f"The language model provider failed: {exc}")


class ChatModel:
    """An OpenAI-compatible chat model (OpenAI, Azure, vLLM, Ollama, LM Studio, ...)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = settings.chat_model
        self.client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
            # Bounded: past `llm_max_connections` a call waits up to the timeout for a free connection,
            # then fails as a timeout (503 with Retry-After).
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx.Limits(
                    max_connections=settings.llm_max_connections,
                    max_keepalive_connections=min(settings.llm_max_connections, 20),
                )
            ),
        )

    def _request(self, messages: Sequence[Message], tools, model, max_tokens, options) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": model or self.model,
            "messages": list(messages),
            "max_tokens": max_tokens or self.settings.chat_max_output_tokens,
        }
        if tools:
            request["tools"] = tools
        # Further Chat Completions parameters (temperature, stop, seed, ...), only those set.
        request.update({name: value for name, value in options.items() if value is not None})
        return request

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        **options: Any,
    ) -> ChatResult:
        try:
            response = await self.client.chat.completions.create(
                **self._request(messages, tools, model, max_tokens, options)
            )
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc
        if not response.choices:
            raise ProviderError("The language model returned no answer")
        choice = response.choices[0]
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
            for c in (choice.message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        usage = (
            response.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
            if response.usage
            else None
        )
        return ChatResult(storable(choice.message.content or ""), calls, usage, choice.finish_reason)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        **options: Any,
    ) -> AsyncIterator[Delta | ChatResult]:
        """Yields `Delta`s as text arrives, then one `ChatResult` with the whole reply and tool calls.

        `options` are further Chat Completions parameters (`temperature`, `stop`, ...); None means unset.
        """
        request = self._request(messages, tools, model, max_tokens, options)
        request.update(stream=True, stream_options={"include_usage": True})
        content: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = finish = None
        try:
            stream = await self.client.chat.completions.create(**request)
            async for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage.model_dump(
                        include={"prompt_tokens", "completion_tokens", "total_tokens"}
                    )
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text = storable(delta.content)  # a model can be talked into writing U+0000
                        content.append(text)
                        yield Delta(text)
                    for call in delta.tool_calls or []:
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
                    finish = choice.finish_reason or finish
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc
        tool_calls = [
            ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"]) for i, c in sorted(calls.items())
        ]
        yield ChatResult("".join(content), tool_calls, usage, finish)


_models: dict[int, ChatModel] = {}


def get_llm(settings: Settings) -> ChatModel | None:
    """The configured chat model (one client per settings object), or None in offline mode."""
    if not settings.llm_enabled:
        return None
    model = _models.get(id(settings))
    if model is None or model.settings is not settings:
        model = _models[id(settings)] = ChatModel(settings)
    return model


def fit_messages(messages: Sequence[Message], budget: int, model: str) -> list[Message]:
    """Keep the system messages and as many of the latest others as fit into `budget` tokens."""
    encoding = encoding_for_model(model)

    def cost(message: Message) -> int:
        text = message.get("content") or ""
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"])
        return count_tokens(text, encoding) + 4

    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    remaining = budget - sum(cost(m) for m in system)
    kept: list[Message] = []
    for message in reversed(rest):
        remaining -= cost(message)
        if remaining < 0 and kept:
            break
        kept.append(message)
    kept.reverse()
    # A tool result must follow its call; drop orphans at the cut.
    while kept and kept[0]["role"] == "tool":
        kept.pop(0)
    return system + kept
