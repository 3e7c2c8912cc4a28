"""The request guard: every request's text is storable and its shape bounded before a handler runs.

PostgreSQL stores UTF-8 text without U+0000; a lone surrogate (`"\\ud800"` in JSON) cannot be encoded at
all. The guard refuses such text with a 422 `UnstorableText` naming the field (`email`,
`messages[0].content`, query `q`, path `handle`), except in the fields of `data/request_text.toml` where
people paste documents: there the characters are removed. It also bounds the body size per route kind
(413 `BodyTooLarge`), the JSON nesting depth and the length of every JSON string and list (422
`BadShape`), so that no decoder recursion or unbounded work is reachable from a request. The limits are
settings (`max_request_body_bytes`, `max_json_depth`, `max_json_string_chars`, `max_json_items`), listed in
docs/limits.md.

Routes that take uploads mark themselves with `opt={"upload": True}`: their body may be as large as
`max_file_bytes` plus `max_request_body_bytes`, it is streamed (not buffered), and their form fields are read
with `read_form`, which checks them the same way.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar._asgi.utils import wrap_in_exception_handler
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import BadRequest, BadShape, BodyTooLarge, UnstorableText
from core.settings import Settings

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUL_BETWEEN = re.compile(r"(?<=\w)\x00+(?=\w)")
PASTED_FIELDS = frozenset(
    tomllib.loads(resources.files("core").joinpath("data/request_text.toml").read_text())["pasted"]
)
MAX_ERRORS = 20  # field errors named in one problem

_JSON_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The `multipart` package's `max_header_size` (4,096 + 128 bytes), under `request.form()` and the file
# batches' own parser: a part's header line (a file name of 255 UTF-8 bytes, sent percent-encoded in
# `filename*` beside its ASCII fallback, needs about 1 KB).
MULTIPART_HEADER_BYTES = 4096 + 128


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


def check_form(form: FormMultiDict) -> FormMultiDict:
    """A parsed form's fields checked like JSON fields are, line breaks as LF (a browser sends CRLF): the
    pasted fields (`PASTED_FIELDS`) without U+0000 and lone surrogates, any other text field holding them
    refused with a 422 `UnstorableText` naming every such field (file parts are left as they are: their
    names are cleaned at upload)."""
    cleaned, errors = clean_form(form)
    if errors:
        detail = "; ".join(f"{e['field']} {e['message']}" for e in errors[:3])
        raise UnstorableText(detail, errors=errors[:MAX_ERRORS])
    return cleaned


def clean_form(form: FormMultiDict) -> tuple[FormMultiDict, list[dict[str, Any]]]:
    """`check_form` without the refusal: the form with line breaks as LF and every text field without
    U+0000 and lone surrogates, and `{field, message}` for each field (other than the pasted ones) that held
    them, for a page to refuse at that field while it shows the rest of what was typed."""
    errors: list[dict[str, Any]] = []
    items: list[tuple[str, Any]] = []
    changed = False
    for name, value in form.multi_items():
        if isinstance(value, str) and "\r" in value:
            # HTML form submission sends every line break of a textarea as CRLF (HTML, "constructing the
            # entry list"): the text as typed has LF, as the API's JSON does
            value, changed = value.replace("\r\n", "\n").replace("\r", "\n"), True
        if has_unstorable(name):
            field = name.encode("unicode_escape").decode("ascii")
            errors.append({"field": field, "message": f"(a form field name) {unstorable_message(name)}"})
            changed = True
            continue
        if isinstance(value, str) and has_unstorable(value):
            if name not in PASTED_FIELDS:
                errors.append({"field": name, "message": unstorable_message(value)})
            value, changed = storable(value), True
        items.append((name, value))
    return (FormMultiDict(items) if changed else form), errors


async def read_form(request: Request) -> FormMultiDict:
    """The request's form (url-encoded or multipart) with its text fields checked like JSON fields are
    (`check_form`). Every handler reads its form through this or `read_clean_form`."""
    return check_form(await _parsed_form(request))


async def read_clean_form(request: Request) -> tuple[FormMultiDict, list[dict[str, Any]]]:
    """`read_form` that leaves the refusal of unstorable text to the caller (`clean_form`): the form without
    it, and the fields that held it (web.forms.form_values, for a page that refuses at each field)."""
    return clean_form(await _parsed_form(request))


async def _parsed_form(request: Request) -> FormMultiDict:
    try:
        form = await request.form()
    except UnicodeDecodeError:  # Litestar decodes text fields strictly, in their declared charset
        message = "is not text in its charset (UTF-8 unless the part declares another)"
        raise UnstorableText(
            f"A form field {message}", errors=[{"field": "form", "message": message}]
        ) from None
    except LookupError:
        raise BadRequest("A form field declares an unknown charset") from None
    except ClientException as exc:
        # Litestar answers every limit of its multipart parser with a 400 "Request Entity Too Large"
        # (litestar/_multipart.py, kept for compatibility), which says neither which limit nor that the
        # body is no larger than allowed
        if exc.detail != "Request Entity Too Large":
            raise
        message = (
            f"is over a limit of the multipart parser: more than {request.app.multipart_form_part_limit:,}"
            " parts, or a part "
            f"header longer than {MULTIPART_HEADER_BYTES:,} bytes (a file name that long?)"
        )
        raise BadShape(f"The form {message}", errors=[{"field": "form", "message": message}]) from None
    return form


def _query_errors(query: bytes) -> list[dict[str, Any]]:
    errors = []
    for part in query.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        name = name_bytes.decode("utf-8", "replace")
        for raw in (name_bytes, unquote_to_bytes(raw_value.replace(b"+", b" "))):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                errors.append({"field": name, "source": "query", "message": "is not valid UTF-8"})
                break
            if UNSTORABLE.search(text):
                errors.append({"field": name, "source": "query", "message": unstorable_message(text)})
                break
    return errors


def _path_errors(scope: Scope) -> list[dict[str, Any]]:
    raw = (scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")).split(b"?")[0]
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        message = "is not valid UTF-8"
    else:
        if not UNSTORABLE.search(text) and not UNSTORABLE.search(scope["path"]):
            return []
        message = unstorable_message(text if UNSTORABLE.search(text) else scope["path"])
    names = [
        name
        for name, value in (scope.get("path_params") or {}).items()
        if isinstance(value, str) and (UNSTORABLE.search(value) or "\ufffd" in value)
    ]
    return [{"field": name, "source": "path", "message": message} for name in names or ["path"]]


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int, setting: str) -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than {limit:,} bytes",
        errors=[{"field": "body", "message": f"larger than {limit} bytes"}],
        limit=setting,
        limit_bytes=limit,
    )


def body_limit(scope: Scope, settings: Settings) -> tuple[int, str]:
    """(bytes a body may have, the setting behind it): uploads carry a whole file, the rest is small."""
    handler = scope.get("route_handler")
    upload = handler.opt.get("upload") if handler is not None else None
    if upload == "batch":  # many files in one request (retrieval.batch_routes)
        return settings.max_batch_bytes, "max_batch_bytes"
    if upload:
        return settings.max_file_bytes + settings.max_request_body_bytes, "max_file_bytes"
    return settings.max_request_body_bytes, "max_request_body_bytes"


def request_guard() -> Callable[[ASGIApp], ASGIApp]:
    """The guard as Litestar middleware: path, query and body checked before the route handler runs, to
    the limits of the app's settings (its state's, as the route handlers read them)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guard(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            settings: Settings = scope["app"].state.settings
            errors = _path_errors(scope) + _query_errors(scope.get("query_string") or b"")
            if errors:
                names = ", ".join(dict.fromkeys(e["field"] for e in errors))
                raise UnstorableText(f"Invalid value for: {names}", errors=errors[:MAX_ERRORS])
            limit, setting = body_limit(scope, settings)
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                raise _too_large(limit, setting)
            if setting in ("max_file_bytes", "max_batch_bytes"):  # an upload: streamed, counted on the way
                await app(scope, _counted(receive, limit, setting), send)
                return
            if scope["method"] not in _BODY_METHODS:
                await app(scope, receive, send)
                return
            body = await _read_body(receive, limit, setting)
            body, scope = _checked_body(body, scope, settings)
            await app(scope, _replay(body, receive), send)

        # Refusals are rendered here, by the route's own exception handlers (problem+json, or OpenAI's shape
        # on /v1), so that the access log around the guard records their status.
        return wrap_in_exception_handler(guard)

    return middleware


def _checked_body(body: bytes, scope: Scope, settings: Settings) -> tuple[bytes, Scope]:
    if not body.strip():
        return body, scope
    try:
        value = load_json(body, settings)
    except ValueError:  # not JSON (or not UTF-8): the route's own decoder answers with a 400
        return body, scope
    handler = scope.get("route_handler")
    model_text = bool(handler is not None and handler.opt.get("model_text"))
    cleaned, changed = clean_json(value, settings, clean_all=model_text)
    if not changed:
        return body, scope
    body = json.dumps(cleaned, ensure_ascii=False).encode("utf-8")
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    return body, {**scope, "headers": headers}


async def _read_body(receive: Receive, limit: int, setting: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, setting)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counted(receive: Receive, limit: int, setting: str) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _too_large(limit, setting)
        return message

    return counted
