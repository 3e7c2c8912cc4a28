"""Log out revokes the token server-side (pages and API), and log-in is throttled per account and per IP."""

from __future__ import annotations

import pytest

from tests.asgi import app_client_for
from tests.factories import create_user
from tests.web.test_pages import HTML, PASSWORD, csrf, log_in
from web.session import CSRF_COOKIE, SESSION_COOKIE


async def test_page_logout_revokes_the_session_token(client, creator):
    await log_in(client, creator.email)
    token = client.cookies.get(SESSION_COOKIE)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/me", headers=bearer)).status_code == 200
    out = await client.post("/logout", data={"csrf_token": client.cookies.get(CSRF_COOKIE)}, headers=HTML)
    assert out.status_code == 303
    refused = await client.get("/api/me", headers=bearer)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    client.cookies.set(SESSION_COOKIE, token)  # a copy of the cookie kept from before log-out
    assert "Log in" in (await client.get("/", headers=HTML)).text
    assert (await client.get("/account", headers=HTML)).status_code == 303  # to the log-in page


async def test_api_logout_revokes_only_that_token(client, creator):
    tokens = []
    for _ in range(2):
        response = await client.post("/api/auth/login", json={"email": creator.email, "password": PASSWORD})
        tokens.append(response.json()["access_token"])
    assert tokens[0] != tokens[1]  # issued in the same second, still two tokens
    first, second = ({"Authorization": f"Bearer {t}"} for t in tokens)
    assert (await client.post("/api/auth/logout", headers=first)).status_code == 204
    assert (await client.get("/api/me", headers=first)).status_code == 401
    assert (await client.post("/api/auth/logout", headers=first)).status_code == 401
    assert (await client.get("/api/me", headers=second)).status_code == 200
    assert (await client.post("/api/auth/logout")).status_code == 401


async def test_api_logout_with_an_api_key_names_the_way_to_revoke_it(client, creator, settings):
    from tests.factories import auth_headers

    created = await client.post(
        "/api/me/api-keys", json={"name": "ci"}, headers=auth_headers(creator, settings)
    )
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    refused = await client.post("/api/auth/logout", headers=key)
    assert refused.status_code == 422 and "DELETE /api/me/api-keys" in refused.json()["detail"]
    assert (await client.get("/api/me", headers=key)).status_code == 200


@pytest.fixture
async def strict_client(settings, db, redis):
    """The app with small log-in limits: 3 failures per account, 5 per IP, in a 15-minute window."""
    strict = settings.model_copy(update={"login_failures_per_account": 3, "login_failures_per_ip": 5})
    async with app_client_for(strict, db=db, redis=redis) as client:
        yield client


async def test_login_is_throttled_per_account_with_a_429_page(strict_client, creator, session, settings):
    client = strict_client
    wrong = {"email": creator.email, "password": "not the password"}
    for _ in range(3):
        assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
    right = {"email": creator.email.upper(), "password": PASSWORD}  # the same account, however typed
    limited = await client.post("/api/auth/login", json=right)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    assert "for this account" in limited.json()["detail"]

    form = {**right, "csrf_token": await csrf(client), "next": "/"}
    page = await client.post("/login", data=form, headers=HTML)
    assert page.status_code == 429 and "text/html" in page.headers["content-type"]
    assert "Too many failed log-ins for this account" in page.text and page.headers["retry-after"]
    assert PASSWORD not in page.text

    other = await create_user(session, settings)  # another account from the same address still logs in
    assert (
        await client.post("/api/auth/login", json={"email": other.email, "password": PASSWORD})
    ).is_success


async def test_login_is_throttled_per_ip_and_success_clears_the_account_count(
    strict_client, session, settings
):
    client = strict_client
    user = await create_user(session, settings)
    for _ in range(2):
        assert (
            await client.post("/api/auth/login", json={"email": user.email, "password": "nope"})
        ).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})).is_success
    for _ in range(2):  # the account's count started again: 2 more failures are not yet its limit of 3
        assert (
            await client.post("/api/auth/login", json={"email": user.email, "password": "nope"})
        ).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})).is_success
    # The address has now failed 4 times; one more unknown account and it is at its limit of 5.
    assert (
        await client.post("/api/auth/login", json={"email": "x@example.com", "password": "n"})
    ).status_code == 401
    limited = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert limited.status_code == 429 and "from this address" in limited.json()["detail"]
