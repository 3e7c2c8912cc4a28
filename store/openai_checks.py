"""The checks of a `/v1` Chat Completions request (`store.openai_params.ChatCompletionRequest`): every
parameter honoured, forwarded to the chat model, or refused with a 400 naming it (`refuse`), none ignored;
the messages, the question, and the parameters passed on to the model. The Responses checks
(`store.responses_params`) use the same ranges and refusals.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import Invalid
from core.schemas import has_visible
from core.settings import Settings
from store.openai_params import (
    ASSISTANT_OUTPUT_FIELDS,
    JSON_TYPES,
    ROLES,
    ChatCompletionMessage,
    ChatCompletionRequest,
    Parameter,
    parameters,
)


def refuse(message: str, param: str, code: str) -> Invalid:
    """A 400 naming `param` with OpenAI's `code` (`unknown_parameter`, `unsupported_value`, ...)."""
    return Invalid(message, field=param, param=param, code=code)


def accepted(spec: Parameter, value: Any) -> bool:
    """`value` is one of the accepted values as JSON sees it (`0` is not `false`)."""
    as_json = json.dumps(value, sort_keys=True)
    return any(as_json == json.dumps(accepted, sort_keys=True) for accepted in spec.accepts)


def _shown(bound: float) -> str:
    """A bound as a person reads it: an integer in full (not `9.22337e+18`), a fraction shortly."""
    return str(bound) if isinstance(bound, int) or not float(bound).is_integer() else str(int(bound))


def check_range(spec: Parameter, value: Any, settings: Settings) -> None:
    """Refuse a number, list or map of `value` outside the parameter's ranges (and its setting's cap)."""
    name = spec.name
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise refuse(
                f"{value} is less than the minimum of {_shown(spec.minimum)} - '{name}'",
                name,
                "invalid_value",
            )
        if spec.maximum is not None and value > spec.maximum:
            raise refuse(
                f"{value} is greater than the maximum of {_shown(spec.maximum)} - '{name}'",
                name,
                "invalid_value",
            )
        cap = getattr(settings, spec.maximum_setting) if spec.maximum_setting else None
        if cap is not None and value > cap:
            setting = "GPTSTORE_" + spec.maximum_setting.upper()
            raise refuse(
                f"{value} is greater than the maximum of {cap} - '{name}' ({setting})", name, "invalid_value"
            )
    if isinstance(value, list) and spec.max_items is not None and len(value) > spec.max_items:
        raise refuse(
            f"'{name}' takes at most {spec.max_items} items, got {len(value)}", name, "invalid_value"
        )
    if isinstance(value, dict) and (spec.value_minimum is not None or spec.value_maximum is not None):
        for key, item in value.items():
            low, high = spec.value_minimum, spec.value_maximum
            if (low is not None and item < low) or (high is not None and item > high):
                raise refuse(
                    f"'{name}' values must be from {_shown(low)} to {_shown(high)}; '{key}' is {item}",
                    name,
                    "invalid_value",
                )


def _output_field(where: str, name: str, value: Any) -> None:
    """An assistant message's output field sent back: fine as a completion returns it (null, or gptstore's
    own fields with their values); a non-null `tool_calls`, `function_call` or `audio` is refused."""
    if value is None or (name == "tool_calls" and value == []):
        return
    kinds = ASSISTANT_OUTPUT_FIELDS[name].get("type")
    if isinstance(kinds, list):
        if any(isinstance(value, JSON_TYPES[kind]) for kind in kinds):
            return
        wanted = " or ".join("null" if kind == "null" else f"a JSON {kind}" for kind in kinds)
        raise refuse(f"'{where}.{name}' must be {wanted}", f"{where}.{name}", "invalid_type")
    raise refuse(
        f"'{where}.{name}' is not supported: client tools and audio are not available here (send it as "
        "null, or leave it out)",
        f"{where}.{name}",
        "unsupported_parameter",
    )


def _check_messages(messages: list[ChatCompletionMessage]) -> None:
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role in ("tool", "function"):
            raise refuse(
                f"'{where}.role' {message.role!r} is not supported: there are no client tools",
                f"{where}.role",
                "unsupported_value",
            )
        if message.role not in ROLES:
            raise refuse(
                f"Invalid value for '{where}.role': {message.role!r}; it is one of {', '.join(ROLES)}",
                f"{where}.role",
                "invalid_value",
            )
        for extra, value in (message.model_extra or {}).items():
            if message.role == "assistant" and extra in ASSISTANT_OUTPUT_FIELDS:
                _output_field(where, extra, value)
                continue
            known = "role, content and name" + (
                f", and an assistant's {', '.join(ASSISTANT_OUTPUT_FIELDS)}"
                if extra in ASSISTANT_OUTPUT_FIELDS
                else ""
            )
            raise refuse(
                f"Unrecognized field '{where}.{extra}': a {message.role} message has {known}",
                f"{where}.{extra}",
                "unknown_parameter",
            )
        if message.content is None:
            raise refuse(f"'{where}.content' is required", f"{where}.content", "invalid_value")
        if isinstance(message.content, list):
            if not message.content:
                raise refuse(
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
                    raise refuse(
                        f"'{where}.content[{j}]' of type {kind!r} is not supported: only text parts",
                        f"{where}.content[{j}]",
                        "unsupported_value",
                    )
                for extra in set(part) - {"type", "text"}:  # cache hints and the like: refused, not dropped
                    raise refuse(
                        f"'{where}.content[{j}].{extra}' is not supported: a text part has 'type' and 'text'",
                        f"{where}.content[{j}].{extra}",
                        "unsupported_parameter",
                    )
    if not any(m.role == "user" for m in messages):
        raise refuse(
            "At least one message must be the user's: the last one is the question",
            "messages",
            "invalid_value",
        )


def check_question(messages: list[ChatCompletionMessage]) -> None:
    """The last user message, the question, must have text (400 naming its `content` otherwise). Checked
    once the model is known, as the schema cannot say it: a request it allows is never a 400 for a model
    that does not exist."""
    asked = max(i for i, m in enumerate(messages) if m.role == "user")
    content = messages[asked].content
    text = content if isinstance(content, str) else "".join(part["text"] for part in content or [])
    if not has_visible(text):
        where = f"messages[{asked}].content"
        raise refuse(
            f"'{where}' has no text: the last user message is the question, and it is only blank",
            where,
            "invalid_value",
        )


def check_request(request: ChatCompletionRequest, settings: Settings) -> None:
    """Refuse (400, naming the parameter) anything this server would otherwise have to ignore."""
    table = parameters()
    for name in request.model_extra or {}:
        raise refuse(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
    for name in ChatCompletionRequest.model_fields:
        value = getattr(request, name)
        if value is None:
            continue
        spec = table[name]
        if spec.support == "refused" and not accepted(spec, value):
            raise refuse(f"'{name}' is not supported: {spec.doc}", name, "unsupported_parameter")
        check_range(spec, value, settings)
    _check_messages(request.messages)
    if request.stream_options is not None:
        if not request.stream:
            raise refuse(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
                "invalid_value",
            )
        for extra in request.stream_options.model_extra or {}:
            raise refuse(
                f"Unrecognized stream option: {extra}", f"stream_options.{extra}", "unknown_parameter"
            )
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise refuse(
            "Use one of 'max_tokens' and 'max_completion_tokens', not both", "max_tokens", "invalid_value"
        )


def forwarded(request: ChatCompletionRequest) -> dict[str, Any]:
    """The parameters passed on to the chat model as they are (unset ones left out)."""
    table = parameters()
    return {
        name: getattr(request, name)
        for name in ChatCompletionRequest.model_fields
        if table[name].support == "forwarded" and getattr(request, name) is not None
    }
