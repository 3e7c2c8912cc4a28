"""Calling an action's operation: the HTTP request built from the `Operation` and the model's arguments, the
action's auth, and the response as text for the model (issue #12; docs/tools-safety.md).

What is sent: the operation's path, query, header, cookie and body parameters the model filled in, the auth
the creator configured, `User-Agent` and `Accept`, and, only when the creator turned it on, an opaque
per-user id (`ActionTool.user_id_header`). Nothing from the end user's own request (headers, cookies, tokens)
is ever a source: this module never sees it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2

from core.settings import Settings
from tools import fetch, net, redact
from tools.definitions import ActionAuth, ActionTool, Operation
from tools.headers import RESERVED_HEADERS, header_value_problem, set_header

USER_AGENT = "gptstore-actions/1.0"
ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.5"
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
TOKEN_EARLY_REFRESH_SECONDS = 30  # a token this close to expiry is fetched anew
TOKEN_CACHE_SIZE = 1024


class ActionError(net.ToolNetworkError):
    """The call could not be made from these arguments or credentials; the text says why."""


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any | None  # JSON value, or a dict for a form body
    form: bool
    sensitive_headers: frozenset[str]  # not sent on when a redirect leaves the first host


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "" if value is None else str(value)


def user_ref_for(settings: Settings, action: ActionTool, user_ref: str) -> str:
    """The opaque id one action sees for one user: HMAC-SHA256 with the server's secret key of the action
    and the user, so it is stable, different for each action (actions cannot match their users with one
    another), and cannot be computed back from or to an account id outside this server."""
    message = f"{action.id}:{user_ref}".encode()
    return hmac.new(settings.secret().encode(), message, hashlib.sha256).hexdigest()[:32]


def prepare(action: ActionTool, operation: Operation, arguments: dict[str, Any]) -> PreparedRequest:
    """The request for `operation` with the model's `arguments` (no auth yet). `ActionError` for a missing
    required parameter or an unusable header value. A null argument counts as not given, and so does ""
    for a path parameter (an empty segment would call another endpoint: `/trips/` for `/trips/{id}`)."""
    path = operation.path
    params: list[tuple[str, str]] = []
    headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    cookies: list[str] = []
    body: Any | None = None
    required = set(operation.parameters.get("required", []))
    for name, location in operation.locations.items():
        value = arguments.get(name)
        if value is None or (location == "path" and _scalar(value) == ""):
            if location == "path" or name in required:
                raise ActionError(f"missing required parameter {name!r}")
            continue
        if location == "path":
            # Quoted whole, so a value cannot add path segments (`../admin`) or a query; a bare `.` or `..`
            # is encoded too, or URL normalisation would take it as a step up.
            segment = quote(_scalar(value), safe="")
            if segment.strip(".") == "":
                segment = segment.replace(".", "%2E")
            path = path.replace("{" + name + "}", segment)
        elif location == "query":
            values = value if isinstance(value, list) else [value]
            params.extend((name, _scalar(v)) for v in values)
        elif location == "header":
            if name.lower() in RESERVED_HEADERS:
                continue
            text = _scalar(value)
            if not HEADER_NAME.fullmatch(name):
                raise ActionError(f"{name!r} is not a valid header name")
            if problem := header_value_problem(text.strip(" \t")):
                raise ActionError(f"header parameter {name!r} cannot be sent: its value {problem}")
            set_header(headers, name, text.strip(" \t"))
        elif location == "cookie":
            cookies.append(f"{name}={quote(_scalar(value), safe='')}")
        elif location == "body":
            body = value
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    form = operation.content_type == "application/x-www-form-urlencoded"
    if form and body is not None and not isinstance(body, dict):
        raise ActionError("the form body must be an object of fields")
    if body is not None and not form:
        headers["Content-Type"] = (
            operation.content_type if "json" in operation.content_type else "application/json"
        )
    url = action.server_url.rstrip("/") + "/" + path.lstrip("/")
    return PreparedRequest(operation.method.upper(), url, params, headers, body, form, frozenset({"cookie"}))


class TokenCache:
    """OAuth 2.0 client-credentials tokens (RFC 6749 §4.4), cached per token URL, client and scope until
    `expires_in` (less `TOKEN_EARLY_REFRESH_SECONDS`); one fetch at a time per key."""

    def __init__(self, size: int = TOKEN_CACHE_SIZE):
        self.size = size
        self.tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.locks: dict[str, asyncio.Lock] = {}

    def clear(self) -> None:
        self.tokens.clear()

    async def token(self, client: httpx2.AsyncClient, settings: Settings, auth: ActionAuth) -> str:
        if not auth.token_url or not auth.client_id:
            raise ActionError("OAuth client credentials need a token URL and a client id")
        secret_digest = hashlib.sha256((auth.secret or "").encode()).hexdigest()
        key = "\0".join((auth.token_url, auth.client_id, auth.scope or "", secret_digest))
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self.tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = await _fetch_token(client, settings, auth)
            self.tokens[key] = (token, time.monotonic() + max(lifetime - TOKEN_EARLY_REFRESH_SECONDS, 0))
            self.tokens.move_to_end(key)
            while len(self.tokens) > self.size:
                old, _ = self.tokens.popitem(last=False)
                self.locks.pop(old, None)
            return token


async def _fetch_token(client: httpx2.AsyncClient, settings: Settings, auth: ActionAuth) -> tuple[str, float]:
    """Client authentication by HTTP basic (client_secret_basic, RFC 6749 §2.3.1, which every authorization
    server must support); when that is refused (400/401), once more with the credentials in the form
    (client_secret_post), which some servers require."""
    assert auth.token_url is not None
    form = {"grant_type": "client_credentials"}
    if auth.scope:
        form["scope"] = auth.scope
    credentials = f"{quote(auth.client_id or '', safe='')}:{quote(auth.secret or '', safe='')}"
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    basic = {**headers, "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    result = await fetch.request(client, settings, "POST", auth.token_url, data=form, headers=basic)
    if result.status_code in (400, 401):
        posted = {**form, "client_id": auth.client_id or "", "client_secret": auth.secret or ""}
        result = await fetch.request(client, settings, "POST", auth.token_url, data=posted, headers=headers)
    if result.status_code != 200:
        raise ActionError(f"the OAuth token endpoint answered HTTP {result.status_code}")
    try:
        payload = json.loads(result.content)
        token = payload["access_token"]
        lifetime = float(payload.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError):
        raise ActionError("the OAuth token endpoint answered without an access_token") from None
    if not isinstance(token, str) or not token:
        raise ActionError("the OAuth token endpoint answered without an access_token")
    if problem := header_value_problem(token):
        raise ActionError(f"the OAuth token endpoint answered with an access_token that {problem}")
    return token, lifetime


TOKENS = TokenCache()


async def authorize(
    request: PreparedRequest, client: httpx2.AsyncClient, settings: Settings, auth: ActionAuth
) -> PreparedRequest:
    """`request` with the action's credentials added (header, query parameter or OAuth token). The
    credentials win: a header or query parameter of the same name (any case) from the model's arguments or
    `user_id_header` is dropped, so neither can replace the key (refused at save, tools.request_names; this
    covers actions saved before that check)."""
    headers = dict(request.headers)
    params = list(request.params)
    sensitive = set(request.sensitive_headers) | {"authorization"}
    if auth.type == "api_key" and auth.secret:
        if auth.location != "query" and (auth.name or "").lower() in RESERVED_HEADERS:
            # Refused when saved (tools.schemas); an action saved before that is not sent with it.
            raise ActionError(f"the action's API key header {auth.name!r} is reserved and cannot be set")
        if auth.location == "query":
            name = (auth.name or "api_key").lower()
            params = [(k, v) for k, v in params if k.lower() != name]
            params.append((auth.name or "api_key", auth.secret))
        else:
            set_header(headers, auth.name or "X-Api-Key", auth.secret)
            sensitive.add((auth.name or "X-Api-Key").lower())
    elif auth.type == "bearer" and auth.secret:
        set_header(headers, "Authorization", f"Bearer {auth.secret}")
    elif auth.type == "basic" and (auth.username or auth.secret):
        pair = f"{auth.username or ''}:{auth.secret or ''}".encode()
        set_header(headers, "Authorization", "Basic " + base64.b64encode(pair).decode())
    elif auth.type == "oauth_client_credentials":
        set_header(headers, "Authorization", f"Bearer {await TOKENS.token(client, settings, auth)}")
    return PreparedRequest(
        request.method, request.url, params, headers, request.body, request.form, frozenset(sensitive)
    )


async def call_operation(
    client: httpx2.AsyncClient,
    settings: Settings,
    action: ActionTool,
    operation: Operation,
    arguments: dict[str, Any],
    *,
    user_ref: str | None = None,
) -> tuple[str, bool]:
    """Run one operation: the response text for the model (cut at `actions_max_response_bytes` with a
    note) and whether it succeeded (2xx). Raises `tools.net.ToolNetworkError` when no response came."""
    prepared = prepare(action, operation, arguments)
    if action.user_id_header and user_ref and action.user_id_header.lower() not in RESERVED_HEADERS:
        # The id wins over a header parameter of that name, never over a reserved header (both refused at
        # save; defence for older actions).
        set_header(prepared.headers, action.user_id_header, user_ref_for(settings, action, user_ref))
    prepared = await authorize(prepared, client, settings, action.auth)
    kwargs: dict[str, Any] = {"params": prepared.params, "headers": prepared.headers}
    if prepared.body is not None:
        kwargs["data" if prepared.form else "content"] = (
            prepared.body if prepared.form else json.dumps(prepared.body, ensure_ascii=False).encode()
        )
    result = await fetch.request(
        client,
        settings,
        prepared.method,
        prepared.url,
        redirect_hosts=action.redirect_hosts,
        sensitive_headers=prepared.sensitive_headers,
        **kwargs,
    )
    text = response_text(result, settings, _credentials(prepared, action.auth))
    if 200 <= result.status_code < 300:
        return text, True
    reason = httpx2.codes.get_reason_phrase(result.status_code)
    return f"HTTP {result.status_code} {reason} from {action.domain}\n{text}".rstrip(), False


def _credentials(prepared: PreparedRequest, auth: ActionAuth) -> set[str]:
    """What `prepared` carries as the action's credentials: its credential headers (not the model's cookies)
    and an API key in the query; an OAuth access token among them."""
    sent = [v for k, v in prepared.headers.items() if k.lower() in prepared.sensitive_headers - {"cookie"}]
    if auth.type == "api_key" and auth.location == "query" and auth.secret:
        sent.append(auth.secret)
    return redact.action_credentials(auth, sent)


def response_text(result: fetch.HttpResult, settings: Settings, credentials: set[str] | None = None) -> str:
    """The body as text (its charset, else UTF-8) without `credentials` (`tools.redact`, a credential the
    cut split too), with a note when it was cut."""
    charset = "utf-8"
    content_type = result.headers.get("content-type", "")
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        text = result.content.decode(charset, "replace")
    except LookupError:
        text = result.content.decode("utf-8", "replace")
    if result.truncated:
        text = text.rstrip("\ufffd")
    text = redact.redact(text, credentials or (), cut=result.truncated)
    if result.truncated:
        text += cut_note(settings.actions_max_response_bytes)
    return text


def cut_note(limit: int) -> str:
    return f"\n[response cut: only the first {limit} bytes are shown; the rest was not read]"
