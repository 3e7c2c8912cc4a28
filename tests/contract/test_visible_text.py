"""Names and messages a person must see refuse text of only spaces or invisible characters (`core.schemas.
Visible`): a display name of three spaces or a zero-width space was stored, and headed pages with nothing."""

from __future__ import annotations

import pytest

from tests.factories import auth_headers, create_user

INVISIBLE = ["   ", "\u200b", "\t\n", "\u00a0\u2028", "\u2800", "\u3164\u115f", "\u034f", "\ufeff\U000e0020"]


@pytest.mark.parametrize("value", INVISIBLE)
async def test_invisible_names_are_refused_naming_the_field(client, session, settings, value):
    user = await create_user(session, settings, plan="team")
    headers = auth_headers(user, settings)
    signup = {"email": "n@example.com", "password": "tide tables", "display_name": value}
    attempts = [
        ("/api/auth/signup", signup, "display_name"),
        ("/api/me/api-keys", {"name": value}, "name"),
        ("/api/datasets", {"name": value}, "name"),
        ("/api/organizations", {"handle": "harbour-org", "name": value}, "name"),
    ]  # fmt: skip
    for path, body, field in attempts:
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}, (path, response.json())
    profile = await client.patch("/api/me/profile", json={"display_name": value}, headers=headers)
    assert profile.status_code == 422 and profile.json()["errors"][0]["field"] == "display_name"


async def test_visible_names_with_spaces_around_are_kept(client, session, settings):
    user = await create_user(session, settings, plan="team")
    response = await client.post(
        "/api/datasets", json={"name": " Harbour \u200b"}, headers=auth_headers(user, settings)
    )
    assert response.status_code == 201, response.text
