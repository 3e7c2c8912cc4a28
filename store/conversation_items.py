"""OpenAI's Conversations shapes: input items and metadata checked, stored messages rendered as items.

A conversation item here is a `message` (roles `user`, `assistant`, `system`, `developer`) of text: it is
one `ChatMessage` row, the same the store chat and the web app show. Input items are OpenAI's
`EasyInputMessage` (`content` a string) or `Message`/`ResponseOutputMessage` (`content` a list of
`input_text`/`output_text` parts, joined in order); an assistant part's `file_citation` annotations become
its citations. Anything else (other item types, image or file parts, non-text parts) is refused with a 400
naming the item, never dropped. Limits come from `data/conversation_limits.toml` (OpenAI's reference).
Errors are `core.errors.Invalid` with `field`/`param` and OpenAI's `code`; on `/v1` they render as 400.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from core.errors import Invalid
from core.schemas import has_visible
from retrieval.citations import on_site
from store.models import ChatMessage, Conversation
from store.openai_ids import conversation_public_id, item_public_id

ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text")
ITEM_FIELDS = {"type", "role", "content", "id", "status"}
PART_FIELDS = {"type", "text", "annotations", "logprobs"}
# `dataset_id`, `dataset`, `license` and `license_url` are gptstore's own (the annotations it returns carry
# them): accepted so that an output goes back in unchanged, and not kept, since a client cannot vouch for a
# dataset or a license.
ANNOTATION_FIELDS = {
    "type",
    "file_id",
    "filename",
    "index",
    "dataset_id",
    "dataset",
    "license",
    "license_url",
}
TYPED_ANNOTATION_FIELDS = (
    ("dataset_id", str, "a string"),
    ("dataset", dict, "an object"),
    ("license", str, "a string"),
    ("license_url", str, "a string"),
)
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def metadata_schema() -> dict[str, Any]:
    """The JSON schema of `metadata`, as `check_metadata` takes it."""
    bounds = limits()["metadata"]
    return {
        "type": "object",
        "maxProperties": bounds["max_pairs"],
        "propertyNames": {"maxLength": bounds["max_key_chars"]},
        "additionalProperties": {"type": "string", "maxLength": bounds["max_value_chars"]},
    }


def items_schema() -> dict[str, Any]:
    """The JSON schema of an `items` array, as `parse_items` takes it: every schema-valid item is kept."""
    annotation = {
        "type": "object",
        "required": ["type", "file_id", "filename"],
        "properties": {
            "type": {"const": "file_citation"},
            "file_id": {"type": "string", "pattern": UUID_PATTERN},
            "filename": {"type": "string"},
            "index": {"type": "integer"},
            "dataset_id": {"type": ["string", "null"]},
            "dataset": {"type": ["object", "null"]},
            "license": {"type": ["string", "null"]},
            "license_url": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    }
    part = {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"enum": list(TEXT_PARTS)},
            "text": {"type": "string"},
            "annotations": {"anyOf": [{"type": "array", "items": annotation}, {"type": "null"}]},
            "logprobs": {"anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}]},
        },
        "additionalProperties": False,
    }
    item = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "type": {"const": "message"},
            "role": {"enum": list(ROLES)},
            "content": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": part}]},
            "id": {"type": "string", "description": "Not kept: every added item gets a new id"},
            "status": {"anyOf": [{"const": "completed"}, {"type": "null"}]},
        },
        "additionalProperties": False,
        # A user message must not be blank: its string, or one of its parts, has a character besides spaces
        # (the parts are joined).
        "if": {"properties": {"role": {"const": "user"}}, "required": ["role"]},
        "then": {
            "properties": {
                "content": {
                    "anyOf": [
                        {"type": "string", "pattern": r"\S"},
                        {"type": "array", "contains": {"properties": {"text": {"pattern": r"\S"}}}},
                    ]
                }
            }
        },
    }
    return {"type": "array", "maxItems": limits()["items"]["max_per_request"], "items": item}


@cache
def limits() -> dict[str, dict[str, int]]:
    """`data/conversation_limits.toml`: metadata and items limits from OpenAI's API reference."""
    text = resources.files("store").joinpath("data", "conversation_limits.toml").read_text()
    return tomllib.loads(text)


def refuse(message: str, param: str, code: str = "invalid_value") -> Invalid:
    return Invalid(message, field=param, param=param, code=code)


@dataclass
class NewItem:
    """A message to append: its role, its text and (for the assistant) the citations it carries."""

    role: str
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """OpenAI's metadata: at most 16 string pairs, keys up to 64 and values up to 512 characters."""
    bounds = limits()["metadata"]
    if not isinstance(value, dict):
        raise refuse(f"Invalid type for '{param}': expected an object of strings.", param, "invalid_type")
    if len(value) > bounds["max_pairs"]:
        raise refuse(
            f"Invalid '{param}': too many properties. Expected an object with at most {bounds['max_pairs']} "
            f"properties, but got an object with {len(value)} properties instead.",
            param,
            "object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > bounds["max_key_chars"]:
            raise refuse(
                f"Invalid '{param}': the key {key[:20]!r}... is longer than {bounds['max_key_chars']} "
                "characters.",
                param,
                "string_above_max_length",
            )
        if not isinstance(item, str):
            raise refuse(
                f"Invalid type for '{param}.{key}': expected a string.", f"{param}.{key}", "invalid_type"
            )
        if len(item) > bounds["max_value_chars"]:
            raise refuse(
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum length "
                f"{bounds['max_value_chars']}, but got a string with length {len(item)} instead.",
                f"{param}.{key}",
                "string_above_max_length",
            )
    return dict(value)


def _citations(annotations: Any, where: str) -> list[dict[str, Any]]:
    if annotations is None:
        return []
    if not isinstance(annotations, list):
        raise refuse(f"Invalid type for '{where}': expected an array.", where, "invalid_type")
    out = []
    for k, note in enumerate(annotations):
        at = f"{where}[{k}]"
        if not isinstance(note, dict) or note.get("type") != "file_citation":
            kind = note.get("type") if isinstance(note, dict) else type(note).__name__
            raise refuse(
                f"'{at}' of type {kind!r} is not supported: only 'file_citation' annotations are kept.",
                at,
                "unsupported_value",
            )
        for extra in sorted(set(note) - ANNOTATION_FIELDS):
            raise refuse(f"Unknown parameter: '{at}.{extra}'.", f"{at}.{extra}", "unknown_parameter")
        index = note.get("index", 0)
        if isinstance(index, bool) or not (
            type(index) is int or (type(index) is float and index.is_integer())
        ):
            raise refuse(
                f"Invalid type for '{at}.index': expected an integer.", f"{at}.index", "invalid_type"
            )
        for name, kind, label in TYPED_ANNOTATION_FIELDS:
            value = note.get(name)
            if value is not None and not isinstance(value, kind):
                param = f"{at}.{name}"
                raise refuse(f"Invalid type for '{param}': expected {label} or null.", param, "invalid_type")
        file_id = note.get("file_id")
        if not isinstance(file_id, str) or not re.fullmatch(UUID_PATTERN, file_id):
            raise refuse(f"'{at}.file_id' is not a file id of this store.", f"{at}.file_id")
        filename = note.get("filename")
        if not isinstance(filename, str):
            raise refuse(f"'{at}.filename' must be a string.", f"{at}.filename", "invalid_type")
        out.append(
            {
                "file_id": str(uuid.UUID(file_id)),
                "filename": filename,
                "page": None,
                "heading": None,
                "quote": None,
            }
        )
    return out


def _content(content: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list) or not content:
        raise refuse(
            f"Invalid '{where}': expected a string or a non-empty array of text parts.",
            where,
            "invalid_value",
        )
    texts: list[str] = []
    citations: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind not in TEXT_PARTS or not isinstance(part.get("text"), str):
            raise refuse(
                f"'{at}' of type {kind!r} is not supported: conversation items hold text "
                "('input_text' or 'output_text' parts).",
                at,
                "unsupported_value",
            )
        for extra in sorted(set(part) - PART_FIELDS):
            raise refuse(f"Unknown parameter: '{at}.{extra}'.", f"{at}.{extra}", "unknown_parameter")
        if part.get("logprobs") not in (None, []):
            raise refuse(
                f"'{at}.logprobs' is not kept here; send an empty array.",
                f"{at}.logprobs",
                "unsupported_value",
            )
        texts.append(part["text"])
        citations += _citations(part.get("annotations"), f"{at}.annotations")
    return "".join(texts), citations


def parse_items(raw: Any, param: str = "items") -> list[NewItem]:
    """Input items as messages to append, in order (400 naming the first item or field that cannot be)."""
    if not isinstance(raw, list):
        raise refuse(f"Invalid type for '{param}': expected an array of items.", param, "invalid_type")
    most = limits()["items"]["max_per_request"]
    if len(raw) > most:
        raise refuse(
            f"Invalid '{param}': array too long. Expected an array with maximum length {most}, but got an "
            f"array with length {len(raw)} instead.",
            param,
            "array_above_max_length",
        )
    items = []
    for i, item in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise refuse(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
        kind = item.get("type", "message")
        if kind != "message":
            raise refuse(
                f"'{where}.type' {kind!r} is not supported: conversations here hold messages.",
                f"{where}.type",
                "unsupported_value",
            )
        for extra in sorted(set(item) - ITEM_FIELDS):
            raise refuse(f"Unknown parameter: '{where}.{extra}'.", f"{where}.{extra}", "unknown_parameter")
        if item.get("role") not in ROLES:
            raise refuse(
                f"Invalid value for '{where}.role': expected one of {', '.join(ROLES)}.",
                f"{where}.role",
                "invalid_value",
            )
        if "id" in item and not isinstance(item["id"], str):
            raise refuse(f"Invalid type for '{where}.id': expected a string.", f"{where}.id", "invalid_type")
        if item.get("status") not in (None, "completed"):
            raise refuse(
                f"'{where}.status' must be 'completed': a stored item is complete.", f"{where}.status"
            )
        if "content" not in item:
            raise refuse(
                f"Missing required parameter: '{where}.content'.",
                f"{where}.content",
                "missing_required_parameter",
            )
        text, citations = _content(item["content"], f"{where}.content")
        if item["role"] == "user" and not has_visible(
            text
        ):  # as a chat message, `/v1/responses` and Chat Completions
            raise refuse(
                f"'{where}.content' has no text: a user message must not be blank.", f"{where}.content"
            )
        items.append(NewItem(item["role"], text, citations))
    return items


def _timestamp(value: datetime) -> int:
    return int(value.timestamp())


def conversation_object(conversation: Conversation) -> dict[str, Any]:
    """OpenAI's `conversation` object."""
    return {
        "id": conversation_public_id(conversation.id),
        "object": "conversation",
        "created_at": _timestamp(conversation.created_at),
        "metadata": dict(conversation.labels or {}),
    }


def cited_dataset_fields(citation: dict[str, Any], site: str = "") -> dict[str, Any]:
    """gptstore's dataset and license fields of a stored citation for a `file_citation` annotation (no
    dataset in a citation stored before datasets; `license`: the open file's SPDX id); `site`: the links
    as whole URLs on it (`retrieval.citations.on_site`)."""
    license = {"license": citation.get("license"), "license_url": citation.get("license_url")}
    if not citation.get("dataset_id"):
        return license if citation.get("license") else {}
    dataset = on_site(citation.get("dataset"), site)
    return {"dataset_id": citation["dataset_id"], "dataset": dataset, **license}


def annotations(citations: list[dict[str, Any]], site: str) -> list[dict[str, Any]]:
    """A message's citations as OpenAI `file_citation` annotations (`index`: the citation's position), their
    links whole URLs on `site` (`https://host`)."""
    return [
        {
            "type": "file_citation",
            "file_id": str(c["file_id"]),
            "filename": c["filename"],
            "index": index,
            **cited_dataset_fields(c, site),
        }
        for index, c in enumerate(citations)
    ]


def item_object(message: ChatMessage, site: str) -> dict[str, Any]:
    """A stored message as OpenAI's `message` conversation item; `site`: the origin its links are on."""
    if message.role == "assistant":
        part: dict[str, Any] = {
            "type": "output_text",
            "text": message.content,
            "annotations": annotations(message.citations or [], site),
            "logprobs": [],
        }
    else:
        part = {"type": "input_text", "text": message.content}
    return {
        "id": item_public_id(message.id),
        "type": "message",
        "status": "completed",
        "role": message.role,
        "content": [part],
    }


def item_list(messages: list[ChatMessage], has_more: bool, site: str) -> dict[str, Any]:
    """OpenAI's item list: `data`, `first_id`, `last_id`, `has_more`."""
    data = [item_object(m, site) for m in messages]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
