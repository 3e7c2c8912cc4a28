"""The pages over httpx and the ASGI app: rendering, escaping, headers, the cookie session and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import AccountService
from core.errors import AppError
from store.models import GptVersion, Rating
from tests.asgi import app_client_for
from tests.factories import create_user
from tests.store.factories import create_conversation, create_published_gpt
from web.security import CONTENT_SECURITY_POLICY
from web.session import CSRF_COOKIE, SESSION_COOKIE

XSS = "<img src=x onerror=alert(1)>"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PASSWORD = "correct horse battery"


async def csrf(client: httpx.AsyncClient, path: str = "/login") -> str:
    """The CSRF token a browser gets with a page (the cookie; the page's forms carry the same value)."""
    response = await client.get(path, headers=HTML)
    assert response.status_code == 200
    token = client.cookies.get(CSRF_COOKIE)
    assert token and f'name="csrf_token" value="{token}"' in response.text
    return token


async def log_in(client: httpx.AsyncClient, email: str) -> None:
    token = await csrf(client)
    form = {"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"}
    response = await client.post("/login", data=form, headers=HTML)
    assert response.status_code == 303, response.text
    assert client.cookies.get(SESSION_COOKIE)


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}=")]


async def test_home_lists_gpts_as_cards_with_strict_security_headers(client, session, creator):
    await create_published_gpt(session, creator, name="Fjord Guide", conversations=1234)
    response = await client.get("/", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert "Fjord Guide" in page and ">FG<" in page  # the card, with initials for the icon
    assert "Plans fjord trips." in page and "Test User" in page
    assert 'action="/search"' in page  # the search box works without JavaScript
    assert "Lifestyle" in page  # categories
    assert "<script>" not in page and " style=" not in page and "onclick" not in page  # nothing inline


async def test_user_text_is_escaped_on_every_store_page(client, session, settings):
    owner = await create_user(session, settings, display_name=XSS)
    listing = await create_published_gpt(session, owner, name=XSS, description=XSS)
    paths = ["/", "/search?sort=new", f"/g/{listing.gpt_id}", f"/creators/{owner.handle}"]
    for path in paths:
        response = await client.get(path, headers=HTML)
        assert response.status_code == 200, path
        assert XSS not in response.text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text, path


async def test_gpt_page_shows_starters_distribution_reviews_with_replies(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    reader = await create_user(session, settings, display_name="Reader")
    await create_conversation(session, reader, listing.gpt_id)
    rating = Rating(gpt_id=listing.gpt_id, user_id=reader.id, stars=4, review="Good trip plans")
    rating.reply, rating.replied_at = "Thanks!", datetime.now(UTC)
    session.add(rating)
    listing.rating_distribution = [0, 0, 0, 1, 0]
    listing.rating_count, listing.rating_sum = 1, 4
    await session.commit()
    response = await client.get(f"/g/{listing.gpt_id}", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "Plans fjord trips." in page
    assert "Start chat" in page and f'action="/g/{listing.gpt_id}/chat"' in page
    assert "Good trip plans" in page and "Thanks!" in page and "Reader" in page
    assert re.search(r'<meter min="0" max="1" value="1">', page)  # the 4-star row of the distribution
    assert f'href="/creators/{creator.handle}"' in page


async def test_more_results_follow_the_api_cursor(client, session, creator):
    for n in range(26):
        await create_published_gpt(session, creator, name=f"Guide {n:02d}")
    first = await client.get("/search?sort=new", headers=HTML)
    assert first.status_code == 200
    more = re.search(r'href="(/search\?[^"]*cursor=[^"]+)"', first.text)
    assert more, "a 'More results' link with the next cursor"
    second = await client.get(more.group(1).replace("&amp;", "&"), headers=HTML)
    names = lambda html: set(re.findall(r"Guide \d\d", html))  # noqa: E731
    assert len(names(first.text)) == 24 and len(names(second.text)) == 2
    assert names(first.text).isdisjoint(names(second.text))


async def test_an_empty_category_offers_every_category(client, session, creator):
    """No GPT in the category: the page says which category was empty and links the search without it."""
    await create_published_gpt(session, creator, name="Fjord Guide")  # a lifestyle GPT, not research
    page = (await client.get("/search?category=research&q=fjord&sort=new", headers=HTML)).text
    assert "No GPTs found in Research." in page
    assert 'href="/search?q=fjord&amp;sort=new" id="clear-category">Search every category' in page
    browse = (await client.get("/search?category=research&sort=top", headers=HTML)).text
    assert 'href="/search?sort=top" id="clear-category">See every category' in browse


async def test_signup_sets_an_httponly_samesite_session_cookie(client):
    token = await csrf(client, "/signup")
    form = {"email": "new@example.com", "password": PASSWORD, "display_name": "New", "csrf_token": token}
    response = await client.post("/signup", data=form, headers=HTML)
    assert response.status_code == 303 and response.headers["location"] == "/"
    (cookie,) = set_cookie_headers(response, SESSION_COOKIE)
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # plain http on loopback
    home = await client.get("/", headers=HTML)
    assert "Log out" in home.text and "New" in home.text


async def test_session_cookie_is_secure_over_https(settings, db, redis):
    async with app_client_for(settings, db=db, redis=redis, base_url="https://testserver") as client:
        first = await client.get("/signup", headers=HTML)
        (csrf_cookie,) = set_cookie_headers(first, CSRF_COOKIE)
        token = client.cookies.get(CSRF_COOKIE)
        form = {"email": "tls@example.com", "password": PASSWORD, "display_name": "TLS", "csrf_token": token}
        response = await client.post("/signup", data=form, headers=HTML)
        (cookie,) = set_cookie_headers(response, SESSION_COOKIE)
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}
        assert "secure" in csrf_cookie.lower()


async def test_state_changing_pages_refuse_a_missing_or_wrong_csrf_token(client, session, creator):
    await csrf(client)
    form = {"email": creator.email, "password": PASSWORD}
    refused = await client.post("/login", data=form, headers=HTML)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "security token" in refused.text
    wrong = await client.post("/login", data={**form, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert not wrong.cookies.get(SESSION_COOKIE)
    # The header form, as htmx and app.js send it, is accepted.
    token = client.cookies.get(CSRF_COOKIE)
    accepted = await client.post("/login", data=form, headers={**HTML, "X-CSRF-Token": token})
    assert accepted.status_code == 303


async def test_forms_show_the_api_field_errors_and_keep_values(client):
    token = await csrf(client, "/signup")
    form = {"email": "not-an-email", "password": "short", "display_name": XSS, "csrf_token": token}
    response = await client.post("/signup", data=form, headers=HTML)
    assert response.status_code == 422
    assert 'id="e-email"' in response.text and 'id="e-password"' in response.text
    assert 'value="&lt;img src=x onerror=alert(1)&gt;"' in response.text  # kept, escaped
    assert "short" not in response.text  # passwords are never echoed
    form = {"email": "nobody@example.com", "password": "whatever1", "csrf_token": token}
    bad_login = await client.post("/login", data=form, headers=HTML)
    assert bad_login.status_code == 401 and "Incorrect email or password" in bad_login.text


async def test_logout_clears_the_session(client, creator):
    await log_in(client, creator.email)
    for path in ("/account", "/", "/creator"):  # Back after logging out must not show them from a cache
        assert (await client.get(path, headers=HTML)).headers["cache-control"] == "no-store", path
    token = client.cookies.get(CSRF_COOKIE)
    response = await client.post("/logout", data={"csrf_token": token}, headers=HTML)
    assert response.status_code == 303
    (cookie,) = set_cookie_headers(response, SESSION_COOKIE)
    assert "max-age=0" in cookie.lower()
    client.cookies.delete(SESSION_COOKIE)
    signed_out = await client.get("/", headers=HTML)
    assert "Log in" in signed_out.text and "cache-control" not in signed_out.headers


async def test_login_never_redirects_off_site(client, creator):
    token = await csrf(client)
    form = {"email": creator.email, "password": PASSWORD, "csrf_token": token, "next": "//evil.example/"}
    response = await client.post("/login", data=form, headers=HTML)
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize("path", ["/no/such/page", "/g/00000000-0000-0000-0000-000000000000"])
async def test_errors_are_pages_for_browsers_and_problems_for_the_api(client, path):
    page = await client.get(path, headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "gptstore" in page.text and "404" in page.text
    assert len(set_cookie_headers(page, CSRF_COOKIE)) == 1  # the page's log-out form has its token
    api = await client.get("/api/store/gpts/00000000-0000-0000-0000-000000000000", headers=HTML)
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    plain = await client.get(path)
    assert plain.headers["content-type"].startswith("application/problem+json")


async def test_the_json_api_keeps_bearer_tokens_and_ignores_the_cookie(client, session, creator):
    login = await client.post("/api/auth/login", json={"email": creator.email, "password": PASSWORD})
    assert login.status_code == 200  # no CSRF token needed: bearer clients are not browsers
    await log_in(client, creator.email)
    # A cookie alone is no API credential: the owner's GPT page over the API shows no instructions to it.
    # (Asked of a route with an optional user: a 401 from a failing dependency leaks the request's database
    # session in Litestar until garbage collection, which breaks the next test's connection; see the report.)
    listing = await create_published_gpt(session, creator)
    api_page = (await client.get(f"/api/store/gpts/{listing.gpt_id}")).json()
    assert api_page["instructions"] is None
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get(f"/api/store/gpts/{listing.gpt_id}", headers=bearer)).json()["instructions"]


async def test_chat_without_javascript_and_streamed(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, settings)
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    start = await client.post(f"/g/{listing.gpt_id}/chat", data={"csrf_token": token}, headers=HTML)
    assert start.status_code == 303
    chat_path = start.headers["location"]
    chat = await client.get(chat_path, headers=HTML)
    assert chat.status_code == 200 and chat.headers["content-type"].startswith("text/html")
    assert "Fjord Guide" in chat.text and "data-stream-chat" in chat.text
    sent = await client.post(
        f"{chat_path}/messages", data={"content": "Which fjord?", "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303
    page = (await client.get(chat_path, headers=HTML)).text
    assert "Which fjord?" in page and page.count('class="message assistant"') == 1
    streamed = await client.post(
        f"{chat_path}/messages",
        data={"content": "And in June?"},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token},
    )
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: done" in streamed.text
    chats = await client.get("/chats", headers=HTML)
    assert "Which fjord?" in chats.text  # the conversation's title


async def test_chats_need_a_session_and_are_the_users_own(client, session, creator, settings):
    assert (await client.get("/chats", headers=HTML)).headers["location"] == "/login?next=/chats"
    listing = await create_published_gpt(session, creator)
    other = await create_user(session, settings)
    conversation = await create_conversation(session, other, listing.gpt_id)
    await log_in(client, creator.email)
    assert (await client.get(f"/chats/{conversation.id}", headers=HTML)).status_code == 404


async def test_builder_creates_a_draft_and_shows_field_errors(client, session, creator, settings):
    free = await create_user(session, settings, plan="free")
    await log_in(client, free.email)
    token = client.cookies.get(CSRF_COOKIE)
    refused = await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)
    assert refused.status_code == 403 and "plus" in refused.text
    # the list offers a free plan no Create or Import that would end on that 403 page, only the way out
    mine = (await client.get("/builder", headers=HTML)).text
    assert "Creating GPTs needs the" in mine and "an administrator can give it to you" in mine
    assert 'action="/builder/new"' not in mine and 'action="/builder/import"' not in mine
    free.is_admin = True
    await session.commit()
    assert (
        f'href="/admin/users?q={free.email.replace("@", "%40")}"'
        in (await client.get("/builder", headers=HTML)).text
    )
    client.cookies.clear()
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    created = await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)
    assert created.status_code == 303
    path = created.headers["location"]
    form = {
        "csrf_token": token,
        "name": "Trail Buddy",
        "description": "Hikes",
        "instructions": "",
        "welcome_message": "",
        "conversation_starters": ["Where to hike?", "What to pack?"],
        "category": "lifestyle",
        "tags": "outdoors, hiking",
        "language": "not a language",
    }
    invalid = await client.post(path, data=form, headers=HTML)
    assert invalid.status_code == 422
    assert 'id="e-language"' in invalid.text and 'value="Trail Buddy"' in invalid.text
    saved = await client.post(path, data={**form, "language": "en"}, headers=HTML)
    assert saved.status_code == 303
    page = (await client.get(saved.headers["location"], headers=HTML)).text
    assert "Saved." in page and "What to pack?" in page and "outdoors, hiking" in page
    listed = (await client.get("/builder", headers=HTML)).text
    assert "Trail Buddy" in listed


async def test_the_configure_form_keeps_a_long_language_tag_and_tells_the_rule_of_a_wrong_one(
    client, creator
):
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    path = (await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)).headers["location"]
    form = {"csrf_token": token, "name": "Taipei Guide", "category": "lifestyle", "language": "klingon"}
    invalid = await client.post(path, data=form, headers=HTML)
    assert invalid.status_code == 422
    assert "must be an ISO 639-1 language code, optionally with a script or region" in invalid.text
    assert "[aA][aA]" not in invalid.text
    saved = await client.post(path, data={**form, "language": "zh-Hant-TW"}, headers=HTML)
    assert saved.status_code == 303
    assert 'value="zh-Hant-TW"' in (await client.get(saved.headers["location"], headers=HTML)).text


async def test_static_assets_ship_with_the_package(client):
    for name in ("app.css", "app.js", "htmx.min.js"):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 500, name


async def test_service_split_serves_its_own_pages(settings, db, redis, session: AsyncSession):
    async with app_client_for(settings, db=db, redis=redis, service="builder") as client:
        assert (await client.get("/", headers=HTML)).headers["location"] == "/builder"
        assert (await client.get("/search", headers=HTML)).status_code == 404
        assert (await client.get("/login", headers=HTML)).status_code == 200
    async with app_client_for(settings, db=db, redis=redis, service="store") as client:
        assert (await client.get("/", headers=HTML)).status_code == 200
        assert (await client.get("/builder", headers=HTML)).status_code == 404


async def test_rating_needs_a_chat_and_shows_the_api_reasons_at_the_form(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    reader = await create_user(session, settings, display_name="Reader")
    await log_in(client, reader.email)
    token = client.cookies.get(CSRF_COOKIE)
    path = f"/g/{listing.gpt_id}"
    refused = await client.post(f"{path}/rating", data={"stars": "5", "csrf_token": token}, headers=HTML)
    assert refused.status_code == 403 and "Only users who chatted" in refused.text
    await create_conversation(session, reader, listing.gpt_id)
    invalid = await client.post(f"{path}/rating", data={"stars": "9", "csrf_token": token}, headers=HTML)
    assert invalid.status_code == 422 and 'id="e-rating-stars"' in invalid.text
    form = {"stars": "5", "review": "Loved the " + XSS, "csrf_token": token}
    rated = await client.post(f"{path}/rating", data=form, headers=HTML)
    assert rated.status_code == 303
    page = (await client.get(path, headers=HTML)).text
    assert "Change your rating (5 ★)" in page and "Loved the &lt;img" in page and XSS not in page


async def test_report_once_from_the_gpt_page(client, session, creator, settings):
    listing = await create_published_gpt(session, creator)
    reader = await create_user(session, settings)
    await log_in(client, reader.email)
    token = client.cookies.get(CSRF_COOKIE)
    path = f"/g/{listing.gpt_id}"
    form = {"reason": "spam", "details": "Adverts", "csrf_token": token}
    sent = await client.post(f"{path}/report", data=form, headers=HTML)
    assert sent.status_code == 303
    assert "your report was sent" in (await client.get(sent.headers["location"], headers=HTML)).text
    again = await client.post(f"{path}/report", data=form, headers=HTML)
    assert again.status_code == 409 and "already have an open report" in again.text
    bad = await client.post(f"{path}/report", data={**form, "reason": "boring"}, headers=HTML)
    assert bad.status_code == 422 and "Reason must be one of:" in bad.text


async def test_account_profile_plan_and_api_keys(client, session, settings):
    taken = await create_user(session, settings, display_name="Taken Handle")
    user = await create_user(session, settings, display_name="Owner", plan="free")
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    page = (await client.get("/account", headers=HTML)).text
    assert "Your plan is <strong>free</strong>" in page and "gptstore users set-plan" in page
    # a profile without a website or bio: its fields are empty, not "None" (the form could not be saved)
    assert 'name="website" type="url" value=""' in page and ">None<" not in page and '"None"' not in page
    form = {"display_name": "Owner", "handle": taken.handle, "website": "ftp://x", "bio": ""}
    form["csrf_token"] = token
    invalid = await client.post("/account/profile", data=form, headers=HTML)
    assert invalid.status_code == 422 and 'id="e-website"' in invalid.text
    conflict = await client.post("/account/profile", data={**form, "website": ""}, headers=HTML)
    assert conflict.status_code == 409 and 'id="e-handle"' in conflict.text
    form.update(handle="owner-new", website="https://example.com")
    saved = await client.post("/account/profile", data=form, headers=HTML)
    assert saved.status_code == 303
    assert "https://example.com" in (await client.get("/creators/owner-new", headers=HTML)).text

    form = {"name": "laptop", "csrf_token": token}
    posted = await client.post("/account/api-keys", data=form, headers=HTML)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/account?once=")
    created = await client.get(posted.headers["location"], headers=HTML)
    key = re.search(r'value="(gsk_[^"]+)"', created.text).group(1)
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert key not in (await client.get("/account", headers=HTML)).text  # shown once
    reloaded = await client.get(posted.headers["location"], headers=HTML)  # a reload: no key, none made
    assert (
        key not in reloaded.text
        and len(re.findall(r"/account/api-keys/[0-9a-f-]{36}/revoke", reloaded.text)) == 1
    )
    key_id = re.search(r'action="/account/api-keys/([0-9a-f-]{36})/revoke"', created.text).group(1)
    revoke = f"/account/api-keys/{key_id}/revoke"
    revoked = await client.post(revoke, data={"csrf_token": token}, headers=HTML)
    assert revoked.status_code == 303
    with pytest.raises(AppError):  # revoked (not over HTTP: see the note on 401s above)
        await AccountService(session, settings).user_for_credential(key)


async def test_creator_sees_the_dashboard_and_replies_once_to_a_review(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide", conversations=7)
    reader = await create_user(session, settings, display_name="Reader")
    await create_conversation(session, reader, listing.gpt_id)
    rating = Rating(gpt_id=listing.gpt_id, user_id=reader.id, stars=3, review="Too short")
    session.add(rating)
    await session.commit()
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    board = await client.get("/creator", headers=HTML)
    assert board.status_code == 200
    assert re.search(
        r'Fjord Guide</a></th>\s*<td data-label="Visibility">public</td>'
        r'\s*<td data-label="Review">approved</td>',
        board.text,
    )
    assert '<td class="num" data-label="Conversations">7</td>' in board.text
    path = f"/g/{listing.gpt_id}/reviews/{rating.id}/reply"
    assert f'action="{path}"' in (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    replied = await client.post(path, data={"text": "Longer now", "csrf_token": token}, headers=HTML)
    assert replied.status_code == 303
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert "Longer now" in page and f'action="{path}"' not in page
    again = await client.post(path, data={"text": "Again", "csrf_token": token}, headers=HTML)
    assert again.status_code == 409 and "You already replied to this review" in again.text


async def test_counts_take_their_noun_in_the_singular_or_plural(client, session, creator):
    from core.text import counted

    assert [counted(n, "passage") for n in (0, 1, 2, 1200)] == [
        "0 passages",
        "1 passage",
        "2 passages",
        "1,200 passages",
    ]
    listing = await create_published_gpt(session, creator, name="Quiet Guide")
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert "No ratings" in page and "from 0 ratings" not in page


async def test_a_chat_with_a_gpt_no_longer_available_reads_without_a_composer(
    client, session, creator, settings
):
    """ "My chats" linked to it and its page was a 404 "No such GPT", while the API still returned the
    history: the page reads it as the API does, says why, and offers nothing to send."""
    listing = await create_published_gpt(session, creator, name="Gone Guide")
    reader = await create_user(session, settings)
    conversation = await create_conversation(session, reader, listing.gpt_id)
    listing.visibility, listing.listed = "private", False  # the creator made it private
    await session.commit()
    await log_in(client, reader.email)
    assert f"/chats/{conversation.id}" in (await client.get("/chats", headers=HTML)).text
    page = await client.get(f"/chats/{conversation.id}", headers=HTML)
    assert page.status_code == 200 and 'id="unavailable"' in page.text
    assert 'class="composer"' not in page.text and "Gone Guide" not in page.text


async def test_an_error_page_keeps_a_signed_in_users_menu(client, creator):
    """An error page reads no user row (it may be the database that failed): with the session cookie
    it still offers the signed-in menu and its log-out form, not "Log in" and "Sign up"."""
    await log_in(client, creator.email)
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert 'href="/builder"' in page.text and 'action="/logout"' in page.text
    assert 'href="/creator/datasets"' in page.text and 'href="/organizations"' in page.text  # as every page
    assert 'href="/signup"' not in page.text


async def test_a_starter_on_the_gpt_page_starts_a_chat_with_it_in_the_message_box(
    client, session, creator, settings
):
    """The GPT page's conversation starters were a plain list that did nothing when clicked."""
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    version = await session.scalar(sa.select(GptVersion).where(GptVersion.gpt_id == listing.gpt_id))
    version.config = {**version.config, "conversation_starters": ["Best fjord in May?", "What to pack?"]}
    await session.flush()
    user = await create_user(session, settings)
    await log_in(client, user.email)
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert '<button type="submit" class="secondary" name="starter" value="1">What to pack?</button>' in page
    token = client.cookies.get(CSRF_COOKIE)
    start = await client.post(f"/g/{listing.gpt_id}/chat", data={"csrf_token": token, "starter": "1"})
    assert start.status_code == 303 and start.headers["location"].endswith("?starter=1")
    chat = (await client.get(start.headers["location"], headers=HTML)).text
    assert re.search(r"<textarea [^>]*autofocus>What to pack\?</textarea>", chat)
    chat_path = start.headers["location"].split("?")[0]
    assert "</textarea>" in (await client.get(f"{chat_path}?starter=7", headers=HTML)).text  # none: empty
    refused = await client.get(f"{chat_path}?starter=x", headers=HTML)
    assert refused.status_code == 303 and refused.headers["location"] == chat_path
