"""The request of `POST /v1/responses` (Open Responses, OpenAI's Responses API) and what gptstore does.

Every parameter is honoured, forwarded to the chat model, or refused with a 400 naming it: none is ignored.
The table lives in `data/responses_parameters.toml` (the same machinery and error codes as Chat Completions,
`store/openai_params.py`); `docs/api.md` shows it. `check_content` reads the tools and `input`
(`store.responses_input`) once the model is known.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from core.schemas import has_visible
from core.settings import Settings
from store.openai_checks import accepted, check_range, refuse
from store.openai_params import (
    _branches,
    json_boolean,
    json_integer,
    json_number,
    parameters,
)
from store.responses_input import RECORDS, ROLES, InputItem, read_input, record_schema, string_field

TABLE = "responses_parameters.toml"
TOOL_CHOICES = ("auto", "none", "required")
INCLUDABLE = ("file_search_call.results",)
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
TOOL_FIELDS = {"type", "name", "description", "parameters", "strict"}
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # OpenAI's rule for a function's name

_TEXT = {"type": "string"}
_PART = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["input_text", "output_text", "input_image"]},
        "text": _TEXT,
        "image_url": _TEXT,
        "detail": {"enum": ["low", "high", "auto"]},
        "annotations": {"type": "array"},
    },
}
_ITEM = {
    "type": "object",
    "properties": {
        "type": {"enum": ["message", "function_call", "function_call_output"]},
        "id": _TEXT,
        "status": _TEXT,
        "role": {"enum": list(ROLES)},
        "content": {"anyOf": [_TEXT, {"type": "array", "items": _PART}]},
        "call_id": _TEXT,
        "name": _TEXT,
        "arguments": _TEXT,
        "output": _TEXT,
    },
}
_TOOL = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"const": "function"},
        "name": {"type": "string", "pattern": "^" + FUNCTION_NAME.pattern + "$"},
        "description": {"type": ["string", "null"]},
        "parameters": {"type": ["object", "null"]},
        "strict": {"type": ["boolean", "null"]},
    },
    "additionalProperties": False,
}


def _request_schema(schema: dict[str, Any]) -> None:
    """The request as `check_request` takes it, written from the table."""
    properties = schema["properties"]
    for name, spec in parameters(TABLE).items():
        if spec.support == "refused":
            properties[name] = {"enum": [None, *spec.accepts]}
        for branch in _branches(properties[name]):
            kind = branch.get("type")
            if kind in ("integer", "number"):
                bounds = {"minimum": spec.minimum, "maximum": spec.maximum}
                branch.update({k: v for k, v in bounds.items() if v is not None})
                if spec.maximum_setting:
                    branch["x-maximum-setting"] = spec.maximum_setting
        properties[name]["description"] = spec.doc
    item = {"anyOf": [_ITEM, *(record_schema(kind) for kind in RECORDS)]}
    properties["input"] = {"anyOf": [_TEXT, {"type": "array", "items": item}, {"type": "null"}]}
    properties["tools"] = {"anyOf": [{"type": "array", "items": _TOOL, "maxItems": 128}, {"type": "null"}]}
    properties["tool_choice"] = {
        "anyOf": [
            {"enum": [*TOOL_CHOICES, None]},
            {
                "type": "object",
                "required": ["type", "name"],
                "properties": {"type": {"const": "function"}, "name": _TEXT},
                "additionalProperties": False,
            },
        ]
    }
    properties["include"] = {
        "anyOf": [{"type": "array", "items": {"enum": list(INCLUDABLE)}}, {"type": "null"}]
    }
    properties["truncation"] = {"enum": ["auto", "disabled", None]}
    properties["metadata"] = {
        "anyOf": [
            {
                "type": "object",
                "maxProperties": 16,
                "propertyNames": {"maxLength": METADATA_KEY_CHARS},
                "additionalProperties": {"type": "string", "maxLength": METADATA_VALUE_CHARS},
            },
            {"type": "null"},
        ]
    }
    properties["conversation"] = {
        "anyOf": [
            _TEXT,
            {
                "type": "object",
                "required": ["id"],
                "properties": {"id": _TEXT},
                "additionalProperties": False,
            },
            {"type": "null"},
        ]
    }
    for name, spec in parameters(TABLE).items():
        properties[name]["description"] = spec.doc
    schema["additionalProperties"] = False


class CreateResponseRequest(BaseModel):
    """The Responses request; see `data/responses_parameters.toml` for what each field does here."""

    # Unknown parameters are refused by name, not dropped (so `extra="allow"`; the schema says they are not).
    model_config = ConfigDict(extra="allow", json_schema_extra=_request_schema)

    model: str
    input: str | list[Any] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    include: list[str] | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: Any = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    truncation: str | None = None
    stream: bool | None = None
    stream_options: Any = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    user: str | None = None
    # Refused unless null or a harmless default: typed loosely so the refusal, not a type error, names them.
    text: Any = None
    reasoning: Any = None
    top_logprobs: Any = None
    background: Any = None
    service_tier: Any = None
    prompt_cache_retention: Any = None
    prompt: Any = None

    # JSON types as OpenAI checks them: Litestar validates leniently, which would read "yes" as true.
    @field_validator("stream", "store", "parallel_tool_calls", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        return json_boolean(value)

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | list):
            raise ValueError("must be a string (the user's message) or an array of input items")
        return value

    @field_validator("max_output_tokens", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        return json_integer(value)

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return json_number(value)


def _check_tools(request: CreateResponseRequest) -> None:
    names = []
    for i, tool in enumerate(request.tools or []):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise refuse(
                f"'{where}' of type {kind!r} is not supported: only client `function` tools (the GPT's own "
                "knowledge search and actions run on the server)",
                f"{where}.type",
                "unsupported_value",
            )
        for extra in set(tool) - TOOL_FIELDS:
            raise refuse(f"'{where}.{extra}' is not supported", f"{where}.{extra}", "unsupported_parameter")
        name = string_field(tool.get("name"), f"{where}.name")
        if not FUNCTION_NAME.fullmatch(name):
            raise refuse(
                f"Invalid '{where}.name': {name!r} does not match '^[a-zA-Z0-9_-]{{1,64}}$' (letters, "
                "digits, underscores and dashes, at most 64)",
                f"{where}.name",
                "invalid_value",
            )
        if name in names:
            raise refuse(
                f"Duplicate function name {name!r} in 'tools' (also tools[{names.index(name)}]): names "
                "must be unique",
                f"{where}.name",
                "invalid_value",
            )
        names.append(name)
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise refuse(
                f"'{where}.parameters' must be a JSON schema object", f"{where}.parameters", "invalid_value"
            )
    choice = request.tool_choice
    if isinstance(choice, str) and choice not in TOOL_CHOICES:
        raise refuse(
            f"'tool_choice' must be one of {', '.join(TOOL_CHOICES)} or a function",
            "tool_choice",
            "invalid_value",
        )
    if isinstance(choice, dict):
        if choice.get("type") != "function" or set(choice) - {"type", "name"}:
            raise refuse(
                '\'tool_choice\' objects are `{"type": "function", "name": ...}` only',
                "tool_choice",
                "unsupported_value",
            )
        if not isinstance(choice.get("name"), str):
            raise refuse(
                "Missing required parameter: 'tool_choice.name'.",
                "tool_choice.name",
                "missing_required_parameter",
            )
        if choice.get("name") not in names:
            raise refuse(
                f"'tool_choice' names {choice.get('name')!r}, which is not in 'tools'",
                "tool_choice.name",
                "invalid_value",
            )
    if choice in ("required",) and not names or isinstance(choice, dict) and not names:
        raise refuse("'tool_choice' requires 'tools'", "tool_choice", "invalid_value")


def _check_metadata(metadata: dict[str, Any]) -> None:
    if len(metadata) > 16:
        raise refuse(f"'metadata' takes at most 16 pairs, got {len(metadata)}", "metadata", "invalid_value")
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_CHARS:
            raise refuse(
                f"'metadata' keys are at most {METADATA_KEY_CHARS} characters", "metadata", "invalid_value"
            )
        if not isinstance(value, str) or len(value) > METADATA_VALUE_CHARS:
            raise refuse(
                f"'metadata.{key}' must be a string of at most {METADATA_VALUE_CHARS} characters",
                f"metadata.{key}",
                "invalid_value",
            )


def conversation_ref(value: str | dict[str, Any] | None) -> str | None:
    """The conversation id of `conversation` (a string or `{"id": ...}`)."""
    if isinstance(value, dict):
        if set(value) != {"id"} or not isinstance(value["id"], str):
            raise refuse("'conversation' is an id or {\"id\": ...}", "conversation", "invalid_value")
        return value["id"]
    return value


def check_request(request: CreateResponseRequest, settings: Settings) -> None:
    """Refuse (400, naming the parameter) anything this server would otherwise have to ignore, as far as
    the request's JSON schema says it (`check_content` reads the input and tools once the model is known)."""
    table = parameters(TABLE)
    for name in request.model_extra or {}:
        raise refuse(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
    for name in CreateResponseRequest.model_fields:
        value = getattr(request, name)
        if value is None:
            continue
        spec = table[name]
        if spec.support == "refused" and not accepted(spec, value):
            raise refuse(f"'{name}' is not supported: {spec.doc}", name, "unsupported_parameter")
        if name != "metadata":
            check_range(spec, value, settings)
    for i, value in enumerate(request.include or []):
        if value not in INCLUDABLE:
            raise refuse(
                f"'include[{i}]' {value!r} is not supported: only {', '.join(INCLUDABLE)}",
                f"include[{i}]",
                "unsupported_value",
            )
    if request.truncation not in (None, "auto", "disabled"):
        raise refuse("'truncation' must be 'auto' or 'disabled'", "truncation", "invalid_value")
    if request.metadata is not None:
        _check_metadata(request.metadata)
    conversation_ref(request.conversation)
    if request.conversation is not None and request.previous_response_id is not None:
        raise refuse(
            "Use one of 'previous_response_id' and 'conversation', not both",
            "previous_response_id",
            "invalid_value",
        )


def check_content(request: CreateResponseRequest) -> list[InputItem]:
    """The tools and the input, field by field (400 naming `tools[i].x`, `input[i].content[j]`, ...); the
    input's last user message, the question, must have text (or an image)."""
    _check_tools(request)
    items = read_input(request.input)
    asked = [k for k, i in enumerate(items) if i.type == "message" and i.role == "user"]
    if asked and not has_visible(items[asked[-1]].text) and not items[asked[-1]].images:
        where = "input" if isinstance(request.input, str) else f"input[{asked[-1]}].content"
        raise refuse(
            f"'{where}' has no text: the last user message is the question, and it is only blank.",
            where,
            "invalid_value",
        )
    return items


def forwarded(request: CreateResponseRequest) -> dict[str, Any]:
    """The parameters passed on to the chat model as they are (unset ones left out)."""
    table = parameters(TABLE)
    return {
        name: getattr(request, name)
        for name in CreateResponseRequest.model_fields
        if table[name].support == "forwarded" and getattr(request, name) is not None
    }
