"""Text that others see must not reorder itself: bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069) are refused with a 422 naming the field; the marks right-to-left text needs
(U+200E, U+200F) are kept."""

from __future__ import annotations

import pytest

from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt

OVERRIDE = "Fjord \u202eediuG"  # shows as "Fjord Guide" spelt backwards, or worse around other text
ISOLATE = "Fjord \u2067Guide\u2069"

# (method, url, body with {} where the text goes, the field the 422 names)
SHOWN_TO_OTHERS = [
    ("POST", "/api/gpts", {"name": "{}"}, "name"),
    ("PATCH", "/api/gpts/{draft}", {"description": "{}"}, "description"),
    ("PATCH", "/api/me/profile", {"display_name": "{}"}, "display_name"),
    ("POST", "/api/organizations", {"handle": "bidi-org", "name": "{}"}, "name"),
    ("POST", "/api/datasets", {"name": "Ferries", "access": "open", "license": "CC-BY-4.0",
                               "attribution": "{}"}, "attribution"),
    ("POST", "/api/datasets", {"name": "{}"}, "name"),
    ("PUT", "/api/store/gpts/{gpt}/rating", {"stars": 4, "review": "{}"}, "review"),
    ("POST", "/api/store/gpts/{gpt}/reports", {"reason": "spam", "details": "{}"}, "details"),
    # the GPT page, the creator's and organisation's public pages, the dataset directory
    ("PATCH", "/api/gpts/{draft}", {"welcome_message": "{}"}, "welcome_message"),
    ("PATCH", "/api/gpts/{draft}", {"conversation_starters": ["Hi", "{}"]}, "conversation_starters.1"),
    ("PATCH", "/api/gpts/{draft}", {"tags": ["{}"]}, "tags.0"),
    ("PATCH", "/api/me/profile", {"bio": "{}"}, "bio"),
    ("POST", "/api/organizations", {"handle": "bidi-desc", "name": "Ferries", "description": "{}"},
     "description"),
    ("POST", "/api/datasets", {"name": "Ferries", "description": "{}"}, "description"),
    ("POST", "/api/gpts/{draft}/publish", {"visibility": "public", "release_notes": "{}"}, "release_notes"),
]  # fmt: skip

# What moderators write to the creator: the reason shown on the dashboard and the publish page.
SHOWN_TO_THE_CREATOR = [
    ("POST", "/api/admin/reports/{report}/resolve", {"action": "unlist", "note": "{}"}, "note"),
    ("POST", "/api/admin/appeals/{appeal}/resolve", {"decision": "deny", "note": "{}"}, "note"),
]  # fmt: skip


def _fill(body, text: str):
    if isinstance(body, str):
        return body.replace("{}", text)
    if isinstance(body, dict):
        return {k: _fill(v, text) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, text) for v in body]
    return body


@pytest.mark.parametrize("text", [OVERRIDE, ISOLATE], ids=["override", "isolate"])
async def test_reordering_controls_are_refused_where_others_see_the_text(
    client, session, settings, creator, creator_headers, text
):
    draft = (await client.post("/api/gpts", json={"name": "Draft"}, headers=creator_headers)).json()["id"]
    listing = await create_published_gpt(session, creator)
    someone = await create_user(session, settings, display_name="Visitor")
    await create_conversation(session, someone, listing.gpt_id)  # who may rate
    visitor = auth_headers(someone, settings)
    for method, url, body, field in SHOWN_TO_OTHERS:
        headers = visitor if "/store/" in url else creator_headers
        url = url.format(draft=draft, gpt=listing.gpt_id)
        response = await client.request(method, url, json=_fill(body, text), headers=headers)
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == [field], (url, problem)
        assert "bidirectional control characters" in problem["errors"][0]["message"]


@pytest.mark.parametrize("text", [OVERRIDE, ISOLATE], ids=["override", "isolate"])
async def test_reordering_controls_are_refused_in_moderators_notes(
    client, session, settings, creator, creator_headers, text
):
    listing = await create_published_gpt(session, creator)
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    reporter = auth_headers(await create_user(session, settings), settings)
    report = await client.post(
        f"/api/store/gpts/{listing.gpt_id}/reports", json={"reason": "spam"}, headers=reporter
    )
    unlisted = await client.post(
        f"/api/admin/reports/{report.json()['id']}/resolve",
        json={"action": "unlist", "note": "Spam"},
        headers=admin,
    )
    assert unlisted.status_code == 200, unlisted.text
    appeal = await client.post(
        f"/api/gpts/{listing.gpt_id}/appeal", json={"message": "Not spam"}, headers=creator_headers
    )
    assert appeal.status_code == 201, appeal.text
    second = await client.post(
        f"/api/store/gpts/{listing.gpt_id}/reports", json={"reason": "other"}, headers=admin
    )
    ids = {"report": second.json()["id"], "appeal": appeal.json()["id"]}
    for method, url, body, field in SHOWN_TO_THE_CREATOR:
        response = await client.request(method, url.format(**ids), json=_fill(body, text), headers=admin)
        assert response.status_code == 422, (url, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]
    listed = (await client.get("/api/creator/gpts", headers=creator_headers)).json()["data"][0]
    assert listed["unlisted_reason"] == "Spam" and listed["appeal"]["status"] == "open"


async def test_right_to_left_text_and_its_marks_are_kept(client, creator_headers):
    name = "\u05de\u05d3\u05e8\u05d9\u05da \u05e4\u05d9\u05d5\u05e8\u05d3\u05d9\u05dd\u200f (Fjord Guide)"
    created = await client.post("/api/gpts", json={"name": name}, headers=creator_headers)
    assert created.status_code == 201 and created.json()["name"] == name


NAMES = [
    ("POST", "/api/gpts", {"name": "{}"}, "name"),
    ("PATCH", "/api/me/profile", {"display_name": "{}"}, "display_name"),
    ("POST", "/api/organizations", {"handle": "line-org", "name": "{}"}, "name"),
    ("POST", "/api/datasets", {"name": "{}"}, "name"),
    ("POST", "/api/me/api-keys", {"name": "{}"}, "name"),
]


@pytest.mark.parametrize("text", ['Ferries "x"\r\nX-Header: y', "Fer\tries", "Ferries\u2028Fjords"])
async def test_a_name_is_one_line(client, creator_headers, text):
    """A dataset named with CR/LF was listed as two lines in the directory."""
    for method, url, body, field in NAMES:
        response = await client.request(method, url, json=_fill(body, text), headers=creator_headers)
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == [field], (url, problem)
        assert "must be one line" in problem["errors"][0]["message"]
