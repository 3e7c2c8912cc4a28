"""Security headers of every page: a strict Content-Security-Policy, no framing, no sniffing.

The policy allows only this origin's scripts, styles, images and connections; there are no inline scripts
or styles anywhere in the templates (htmx's own indicator style is switched off in `base.html`). Every page
refuses to be framed except the embedded chat (`web/embed_routes.py`), whose policy names the GPT's
allowed origins in `frame-ancestors`.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send

from web.session import minted_csrf_cookie

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


# Set by the one page that may be framed (`/embed/{gpt_id}`, with its own `frame-ancestors`); never sent.
FRAMEABLE_HEADER = b"x-gptstore-frameable"


def page_headers() -> dict[str, str]:
    return dict(PAGE_HEADERS)


def page_security(app: ASGIApp) -> ASGIApp:
    """Add the page headers, and the CSRF cookie when the page minted a token, to every page response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                if FRAMEABLE_HEADER in present:  # the embedded chat: its own CSP names who may frame it
                    headers = [(n, v) for n, v in headers if n.lower() != FRAMEABLE_HEADER]
                    present.add(b"x-frame-options")
                for name, value in PAGE_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                cookie = minted_csrf_cookie(ASGIConnection(scope))
                if cookie is not None:
                    headers.append(cookie.to_encoded_header())
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_wrapper)

    return middleware
