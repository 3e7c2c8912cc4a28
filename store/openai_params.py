"""The Chat Completions request of `/v1` and what gptstore does with each of its parameters.

Every parameter is honoured, forwarded to the chat model, or refused with a 400 naming it: none is ignored.
The table (support, OpenAI's ranges, one line of documentation) lives in `data/openai_parameters.toml`;
`docs/api.md` shows it. Errors are `core.errors.Invalid` with `field` = the parameter (OpenAI's `param`) and a
`code` (`unknown_parameter`, `unsupported_parameter`, `unsupported_value`, `invalid_value`); on `/v1` they
render as OpenAI's 400 `invalid_request_error`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import Invalid
from core.settings import Settings

Support = Literal["honoured", "forwarded", "refused"]


@dataclass(frozen=True)
class Parameter:
    name: str
    support: Support
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    value_minimum: float | None = None
    value_maximum: float | None = None
    accepts: list[Any] = field(default_factory=list)


@cache
def parameters() -> dict[str, Parameter]:
    """The table of `data/openai_parameters.toml`, in its order."""
    raw = tomllib.loads(resources.files("store").joinpath("data", "openai_parameters.toml").read_text())
    return {name: Parameter(name=name, **spec) for name, spec in raw.items()}


class ChatCompletionMessage(BaseModel):
    """One message; fields OpenAI defines beyond these (tool calls, audio, ...) are refused by name."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Any] | None = None
    name: str | None = None


class ChatCompletionStreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None

    @field_validator("include_usage", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value


class ChatCompletionRequest(BaseModel):
    """OpenAI's Chat Completions request; see `data/openai_parameters.toml` for what each field does here."""

    model_config = ConfigDict(extra="allow")  # unknown parameters are refused by name, not dropped

    model: str
    messages: list[ChatCompletionMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: ChatCompletionStreamOptions | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    # Refused unless null or a harmless default: typed loosely so the refusal, not a type error, names them.
    logprobs: Any = None
    top_logprobs: Any = None
    tools: Any = None
    tool_choice: Any = None
    parallel_tool_calls: Any = None
    functions: Any = None
    function_call: Any = None
    response_format: Any = None
    modalities: Any = None
    audio: Any = None
    prediction: Any = None
    web_search_options: Any = None
    reasoning_effort: Any = None
    verbosity: Any = None
    service_tier: Any = None
    store: Any = None
    metadata: Any = None

    # JSON types as OpenAI checks them: Litestar validates leniently, which would read "yes" as true.
    @field_validator("stream", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("n", "max_tokens", "max_completion_tokens", "seed", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("must be an integer")
        return value

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number")
        return value

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _token_ids(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, bias in value.items():
                if not str(key).isdigit():
                    raise ValueError(f"keys must be token ids, not {key!r}")
                if isinstance(bias, bool) or not isinstance(bias, int | float):
                    raise ValueError("values must be numbers")
        return value


def _refuse(message: str, param: str, code: str) -> Invalid:
    return Invalid(message, field=param, param=param, code=code)


def _check_range(spec: Parameter, value: Any) -> None:
    name = spec.name
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise _refuse(
                f"{value} is less than the minimum of {spec.minimum:g} - '{name}'", name, "invalid_value"
            )
        if spec.maximum is not None and value > spec.maximum:
            raise _refuse(
                f"{value} is greater than the maximum of {spec.maximum:g} - '{name}'", name, "invalid_value"
            )
    if isinstance(value, list) and spec.max_items is not None and len(value) > spec.max_items:
        raise _refuse(
            f"'{name}' takes at most {spec.max_items} items, got {len(value)}", name, "invalid_value"
        )
    if isinstance(value, dict) and (spec.value_minimum is not None or spec.value_maximum is not None):
        for key, item in value.items():
            low, high = spec.value_minimum, spec.value_maximum
            if (low is not None and item < low) or (high is not None and item > high):
                raise _refuse(
                    f"'{name}' values must be from {low:g} to {high:g}; '{key}' is {item}",
                    name,
                    "invalid_value",
                )


def _check_messages(messages: list[ChatCompletionMessage]) -> None:
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        for extra in message.model_extra or {}:
            raise _refuse(
                f"'{where}.{extra}' is not supported: client tools and audio are not available here",
                f"{where}.{extra}",
                "unsupported_parameter",
            )
        if message.role in ("tool", "function"):
            raise _refuse(
                f"'{where}.role' {message.role!r} is not supported: there are no client tools",
                f"{where}.role",
                "unsupported_value",
            )
        if message.content is None:
            raise _refuse(f"'{where}.content' is required", f"{where}.content", "invalid_value")
        if isinstance(message.content, list):
            if not message.content:
                raise _refuse(
                    f"Invalid '{where}.content': empty array. Expected an array with minimum length 1",
                    f"{where}.content",
                    "empty_array",
                )
            for j, part in enumerate(message.content):
                if not (
                    isinstance(part, dict)
                    and part.get("type") == "text"
                    and isinstance(part.get("text"), str)
                ):
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise _refuse(
                        f"'{where}.content[{j}]' of type {kind!r} is not supported: only text parts",
                        f"{where}.content[{j}]",
                        "unsupported_value",
                    )
                for extra in set(part) - {"type", "text"}:  # cache hints and the like: refused, not dropped
                    raise _refuse(
                        f"'{where}.content[{j}].{extra}' is not supported: a text part has 'type' and 'text'",
                        f"{where}.content[{j}].{extra}",
                        "unsupported_parameter",
                    )
    dialogue = [m for m in messages if m.role in ("user", "assistant")]
    if not dialogue or dialogue[-1].role != "user":
        raise _refuse("The last user or assistant message must be the user's", "messages", "invalid_value")


def check_request(request: ChatCompletionRequest, settings: Settings) -> None:
    """Refuse (400, naming the parameter) anything this server would otherwise have to ignore."""
    table = parameters()
    for name in request.model_extra or {}:
        raise _refuse(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
    for name in ChatCompletionRequest.model_fields:
        value = getattr(request, name)
        if value is None:
            continue
        spec = table[name]
        if spec.support == "refused" and value not in spec.accepts:
            raise _refuse(f"'{name}' is not supported: {spec.doc}", name, "unsupported_parameter")
        _check_range(spec, value)
    _check_messages(request.messages)
    if request.stream_options is not None:
        if not request.stream:
            raise _refuse(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
                "invalid_value",
            )
        for extra in request.stream_options.model_extra or {}:
            raise _refuse(
                f"Unrecognized stream option: {extra}", f"stream_options.{extra}", "unknown_parameter"
            )
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise _refuse(
            "Use one of 'max_tokens' and 'max_completion_tokens', not both", "max_tokens", "invalid_value"
        )
    cap = settings.chat_max_output_tokens
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(request, name)
        if value is not None and value > cap:
            raise _refuse(
                f"{value} is greater than the maximum of {cap} - '{name}' (GPTSTORE_CHAT_MAX_OUTPUT_TOKENS)",
                name,
                "invalid_value",
            )


def forwarded(request: ChatCompletionRequest) -> dict[str, Any]:
    """The parameters passed on to the chat model as they are (unset ones left out)."""
    table = parameters()
    return {
        name: getattr(request, name)
        for name in ChatCompletionRequest.model_fields
        if table[name].support == "forwarded" and getattr(request, name) is not None
    }
