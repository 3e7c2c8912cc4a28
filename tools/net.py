"""SSRF-safe HTTP for GPT tools (issue #12; rules in docs/tools-safety.md).

Every connection an action, an OAuth token request, an OpenAPI import or the MCP client makes goes through
`GuardedBackend`: it resolves the host once, refuses the call unless every address it resolves to is public
(loopback, private, link-local, shared, multicast, unspecified, reserved and cloud-metadata addresses are
refused, also inside IPv4-mapped, IPv4-compatible, 6to4, Teredo and NAT64 IPv6 addresses), and connects to
the address it checked, so DNS cannot answer differently between the check and the connection. The Host
header and TLS SNI keep the name. Redirects are followed by `tools.fetch.request` (at most
`actions_max_redirects`, same host unless listed; any host the web import's robots.txt check lets through,
`retrieval.web_import`), and each new connection is checked again.

IP literals in every form a resolver accepts (`2130706433`, `0177.0.0.1`, `127.1`, `0x7f.1`, `[::1]`,
`[::ffff:127.0.0.1]`) are read as the address they denote (`socket.inet_aton` rules) before anything else;
which addresses are public is `tools.addresses`.

No maintained library fitted: the httpx wrappers on PyPI (drawbridge, egressweave) are 0.1 releases for
httpx 1, and `advocate` is for requests; the mcp SDK needs an `httpx2.AsyncClient`, so the guard sits in
httpcore2's network backend, where both the actions and the MCP client use it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpcore2
import httpx2

from core.settings import Settings
from tools.addresses import IPAddress, address_kind, blocked_addresses, parse_ip_literal
from tools.headers import header_value_problem

Caller = Literal["tools", "web_import"]


@cache
def refusal_words(caller: Caller) -> dict[str, str]:
    """How refusals are worded for `caller` (tools/data/refusals.toml): `public_only`, `schemes`,
    `unix_sockets`."""
    import tomllib

    return tomllib.loads(resources.files("tools").joinpath("data/refusals.toml").read_text())[caller]


# What a failed request is called, by the kind of httpx2 error (most specific first): the library's own
# text may quote the request, its headers and so its credentials (`Illegal header value b'Bearer ...'`).
FAILURE_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (httpx2.ConnectError, "the connection failed"),
    (httpx2.ReadError, "the connection broke while reading the answer"),
    (httpx2.WriteError, "the connection broke while sending the request"),
    (httpx2.CloseError, "the connection broke while closing"),
    (httpx2.RemoteProtocolError, "the server's answer is not valid HTTP"),
    (httpx2.LocalProtocolError, "the request could not be sent as valid HTTP"),
    (httpx2.UnsupportedProtocol, "the URL's protocol is not supported"),
    (httpx2.NetworkError, "a network error occurred"),
    (httpx2.ProtocolError, "an HTTP protocol error occurred"),
)


class ToolNetworkError(Exception):
    """A call that could not be made or finished; `str()` is a sentence for the model and the user."""


class RefusedRequest(ToolNetworkError):
    """Refused by the SSRF rules (address, scheme, redirect) before any byte was sent there."""


class _RedactedUrls(logging.Filter):
    """httpx2 logs every request's URL at INFO: keep scheme, host and path, never the query (an action's
    API key may be a query parameter) or user info."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{a.scheme}://{a.host}{f':{a.port}' if a.port else ''}{a.path}"
                if isinstance(a, httpx2.URL)
                else a
                for a in record.args
            )
        return True


if not any(isinstance(f, _RedactedUrls) for f in logging.getLogger("httpx2").filters):
    logging.getLogger("httpx2").addFilter(_RedactedUrls())


class HostPolicy:
    """Which hosts and addresses may be reached under `settings` (GPTSTORE_ACTIONS_ALLOWED_HOSTS,
    GPTSTORE_ACTIONS_ALLOW_PRIVATE_NETWORKS); cloud metadata, multicast and unspecified never."""

    def __init__(self, settings: Settings, caller: Caller = "tools"):
        self.words = refusal_words(caller)
        self.allow_private = settings.actions_allow_private_networks
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in settings.actions_allowed_hosts:
            entry = entry.strip().lower().rstrip(".")
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry)

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """The reason `ip` (an address of `host`) may not be reached, or None."""
        kind = address_kind(ip)
        if kind is None:
            return None
        if kind not in blocked_addresses()["always_refused_kinds"]:
            name = host.lower().strip("[]").rstrip(".")
            if self.allow_private or name in self.names or any(ip in n for n in self.networks):
                return None
        if parse_ip_literal(host) is None:
            shown = f"{host} resolves to {ip}, which"
        else:
            shown = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
        article = "an" if kind[0] in "aeiou" else "a"
        return f"refused: {shown} is {article} {kind} address; {self.words['public_only']}"

    def check_name(self, host: str) -> None:
        """Refuse known cloud-metadata host names and IP literals that are not allowed (no DNS needed)."""
        name = host.lower().strip("[]").rstrip(".")
        if name in blocked_addresses()["metadata_hostnames"]:
            raise RefusedRequest(f"refused: {host} is a cloud metadata host")
        literal = parse_ip_literal(name)
        if literal is not None and (reason := self.refusal(host, literal)):
            raise RefusedRequest(reason)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses of `host`: all of them allowed, or `RefusedRequest`."""
        self.check_name(host)
        literal = parse_ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            infos = await anyio.getaddrinfo(host.rstrip(".") or host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ToolNetworkError(f"could not resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
        for ip in addresses:
            if reason := self.refusal(host, ip):
                raise RefusedRequest(reason)
        if not addresses:
            raise ToolNetworkError(f"could not resolve {host}")
        return addresses


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2 network backend that connects only to checked addresses (see the module docstring)."""

    def __init__(self, policy: HostPolicy):
        self.policy = policy
        self.backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self.backend.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout=None, socket_options=None):  # noqa: ASYNC109
        raise RefusedRequest(f"refused: {self.policy.words['unix_sockets']}")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """`httpx2.AsyncHTTPTransport` whose connection pool uses `GuardedBackend` and never a proxy."""

    def __init__(self, settings: Settings, caller: Caller = "tools", **kwargs: Any):
        super().__init__(trust_env=False, **kwargs)
        ssl_context = httpx2.create_ssl_context(trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=20,
            max_keepalive_connections=5,
            network_backend=GuardedBackend(HostPolicy(settings, caller)),
        )


def timeout_of(settings: Settings) -> httpx2.Timeout:
    """Connect within `actions_connect_timeout_seconds`; no single phase past `actions_timeout_seconds`."""
    return httpx2.Timeout(settings.actions_timeout_seconds, connect=settings.actions_connect_timeout_seconds)


def guarded_client(
    settings: Settings, *, headers: Mapping[str, str] | None = None, caller: Caller = "tools"
) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` that reaches only allowed addresses (refusals worded for `caller`); it
    follows no redirects itself and reads no proxy or `.netrc` from the environment. `ToolNetworkError`
    (naming the header, never its value) for a header HTTP cannot carry."""
    check_headers(headers)
    return httpx2.AsyncClient(
        transport=GuardedTransport(settings, caller),
        timeout=timeout_of(settings),
        follow_redirects=False,
        trust_env=False,
        headers=dict(headers or {}),
    )


def check_headers(headers: Mapping[str, str] | None) -> None:
    """`ToolNetworkError` naming the first header whose value HTTP cannot carry (a line break, a control
    character, not ASCII): said without the value, which is often a credential."""
    for name, value in (headers or {}).items():
        if isinstance(value, str) and (problem := header_value_problem(value)):
            raise ToolNetworkError(f"the request header {name!r} cannot be sent: its value {problem}")


def describe_failure(exc: Exception) -> str:
    """The kind of a failed request (`the connection failed`, ...) without the library's text."""
    return next((kind for cls, kind in FAILURE_KINDS if isinstance(exc, cls)), "the request failed")


def shown_url(url: str) -> str:
    """`url` as error texts show it: without user info and query (where an API key may be)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def check_url(settings: Settings, url: str, caller: Caller = "tools") -> str:
    """The URL's host, after refusing what is not http(s), has no host, or names a refused address
    (`RefusedRequest` worded for `caller`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "no"
        shown = shown_url(url)
        words = refusal_words(caller)["schemes"]
        raise RefusedRequest(f"refused: {scheme} scheme in {shown!r}; {words}")
    if not parts.hostname:
        raise RefusedRequest(f"refused: {shown_url(url)!r} has no host")
    HostPolicy(settings, caller).check_name(parts.hostname)
    return parts.hostname.lower().rstrip(".")
