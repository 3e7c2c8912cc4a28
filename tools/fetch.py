"""One request through the SSRF guard of `tools.net`: redirects followed and each checked again (at most
`actions_max_redirects`, same host unless listed), credentials dropped when the origin changes, the body
read up to a cap; and `fetch_document`, an OpenAPI document fetched under the same rules
(docs/tools-safety.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2

from core.settings import Settings
from tools.net import (
    Caller,
    RefusedRequest,
    ToolNetworkError,
    check_headers,
    check_url,
    describe_failure,
    guarded_client,
    shown_url,
)

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Headers that carry credentials: not sent on when a redirect leaves the first origin (scheme, host, port).
CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization"}
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpResult:
    status_code: int
    headers: Mapping[str, str]
    content: bytes  # at most `max_bytes`
    truncated: bool  # True when the body was longer and was cut at `max_bytes`
    url: str  # the final URL, after redirects


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what credentials are bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # out of range: no origin it could share
        port = -1
    return scheme, (parts.hostname or "").rstrip("."), port or DEFAULT_PORTS.get(scheme)


async def request(
    client: httpx2.AsyncClient,
    settings: Settings,
    method: str,
    url: str,
    *,
    redirect_hosts: Iterable[str] = (),
    sensitive_headers: Iterable[str] = (),
    max_bytes: int | None = None,
    redirect_check: Callable[[str], Awaitable[None]] | None = None,
    caller: Caller = "tools",
    **kwargs: Any,
) -> HttpResult:
    """Send one request with `client` (from `guarded_client`), following at most `actions_max_redirects`
    redirects to the first host or `redirect_hosts` (with `redirect_check`, to any host that it lets through
    by not raising: the web import, which sends no credentials, checks robots.txt there), each checked
    again (the Location is the whole next URL: `params`, where an API key may be, are not added again;
    credential headers, `sensitive_headers`, `auth` and cookies are dropped when the origin (scheme, host
    or port) changes, as curl does since CVE-2022-27776); the body read up to `max_bytes` (default
    `actions_max_response_bytes`). Raises `ToolNetworkError` (incl. `RefusedRequest`): a refused address,
    a timeout, a failed connection or a header value HTTP cannot carry, said by its kind (worded for
    `caller`) and never with the request's headers."""
    max_bytes = settings.actions_max_response_bytes if max_bytes is None else max_bytes
    seconds = settings.actions_timeout_seconds
    try:
        with anyio.fail_after(seconds):
            return await _follow(
                client,
                settings,
                method,
                url,
                redirect_hosts,
                sensitive_headers,
                max_bytes,
                redirect_check,
                caller,
                kwargs,
            )
    except TimeoutError:
        raise ToolNetworkError(f"timed out: no answer within {seconds:g} s ({shown_url(url)})") from None


async def _follow(
    client,
    settings,
    method,
    url,
    redirect_hosts,
    sensitive_headers,
    max_bytes,
    redirect_check,
    caller,
    kwargs,
) -> HttpResult:
    first_host = check_url(settings, url, caller)
    allowed = {first_host} | {h.lower().rstrip(".") for h in redirect_hosts}
    dropped = CREDENTIAL_HEADERS | {h.lower() for h in sensitive_headers}
    for hop in range(settings.actions_max_redirects + 1):
        check_headers(kwargs.get("headers"))
        try:
            async with client.stream(method, url, **kwargs) as response:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    next_url = urljoin(str(response.url), location)
                else:
                    return await _read(response, max_bytes)
        except ToolNetworkError:
            raise
        except httpx2.TimeoutException as exc:
            raise ToolNetworkError(
                f"timed out: {_describe_timeout(exc, settings)} ({shown_url(url)})"
            ) from None
        except (httpx2.NetworkError, httpx2.ProtocolError, httpx2.UnsupportedProtocol) as exc:
            raise ToolNetworkError(f"could not reach {shown_url(url)}: {describe_failure(exc)}") from None
        except httpx2.InvalidURL:
            raise RefusedRequest(f"refused: invalid URL {shown_url(url)!r}") from None
        next_host = check_url(settings, next_url, caller)
        if next_host not in allowed and redirect_check is None:
            raise RefusedRequest(
                f"refused: {shown_url(url)} redirects to another host ({next_host}), which the action does "
                "not list"
            )
        if hop == settings.actions_max_redirects:
            break
        if redirect_check is not None:
            await redirect_check(next_url)
        kwargs.pop("params", None)
        if response.status_code in (301, 302, 303) and method.upper() != "HEAD":
            method = "GET"
            for key in ("content", "data", "json", "files"):
                kwargs.pop(key, None)
            headers = kwargs.get("headers") or {}
            kwargs["headers"] = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if origin(next_url) != origin(url):
            headers = kwargs.get("headers") or {}
            kwargs["headers"] = {k: v for k, v in headers.items() if k.lower() not in dropped}
            kwargs.pop("auth", None)
            kwargs.pop("cookies", None)
        url = next_url
    limit = settings.actions_max_redirects
    raise RefusedRequest(f"refused: more than {limit} redirects (last to {shown_url(next_url)})")


async def _read(response: httpx2.Response, max_bytes: int) -> HttpResult:
    chunks: list[bytes] = []
    size = 0
    truncated = False
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            truncated = True
            break
    content = b"".join(chunks)[:max_bytes]
    return HttpResult(response.status_code, dict(response.headers), content, truncated, str(response.url))


def _describe_timeout(exc: Exception, settings: Settings) -> str:
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return f"no connection within {settings.actions_connect_timeout_seconds:g} s"
    return f"no answer within {settings.actions_timeout_seconds:g} s"


async def fetch_document(settings: Settings, url: str) -> bytes:
    """GET an OpenAPI document (or any text) from `url` under the same rules as an action call, at most
    `actions_max_document_bytes`; `ToolNetworkError` (with the reason) for a refused URL, a failed request,
    a status other than 2xx, or a larger document."""
    cap = settings.actions_max_document_bytes
    try:
        with anyio.fail_after(settings.actions_timeout_seconds):
            async with guarded_client(settings) as client:
                result = await request(client, settings, "GET", url, max_bytes=cap)
    except TimeoutError:
        seconds = settings.actions_timeout_seconds
        raise ToolNetworkError(f"timed out: no answer within {seconds:g} s") from None
    if not 200 <= result.status_code < 300:
        raise ToolNetworkError(f"{shown_url(url)} answered HTTP {result.status_code}")
    if result.truncated:
        raise ToolNetworkError(f"{shown_url(url)} is larger than {cap} bytes")
    return result.content
