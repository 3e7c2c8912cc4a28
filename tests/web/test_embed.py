"""The embedded chat over httpx: the snippet and allowed origins, the frameable window, anonymous sessions
scoped to one GPT, answers through the store chat's path, and the per-visitor, per-GPT and per-address
limits (docs/embed.md)."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest

from core.auth import AccountService
from store import usage
from store.embed import web_origin
from store.models import Conversation
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, csrf, log_in

TOKEN = re.compile(r'<meta name="embed-token" content="([^"]+)">')


async def open_window(client: httpx.AsyncClient, gpt_id: uuid.UUID) -> tuple[httpx.Response, str]:
    response = await client.get(f"/embed/{gpt_id}", headers=HTML)
    match = TOKEN.search(response.text)
    return response, match.group(1) if match else ""


async def ask(client: httpx.AsyncClient, gpt_id: uuid.UUID, token: str, content: str) -> httpx.Response:
    return await client.post(
        f"/api/embed/{gpt_id}/messages",
        json={"content": content},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("https://example.com", "https://example.com"),
        ("HTTPS://Example.COM:443/", "https://example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://*.example.org", "https://*.example.org"),
        ("https://bücher.de", "https://xn--bcher-kva.de"),
        ("http://127.0.0.2:8897", "http://127.0.0.2:8897"),
    ],
)
def test_origins_are_normalised_as_csp_takes_them(typed, origin):
    assert web_origin(typed) == origin


@pytest.mark.parametrize(
    "bad",
    [
        "example.com",
        "javascript:alert(1)",
        "https://example.com/page",
        "https://example.com?q=1",
        "https://user:pw@example.com",
        "https://example.com; script-src *",
        "https://exa mple.com",
        "https://example.com:99999",
        "ftp://example.com",
        "https://'self'",
        "*",
        "http://[zzz]:80",
        "http://[::1]x",
        "http://[::1",
        "https://a..b",
        "https://-a.example",
    ],
)
def test_anything_but_an_origin_is_refused(bad):
    with pytest.raises(ValueError):
        web_origin(bad)


@pytest.mark.parametrize(
    "ipv4", ["http://2130706433", "http://0x7f000001", "http://127.1", "http://0x7f.1", "http://127.000.0.1"]
)
def test_an_ipv4_address_is_taken_only_as_four_decimal_numbers(ipv4):
    """A browser reads these as 127.0.0.1, so a CSP entry as typed would never match."""
    with pytest.raises(ValueError, match="four decimal numbers"):
        web_origin(ipv4)


@pytest.mark.parametrize("ipv6", ["http://[::1]:3000", "https://[2001:db8::1]", "https://[::ffff:1.2.3.4]"])
def test_an_ipv6_address_is_refused_as_csp_cannot_name_it(ipv6):
    with pytest.raises(ValueError, match="IPv6 address cannot be allowed"):
        web_origin(ipv6)


async def test_the_owner_gets_the_snippet_and_sets_allowed_origins(client, session, settings, creator):
    listing = await create_published_gpt(session, creator, visibility="link")
    url = f"/api/gpts/{listing.gpt_id}/embed"
    headers = auth_headers(creator, settings)
    read = (await client.get(url, headers=headers)).json()
    assert read["embeddable"] is True and read["visibility"] == "link"
    assert read["snippet"] == (
        f'<script src="http://testserver/static/embed.js" data-gpt="{listing.gpt_id}" async></script>'
    )
    assert read["allowed_origins"] == []

    body = {
        "allowed_origins": ["https://Shop.example.com/", "https://shop.example.com", "http://localhost:5000"]
    }
    saved = await client.put(url, json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["allowed_origins"] == ["https://shop.example.com", "http://localhost:5000"]

    refused = await client.put(
        url, json={"allowed_origins": ["https://ok.example", "https://x.com/path"]}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "allowed_origins.1"
    assert "path" in refused.json()["errors"][0]["message"]
    assert (await client.get(url, headers=headers)).json()["allowed_origins"] == saved.json()[
        "allowed_origins"
    ]

    other = await create_user(session, settings)
    assert (await client.get(url, headers=auth_headers(other, settings))).status_code == 404
    assert (await client.get(url)).status_code == 401


async def test_a_private_gpt_has_no_snippet_and_no_chat_window(client, session, settings, creator):
    listing = await create_published_gpt(session, creator, visibility="private")
    read = (
        await client.get(f"/api/gpts/{listing.gpt_id}/embed", headers=auth_headers(creator, settings))
    ).json()
    assert read["embeddable"] is False and read["snippet"] is None
    for gpt_id in (listing.gpt_id, uuid.uuid4()):  # private, unknown: the same window, naming nothing
        response, token = await open_window(client, gpt_id)
        assert response.status_code == 404 and not token
        # Framed where the snippet still is, it says so rather than showing the browser's refused frame.
        assert "x-frame-options" not in response.headers
        assert "frame-ancestors *" in response.headers["content-security-policy"]
        assert "This chat is not available" in response.text and listing.name not in response.text


async def test_only_the_chat_window_may_be_framed_by_the_allowed_origins(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    response, token = await open_window(client, listing.gpt_id)
    assert response.status_code == 200 and token
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors *" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "x-frame-options" not in response.headers and "x-gptstore-frameable" not in response.headers
    assert "set-cookie" not in response.headers  # anonymous: no session, no CSRF cookie
    assert response.headers["cache-control"] == "no-store"  # the token is the visitor's own
    assert "<h1>Fjord Guide</h1>" in response.text and "/static/embed-frame.js" in response.text

    headers = auth_headers(creator, settings)
    origins = {"allowed_origins": ["https://shop.example.com", "http://127.0.0.1:5001"]}
    await client.put(f"/api/gpts/{listing.gpt_id}/embed", json=origins, headers=headers)
    response, _ = await open_window(client, listing.gpt_id)
    assert response.headers["content-security-policy"].endswith(
        "frame-ancestors https://shop.example.com http://127.0.0.1:5001"
    )
    for path in ("/", f"/g/{listing.gpt_id}", f"/g/{listing.gpt_id}/embed", "/login"):
        other = await client.get(path, headers=HTML)
        assert other.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in other.headers["content-security-policy"], path


async def test_a_visitor_chats_anonymously_with_follow_ups_counted_and_stored_nowhere(
    client, session, settings, creator, redis
):
    listing = await create_published_gpt(session, creator)
    _, token = await open_window(client, listing.gpt_id)
    first = await ask(client, listing.gpt_id, token, "Which fjord should I see in May?")
    assert first.status_code == 200, first.text
    assert first.json()["role"] == "assistant" and first.json()["content"]
    second = await ask(client, listing.gpt_id, token, "And in June?")
    assert second.status_code == 200

    conversations = await session.scalar(
        Conversation.__table__.select()
        .where(Conversation.gpt_id == listing.gpt_id)
        .with_only_columns(Conversation.id)
    )
    assert conversations is None  # the anonymous chat is nobody's conversation in PostgreSQL
    counted = await redis.hgetall(f"{usage.PREFIX}:{usage._today()}:{listing.gpt_id}")
    assert counted == {b"conversations": b"1", b"messages": b"2"}  # one visitor's chat, two answers
    history = await redis.keys("gptstore:embed:chat:*")
    assert len(history) == 1 and 0 < await redis.ttl(history[0]) <= settings.embed_token_minutes * 60
    assert await redis.llen(history[0]) == 4

    streamed = await client.post(
        f"/api/embed/{listing.gpt_id}/messages",
        json={"content": "Is it cold?"},
        headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: delta" in streamed.text and "event: done" in streamed.text


async def test_a_session_token_is_scoped_to_its_gpt_and_is_no_account_credential(
    client, session, settings, creator
):
    listing = await create_published_gpt(session, creator)
    other = await create_published_gpt(session, creator, name="Other Guide")
    _, token = await open_window(client, listing.gpt_id)
    assert (await ask(client, other.gpt_id, token, "hi")).status_code == 403
    assert (await ask(client, listing.gpt_id, "", "hi")).status_code == 401
    assert (await ask(client, listing.gpt_id, token[:-3] + "abc", "hi")).status_code == 401
    access, _ = AccountService(session, settings).issue_token(creator)
    assert (await ask(client, listing.gpt_id, access, "hi")).status_code == 401  # an account token is not one
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401

    _, again = await open_window(client, listing.gpt_id)
    assert again != token  # every window is a new visitor

    listing.visibility = "private"  # unpublished from the store: open windows stop answering
    await session.flush()
    gone = await ask(client, listing.gpt_id, token, "hi")
    assert gone.status_code == 404 and gone.json()["detail"].startswith("This chat is not available")


async def test_visitors_gpts_and_addresses_are_rate_limited(settings, db, redis, session, creator):
    limited = settings.model_copy(
        update={
            "embed_messages_per_visitor_per_minute": 2,
            "embed_messages_per_gpt_per_minute": 3,
            "embed_sessions_per_ip_per_hour": 3,
        }
    )
    listing = await create_published_gpt(session, creator)
    async with app_client_for(limited, db=db, redis=redis) as client:
        _, first = await open_window(client, listing.gpt_id)
        _, second = await open_window(client, listing.gpt_id)
        assert [(await ask(client, listing.gpt_id, first, f"q{i}")).status_code for i in range(3)] == [
            200,
            200,
            429,
        ]
        refused = await ask(client, listing.gpt_id, first, "again")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["detail"].startswith("Too many messages from this visitor: at most 2 per 60 s")
        # Another visitor still has their own allowance, until the GPT's shared one is spent.
        assert (await ask(client, listing.gpt_id, second, "q")).status_code == 200
        shared = await ask(client, listing.gpt_id, second, "q")
        assert shared.status_code == 429
        assert "Too many messages to this GPT from its embedded chats" in shared.json()["detail"]

        third, token = await open_window(client, listing.gpt_id)
        assert third.status_code == 200 and token
        window, token = await open_window(client, listing.gpt_id)
        assert window.status_code == 429 and not token  # the 4th window from one address this hour
        assert "frame-ancestors *" in window.headers["content-security-policy"]  # said inside the frame
        assert "Too many new chats from this address" in window.text and window.headers["retry-after"]


async def test_the_owner_sets_origins_with_a_form_and_sees_errors_at_the_field(
    client, session, settings, creator
):
    listing = await create_published_gpt(session, creator)
    await log_in(client, creator.email)
    page = await client.get(f"/g/{listing.gpt_id}", headers=HTML)
    assert f'href="/g/{listing.gpt_id}/embed"' in page.text  # the owner's way to the snippet
    token = await csrf(client, f"/g/{listing.gpt_id}/embed")
    form = {"csrf_token": token, "allowed_origins": "https://ok.example\nhttps://bad.example/path\n"}
    refused = await client.post(f"/g/{listing.gpt_id}/embed", data=form, headers=HTML)
    assert refused.status_code == 422
    assert 'id="e-origins"' in refused.text and "no path" in refused.text
    assert "https://bad.example/path" in refused.text  # what was typed comes back to be corrected

    form["allowed_origins"] = "https://ok.example\n\nhttps://shop.example:8443\n"
    saved = await client.post(f"/g/{listing.gpt_id}/embed", data=form, headers=HTML)
    assert saved.status_code == 303
    shown = await client.get(saved.headers["location"], headers=HTML)
    assert "Saved" in shown.text and "https://shop.example:8443" in shown.text
    snippet = f'<script src="http://testserver/static/embed.js" data-gpt="{listing.gpt_id}" async></script>'
    assert snippet in html.unescape(shown.text) and '<script src="http://testserver' not in shown.text

    no_token = await client.post(f"/g/{listing.gpt_id}/embed", data={"allowed_origins": ""}, headers=HTML)
    assert no_token.status_code == 403  # the settings form is CSRF-guarded like every other
