"""The `input` of `POST /v1/responses` read into items: messages (text and images), function calls and
their outputs, and the records of what ran on the server. Anything this server would have to ignore is a
400 naming the item and field (`input[2].content[0].type`), in the codes of `store/openai_checks.py`.

The output items a response carries are input items too, as OpenAI takes them (`input += response.output`,
"manual state"): a `message`, a `function_call`, and the records of the server's own work
(`file_search_call`, `mcp_call`, `gptstore:action_call`). A record is kept with the input and never runs
again: the assistant message after it already holds what it found, so the model reads that message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.openai_checks import refuse

ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text", "text")
_STRING = {"type": "string"}
_OPTIONAL_STRING = {"type": ["string", "null"]}
RECORD_SCHEMAS: dict[str, dict[str, Any]] = {  # the fields of each record as the output writes them
    "file_search_call": {
        "id": _STRING,
        "status": _STRING,
        "queries": {"type": "array", "items": _STRING},
        "results": {"type": ["array", "null"], "items": {"type": "object"}},
    },
    "mcp_call": {
        "id": _STRING,
        "status": _STRING,
        "server_label": _STRING,
        "name": _STRING,
        "arguments": _STRING,
        "output": _OPTIONAL_STRING,
        "error": {"type": ["object", "string", "null"]},
    },
    "gptstore:action_call": {
        "id": _STRING,
        "status": _STRING,
        "domain": _OPTIONAL_STRING,
        "name": _STRING,
        "arguments": _STRING,
        "output": _OPTIONAL_STRING,
        "error": _OPTIONAL_STRING,
    },
}
# Output items of the server's own work, taken back as input: kept, never run again.
RECORDS = {kind: {"type", *fields} for kind, fields in RECORD_SCHEMAS.items()}
_JSON_TYPES = {"string": str, "array": list, "object": dict, "null": type(None)}


def record_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of one record item (closed: other fields are refused)."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": kind}, **RECORD_SCHEMAS[kind]},
        "additionalProperties": False,
    }


def _check_record(raw: dict[str, Any], where: str) -> None:
    for name, schema in RECORD_SCHEMAS[raw["type"]].items():
        if name not in raw:
            continue
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        value = raw[name]
        if not any(isinstance(value, _JSON_TYPES[k]) for k in kinds):
            wanted = " or ".join("null" if k == "null" else f"a JSON {k}" for k in kinds)
            raise refuse(f"'{where}.{name}' must be {wanted}", f"{where}.{name}", "invalid_type")
        item_kind = schema.get("items", {}).get("type")
        for j, member in enumerate(value if isinstance(value, list) and item_kind else []):
            if not isinstance(member, _JSON_TYPES[item_kind]):
                at = f"{where}.{name}[{j}]"
                raise refuse(f"'{at}' must be a JSON {item_kind}", at, "invalid_type")


ITEM_FIELDS = {  # accepted fields of each input item type (others are refused by name)
    "message": {"type", "id", "status", "role", "content"},
    "function_call": {"type", "id", "status", "call_id", "name", "arguments"},
    "function_call_output": {"type", "id", "status", "call_id", "output"},
    **RECORDS,
}


IMAGE_URL_PREFIXES = ("https://", "data:image/")  # as OpenAI takes image inputs; docs/api.md


@dataclass
class InputItem:
    """One input item, read: a message (`text`, `images`), a `function_call` or a `function_call_output`."""

    type: str  # "message", "function_call", "function_call_output", or one of RECORDS
    role: str = "user"
    text: str = ""
    images: list[str] = field(default_factory=list)  # image URLs (https or data:)
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    output: str = ""
    record: dict[str, Any] | None = None  # a record of the server's work, as it was sent

    def as_item(self, item_id: str) -> dict[str, Any]:
        """The item as `input_items` lists it (OpenAI's shape)."""
        if self.record is not None:
            return {**self.record, "id": item_id}
        if self.type == "function_call":
            return {
                "type": "function_call",
                "id": item_id,
                "call_id": self.call_id,
                "name": self.name,
                "arguments": self.arguments,
                "status": "completed",
            }
        if self.type == "function_call_output":
            return {
                "type": "function_call_output",
                "id": item_id,
                "call_id": self.call_id,
                "output": self.output,
                "status": "completed",
            }
        kind = "output_text" if self.role == "assistant" else "input_text"
        content: list[dict[str, Any]] = [{"type": kind, "text": self.text}]
        if kind == "output_text":
            content[0]["annotations"] = []
        content += [{"type": "input_image", "image_url": url, "detail": "auto"} for url in self.images]
        return {
            "type": "message",
            "id": item_id,
            "role": self.role,
            "content": content,
            "status": "completed",
        }


def string_field(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise refuse(f"'{where}' must be a string", where, "invalid_type")
    return value


def _message(item: dict[str, Any], where: str) -> InputItem:
    role = item.get("role")
    if role not in ROLES:
        raise refuse(
            f"'{where}.role' must be one of {', '.join(ROLES)}, not {role!r}",
            f"{where}.role",
            "invalid_value",
        )
    content = item.get("content")
    if isinstance(content, str):
        return InputItem("message", role=role, text=content)
    if not isinstance(content, list) or not content:
        raise refuse(
            f"'{where}.content' must be a string or a non-empty list of parts",
            f"{where}.content",
            "invalid_value",
        )
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            texts.append(string_field(part.get("text"), f"{at}.text"))
        elif kind == "input_image" and role == "user":
            url = part.get("image_url")
            if part.get("file_id") is not None or not isinstance(url, str):
                raise refuse(
                    f"'{at}' needs an 'image_url' (https or a data URL); file ids are not supported",
                    f"{at}.image_url",
                    "invalid_value",
                )
            if not url.lower().startswith(IMAGE_URL_PREFIXES):  # what the model's provider fetches
                raise refuse(
                    f"'{at}.image_url' must be an https URL or a data URL of an image (data:image/...)",
                    f"{at}.image_url",
                    "invalid_value",
                )
            images.append(url)
        else:
            raise refuse(
                f"'{at}' of type {kind!r} is not supported here: text parts, and images in user messages",
                f"{at}.type",
                "unsupported_value",
            )
    return InputItem("message", role=role, text="\n".join(texts), images=images)


def read_input(value: str | list[Any] | None) -> list[InputItem]:
    """`input` as items; a 400 naming the item and field for anything this server would have to ignore."""
    if value is None:
        return []
    if isinstance(value, str):
        return [InputItem("message", role="user", text=value)]
    items: list[InputItem] = []
    for i, raw in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(raw, dict):
            raise refuse(f"'{where}' must be an object", where, "invalid_type")
        kind = raw.get("type", "message" if "role" in raw else None)
        if kind is None:
            raise refuse(
                f"'{where}' needs a 'type' (or a 'role', for a message)",
                f"{where}.type",
                "missing_required_parameter",
            )
        if kind not in ITEM_FIELDS:
            raise refuse(
                f"'{where}.type' {kind!r} is not supported: {', '.join(ITEM_FIELDS)}",
                f"{where}.type",
                "unsupported_value",
            )
        for extra in set(raw) - ITEM_FIELDS[kind]:
            raise refuse(f"'{where}.{extra}' is not supported", f"{where}.{extra}", "unsupported_parameter")
        if kind in RECORDS:
            _check_record(raw, where)
            items.append(InputItem(kind, role="assistant", record=dict(raw)))
        elif kind == "message":
            items.append(_message(raw, where))
        elif kind == "function_call":
            items.append(
                InputItem(
                    "function_call",
                    role="assistant",
                    call_id=string_field(raw.get("call_id"), f"{where}.call_id"),
                    name=string_field(raw.get("name"), f"{where}.name"),
                    arguments=string_field(raw.get("arguments"), f"{where}.arguments"),
                )
            )
        else:
            output = raw.get("output")
            if isinstance(output, list):  # content parts: their text
                output = "\n".join(p.get("text", "") for p in output if isinstance(p, dict))
            items.append(
                InputItem(
                    "function_call_output",
                    role="tool",
                    call_id=string_field(raw.get("call_id"), f"{where}.call_id"),
                    output=string_field(output, f"{where}.output"),
                )
            )
    return items
