"""The Chat Completions request of `/v1` and what gptstore does with each of its parameters.

Every parameter is honoured, forwarded to the chat model, or refused with a 400 naming it: none is ignored.
The table (support, OpenAI's ranges, one line of documentation) lives in `data/openai_parameters.toml`;
`docs/api.md` shows it. Errors are `core.errors.Invalid` with `field` = the parameter (OpenAI's `param`) and a
`code` (`unknown_parameter`, `unsupported_parameter`, `unsupported_value`, `invalid_value`); on `/v1` they
render as OpenAI's 400 `invalid_request_error`.

The request's JSON schema (and so the OpenAPI document, `core/openapi.py`) is written from the same table and
rules: refused parameters are `null` or an accepted value, ranges are `minimum`/`maximum`, unknown parameters
and message fields are `additionalProperties: false`, a bound from a setting is `x-maximum-setting` (the
document resolves it). Every schema-valid request is accepted; what the schema forbids is refused.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Support = Literal["honoured", "forwarded", "refused"]


# JSON types as OpenAI checks them (Litestar validates leniently, which would read "yes" as true); the
# `mode="before"` validators of the /v1 request models call these. None is "not set".
def json_boolean(value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def json_integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema's integer: `2.0` is the integer 2
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("must be an integer")
    return value


def json_number(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("must be a number")
    return value


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
    maximum_setting: str | None = None
    accepts: list[Any] = field(default_factory=list)


@cache
def parameters(table: str = "openai_parameters.toml") -> dict[str, Parameter]:
    """A parameter table of `data/` (Chat Completions' by default), in its order."""
    raw = tomllib.loads(resources.files("store").joinpath("data", table).read_text())
    return {name: Parameter(name=name, **spec) for name, spec in raw.items()}


ROLES = ("system", "developer", "user", "assistant")  # accepted; `tool` and `function` are refused by name
# The fields of an assistant message as a completion returns it (OpenAI's and gptstore's own), taken back
# as input so that `messages.append(completion.choices[0].message)` works: output only, so they are read
# and left out; what would ask for client tools or audio (a non-null `tool_calls`, ...) is refused.
ASSISTANT_OUTPUT_FIELDS: dict[str, dict[str, Any]] = {
    "refusal": {"type": ["string", "null"]},
    "annotations": {"type": ["array", "null"]},
    "citations": {"type": ["array", "null"]},
    "pending_tool_call": {"type": ["object", "null"]},
    "audio": {"type": "null"},
    "function_call": {"type": "null"},
    "tool_calls": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
}
JSON_TYPES = {"string": str, "array": list, "object": dict, "null": type(None)}
TOKEN_ID = "^[0-9]+$"  # a `logit_bias` key
TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    "additionalProperties": False,  # cache hints and the like are refused, not dropped
}


def _message_schema(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    properties["role"] = {"enum": list(ROLES)}
    text_parts = {"type": "array", "minItems": 1, "items": TEXT_PART}
    properties["content"] = {"anyOf": [{"type": "string"}, text_parts]}
    properties.update(ASSISTANT_OUTPUT_FIELDS)
    schema["required"] = ["role", "content"]
    schema["additionalProperties"] = False
    schema["if"] = {"not": {"properties": {"role": {"const": "assistant"}}}}  # output fields: assistant only
    schema["then"] = {"not": {"anyOf": [{"required": [name]} for name in ASSISTANT_OUTPUT_FIELDS]}}


class ChatCompletionMessage(BaseModel):
    """One message; fields OpenAI defines beyond these (tool calls, audio, ...) are refused by name."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_message_schema)

    role: str  # one of ROLES; `tool` and `function` are refused by name (`_check_messages`)
    content: str | list[Any] | None = None
    name: str | None = None


def _closed(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = False


class ChatCompletionStreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=_closed)  # unknown options are refused

    include_usage: bool | None = None

    @field_validator("include_usage", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        return json_boolean(value)


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property's schema."""
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def _request_schema(schema: dict[str, Any]) -> None:
    """The request as `check_request` takes it, written from the table."""
    properties = schema["properties"]
    for name, spec in parameters().items():
        if spec.support == "refused":
            properties[name] = {"enum": [None, *spec.accepts]}
        for branch in _branches(properties[name]):
            kind = branch.get("type")
            if kind in ("integer", "number"):
                bounds = {"minimum": spec.minimum, "maximum": spec.maximum}
                branch.update({k: v for k, v in bounds.items() if v is not None})
                if spec.maximum_setting:
                    branch["x-maximum-setting"] = spec.maximum_setting
            elif kind == "array" and spec.max_items is not None:
                branch["maxItems"] = spec.max_items
            elif kind == "object" and name == "logit_bias":
                values = {"type": "number", "minimum": spec.value_minimum, "maximum": spec.value_maximum}
                branch.update(propertyNames={"pattern": TOKEN_ID}, additionalProperties=values)
        properties[name]["description"] = spec.doc
    # At least one user message: the last one is the question (a rule `contains` can state).
    properties["messages"]["contains"] = {"type": "object", "properties": {"role": {"const": "user"}}}
    schema["additionalProperties"] = False
    schema["allOf"] = [
        {  # not both token caps
            "not": {
                "required": ["max_tokens", "max_completion_tokens"],
                "properties": {
                    "max_tokens": {"type": "integer"},
                    "max_completion_tokens": {"type": "integer"},
                },
            }
        },
        {  # stream_options only with stream: true
            "if": {"required": ["stream_options"], "properties": {"stream_options": {"type": "object"}}},
            "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
        },
    ]


class ChatCompletionRequest(BaseModel):
    """OpenAI's Chat Completions request; see `data/openai_parameters.toml` for what each field does here."""

    # Unknown parameters are refused by name, not dropped (so `extra="allow"`; the schema says they are not).
    model_config = ConfigDict(extra="allow", json_schema_extra=_request_schema)

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
        return json_boolean(value)

    @field_validator("n", "max_tokens", "max_completion_tokens", "seed", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        return json_integer(value)

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return json_number(value)

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _token_ids(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, bias in value.items():
                if not re.fullmatch(TOKEN_ID, str(key)):
                    raise ValueError(f"keys must be token ids, not {key!r}")
                if isinstance(bias, bool) or not isinstance(bias, int | float):
                    raise ValueError("values must be numbers")
        return value
