from datetime import UTC, datetime, timedelta

import jwt

from core.auth import JWT_ALGORITHM
from tests.conftest import TEST_SECRET, unique_email


async def signup(client, email=None, password="long enough pw", name="Ada"):
    return await client.post(
        "/api/auth/signup",
        json={"email": email or unique_email(), "password": password, "display_name": name},
    )


async def test_signup_returns_user_and_working_token(client):
    response = await signup(client, email="Ada@Example.com")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["plan"] == "free"
    assert body["token_type"] == "bearer"
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_first_account_is_admin_and_later_ones_are_not(client):
    first = (await signup(client)).json()["user"]
    second = (await signup(client)).json()["user"]
    assert first["is_admin"] is True
    assert second["is_admin"] is False


async def test_duplicate_email_is_a_conflict(client):
    email = unique_email()
    await signup(client, email=email)
    response = await signup(client, email=email.upper())
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "already exists" in response.json()["detail"]


async def test_invalid_email_and_short_password_name_the_field(client):
    response = await signup(client, email="not-an-email")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["email"]
    response = await signup(client, password="short")
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "password"
    assert body["status"] == 422 and body["type"] and body["title"]


async def test_login_and_wrong_credentials_answer_the_same(client):
    email = unique_email()
    await signup(client, email=email)
    ok = await client.post("/api/auth/login", json={"email": email, "password": "long enough pw"})
    assert ok.status_code == 200
    assert ok.json()["expires_in"] > 0
    wrong_pw = await client.post("/api/auth/login", json={"email": email, "password": "nope nope nope"})
    no_user = await client.post(
        "/api/auth/login", json={"email": unique_email(), "password": "nope nope nope"}
    )
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json()["detail"] == no_user.json()["detail"]


async def test_expired_and_forged_tokens_are_refused(client):
    user_id = (await signup(client)).json()["user"]["id"]
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = jwt.encode({"sub": user_id, "exp": past, "iat": past}, TEST_SECRET, algorithm=JWT_ALGORITHM)
    forged = jwt.encode(
        {"sub": user_id, "exp": datetime.now(UTC) + timedelta(hours=1)},
        "another-secret" * 4,
        algorithm=JWT_ALGORITHM,
    )
    for token, detail in ((expired, "expired"), (forged, "Invalid")):
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert detail in response.json()["detail"]
    assert (await client.get("/api/me")).status_code == 401


async def test_api_key_lifecycle(client):
    token = (await signup(client)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = await client.post("/api/me/api-keys", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("gsk_")
    key_headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/me", headers=key_headers)).status_code == 200
    listed = (await client.get("/api/me/api-keys", headers=headers)).json()["data"]
    assert [k["name"] for k in listed] == ["laptop"]
    assert "key" not in listed[0] and key.startswith(listed[0]["prefix"])
    assert listed[0]["last_used_at"] is not None
    deleted = await client.delete(f"/api/me/api-keys/{listed[0]['id']}", headers=headers)
    assert deleted.status_code == 204
    revoked = await client.get("/api/me", headers=key_headers)
    assert revoked.status_code == 401


async def test_an_api_key_cannot_manage_keys_or_the_account(client):
    """A leaked key must not mint a key that outlives its revocation, nor change who the account is."""
    token = (await signup(client)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = (await client.post("/api/me/api-keys", json={"name": "ci"}, headers=headers)).json()
    key_headers = {"Authorization": f"Bearer {created['key']}"}
    attempts = [
        client.post("/api/me/api-keys", json={"name": "spare"}, headers=key_headers),
        client.get("/api/me/api-keys", headers=key_headers),
        client.delete(f"/api/me/api-keys/{created['id']}", headers=key_headers),
        client.patch("/api/me/profile", json={"display_name": "Mallory"}, headers=key_headers),
    ]
    for attempt in attempts:
        refused = await attempt
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "signed-in session" in refused.json()["detail"]
    listed = (await client.get("/api/me/api-keys", headers=headers)).json()["data"]
    assert [k["name"] for k in listed] == ["ci"]
    assert (await client.get("/api/me", headers=headers)).json()["display_name"] == "Ada"
    # The key still does what keys are for, and a key is no web session either.
    assert (await client.get("/api/me", headers=key_headers)).status_code == 200
    assert (await client.get("/api/me/profile", headers=key_headers)).status_code == 200
    page = await client.get("/account", headers={"Cookie": f"gptstore_session={created['key']}"})
    assert page.status_code in (302, 303) and "/login" in page.headers["location"]


async def test_admin_changes_plan_and_others_cannot(client):
    admin = (await signup(client)).json()
    user = (await signup(client)).json()
    path = f"/api/admin/users/{user['user']['id']}"
    denied = await client.patch(
        path, json={"plan": "plus"}, headers={"Authorization": f"Bearer {user['access_token']}"}
    )
    assert denied.status_code == 403
    admin_headers = {"Authorization": f"Bearer {admin['access_token']}"}
    bad = await client.patch(path, json={"plan": "gold"}, headers=admin_headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "plan"
    ok = await client.patch(path, json={"plan": "plus"}, headers=admin_headers)
    assert ok.status_code == 200 and ok.json()["plan"] == "plus"


async def test_unknown_route_is_a_problem(client):
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_handle_writes_a_name_of_any_script_in_ascii(client):
    """A handle came from the name's a-z letters alone: "Ådne 🧭 نور" was `@dne`, "Bjørn" `@bj-rn`."""
    cases = {"Bjørn Ødegård": "bjorn-odegard", "Ådne 🧭 نور": "adne-nwr", "北京 Guide": "beijing-guide"}
    for name, handle in cases.items():
        user = (await signup(client, name=name)).json()["user"]
        assert user["handle"] == handle, user
