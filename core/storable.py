"""Text PostgreSQL can store, and JSON of bounded shape: the checks the request guard (`core.guard`) runs on
every body, also used wherever text comes from elsewhere (a language model, a fetched document).

PostgreSQL stores UTF-8 text without U+0000; a lone surrogate (`"\\ud800"` in JSON) cannot be encoded at
all. Such text is refused with a 422 `UnstorableText` naming the field, except in the fields of
`data/request_text.toml` where people paste documents: there the characters are removed. JSON is bounded in
nesting depth and in the length of every string and list (422 `BadShape`); the limits are settings
(`max_json_depth`, `max_json_string_chars`, `max_json_items`), listed in docs/limits.md.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from itertools import accumulate
from typing import Any

from core.errors import BadShape, UnstorableText
from core.settings import Settings

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
PASTED_FIELDS = frozenset(
    tomllib.loads(resources.files("core").joinpath("data/request_text.toml").read_text())["pasted"]
)
MAX_ERRORS = 20  # field errors named in one problem

_JSON_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def has_unstorable(value: str) -> bool:
    """Whether PostgreSQL cannot store `value`: a U+0000 or a lone surrogate (memchr and encoder fast)."""
    if "\x00" in value:
        return True
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_message(value: str) -> str:
    """Why `value` cannot be stored, naming the first offending character."""
    char = UNSTORABLE.search(value).group()
    name = "U+0000 (NUL)" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    return f"contains {name}, which cannot be stored"


_NUL_BETWEEN = re.compile(r"(?<=\w)\x00+(?=\w)")


def storable(value: str) -> str:
    """`value` without U+0000 and lone surrogates: how pasted text and parser output are kept. A
    U+0000 between two word characters (letters, digits) becomes a space (it separated them:
    "with\\x00nul" is two words)."""
    if not has_unstorable(value):
        return value
    return UNSTORABLE.sub("", _NUL_BETWEEN.sub(" ", value))


MODEL_JSON_DEPTH = 32  # tool arguments of a language model: GPT fields are two levels deep


def model_json(text: str) -> Any:
    """JSON a language model wrote (tool arguments): depth-bounded, unstorable characters removed.

    `ValueError` for text that is not JSON (`NaN` and `Infinity` too: no JSON column stores them, and a
    paused call's arguments are stored) or nests deeper than `MODEL_JSON_DEPTH`; the caller tells the model,
    there is no client to answer.
    """
    if json_depth(text.encode("utf-8", "surrogatepass")) > MODEL_JSON_DEPTH:
        raise ValueError("nested too deep")

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return storable(item)
        if isinstance(item, list):
            return [clean(v) for v in item]
        if isinstance(item, dict):
            return {storable(k): clean(v) for k, v in item.items()}
        return item

    return clean(json.loads(text, parse_constant=_no_constant))


def check_text(value: str, field: str, *, source: str = "body") -> str:
    """`value` itself, or a 422 `UnstorableText` naming `field` when PostgreSQL cannot store it."""
    if has_unstorable(value):
        message = unstorable_message(value)
        raise UnstorableText(
            f"{field} {message}", errors=[{"field": field, "source": source, "message": message}]
        )
    return value


def json_depth(data: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON text, counted without parsing (no recursion)."""
    skeleton = _JSON_STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_BRACKET_STEP)
    if not skeleton:
        return 0
    return max(accumulate(1 if step == 1 else -1 for step in skeleton))


def _too_deep(field: str, settings: Settings) -> BadShape:
    message = f"is nested deeper than {settings.max_json_depth} levels"
    errors = [{"field": field, "message": message}]
    return BadShape(f"{field} {message}", errors=errors, limit="max_json_depth")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes | str, settings: Settings, *, field: str = "body") -> Any:
    """Parse JSON from a client; `ValueError` for text that is not JSON (also `NaN`, `Infinity` and
    `-Infinity`, which Python's decoder reads but no JSON column stores), 422 `BadShape` when far too deep.

    The stdlib decoder stops deep nesting with a `RecursionError`, which becomes the 422 here; nesting past
    `max_json_depth` that it does decode is refused by `clean_json`. Text that is not JSON is scanned for
    depth before it goes back to the caller, so that no other decoder recurses through it either.
    """
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise _too_deep(field, settings) from None
    except ValueError:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if json_depth(raw) > settings.max_json_depth:
            raise _too_deep(field, settings) from None
        raise


def clean_json(
    value: Any, settings: Settings, *, root: str = "body", clean_all: bool = False
) -> tuple[Any, bool]:
    """(value with pasted fields cleaned, whether anything changed); a 422 naming every field refused.

    Refused: nesting deeper than `max_json_depth`, strings longer than `max_json_string_chars`, lists and
    objects with more than `max_json_items` members (`BadShape`), and text PostgreSQL cannot store outside
    the pasted fields (`UnstorableText`). `clean_all`: every string is cleaned as a pasted one (a route
    whose text a language model writes: an MCP client's tool calls, `opt={"model_text": True}`).
    """
    if not _needs_walk(value, settings, 0):  # the common case: one lean pass, no paths, no copy
        return value, False
    errors: list[dict[str, Any]] = []
    changed = False

    def refuse(path: str, message: str, limit: str | None) -> None:
        if len(errors) < MAX_ERRORS:
            errors.append({"field": path or root, "message": message, "limit": limit})

    def walk(item: Any, path: str, key: str | None, depth: int) -> Any:
        nonlocal changed
        if isinstance(item, str):
            if len(item) > settings.max_json_string_chars:
                message = f"is longer than {settings.max_json_string_chars} characters"
                refuse(path, message, "max_json_string_chars")
            elif has_unstorable(item):
                if clean_all or key in PASTED_FIELDS:
                    changed = True
                    return storable(item)
                refuse(path, unstorable_message(item), None)
            return item
        if not isinstance(item, list | dict):
            return item
        if depth >= settings.max_json_depth:
            refuse(path, f"is nested deeper than {settings.max_json_depth} levels", "max_json_depth")
            return item
        if len(item) > settings.max_json_items:
            refuse(path, f"has more than {settings.max_json_items} items", "max_json_items")
            return item
        if isinstance(item, list):
            return [walk(v, f"{path}[{i}]", key, depth + 1) for i, v in enumerate(item)]
        out = {}
        for name, v in item.items():
            child = f"{path}.{name}" if path else name
            if has_unstorable(name) and clean_all:
                name, changed = storable(name), True
            elif has_unstorable(name):
                refuse(child.encode("unicode_escape").decode("ascii"), unstorable_message(name), None)
                continue
            out[name] = walk(v, child, name, depth + 1)
        return out

    cleaned = walk(value, "", None, 0)
    if errors:
        limits = [e["limit"] for e in errors if e["limit"]]
        detail = "; ".join(f"{e['field']} {e['message']}" for e in errors[:3])
        for e in errors:
            e.pop("limit")
        if limits:
            raise BadShape(detail, errors=errors, limit=limits[0])
        raise UnstorableText(detail, errors=errors)
    return cleaned, changed


def _needs_walk(item: Any, settings: Settings, depth: int) -> bool:
    if isinstance(item, str):
        return len(item) > settings.max_json_string_chars or has_unstorable(item)
    if isinstance(item, list):
        if depth >= settings.max_json_depth or len(item) > settings.max_json_items:
            return True
        return any(_needs_walk(v, settings, depth + 1) for v in item if not isinstance(v, int | float))
    if isinstance(item, dict):
        if depth >= settings.max_json_depth or len(item) > settings.max_json_items:
            return True
        return any(has_unstorable(k) or _needs_walk(v, settings, depth + 1) for k, v in item.items())
    return False
