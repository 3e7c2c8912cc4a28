"""The request guard: every request's text is storable and its shape bounded before a handler runs.

Path, query and JSON body are checked with `core.storable`: text PostgreSQL cannot store (U+0000, a lone
surrogate) is refused with a 422 `UnstorableText` naming the field (`email`, `messages[0].content`, query
`q`, path `handle`), except in the fields of `data/request_text.toml` where people paste documents: there the
characters are removed. It also bounds the body size per route kind (413 `BodyTooLarge`), the JSON nesting
depth and the length of every JSON string and list (422 `BadShape`), so that no decoder recursion or
unbounded work is reachable from a request. The limits are settings (`max_request_body_bytes`,
`max_json_depth`, `max_json_string_chars`, `max_json_items`), listed in docs/limits.md.

Routes that take uploads mark themselves with `opt={"upload": True}`: their body may be as large as
`max_file_bytes` plus `max_request_body_bytes`, it is streamed (not buffered), and their form fields are read
with `core.forms.read_form`, which checks them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode

from litestar._asgi.utils import wrap_in_exception_handler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import BodyTooLarge, UnstorableText
from core.openai_errors import is_openai_path
from core.settings import Settings
from core.storable import MAX_ERRORS, UNSTORABLE, clean_json, load_json, unstorable_message

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
            if is_openai_path(scope["path"]):
                scope = _plain_list_names(scope)
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


def _plain_list_names(scope: Scope) -> Scope:
    """`/v1` query lists as the `openai` SDKs write them (`include[]=a&include[]=b`) under their plain name
    (`include=a&include=b`), which the route handlers read: else the SDK's values were never seen."""
    query = scope.get("query_string") or b""
    if b"%5B%5D=" not in query and b"[]=" not in query:
        return scope
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    plain = [(key.removesuffix("[]"), value) for key, value in pairs]
    return {**scope, "query_string": urlencode(plain, encoding="latin-1").encode("latin-1")}


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
