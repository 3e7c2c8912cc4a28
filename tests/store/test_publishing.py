"""Publishing over HTTP: review, immutability, visibility, restore, unpublish, moderation, appeals."""

from tests.factories import auth_headers, create_user

GOOD = {
    "name": "Fjord Guide",
    "description": "Plans fjord trips in Norway.",
    "instructions": "You help tourists plan fjord trips.",
    "conversation_starters": ["Best fjord in May?"],
    "category": "lifestyle",
}


async def make_gpt(client, headers, **fields) -> str:
    response = await client.post("/api/gpts", json={**GOOD, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def publish(client, headers, gpt_id, visibility="public", **extra):
    body = {"visibility": visibility, **extra}
    return await client.post(f"/api/gpts/{gpt_id}/publish", json=body, headers=headers)


async def test_public_publish_is_approved_listed_and_immutable(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    response = await publish(client, creator_headers, gpt_id, release_notes="First")
    assert response.status_code == 201, response.text
    assert response.json()["number"] == 1 and response.json()["review_status"] == "approved"
    listed = (await client.get("/api/store/gpts?sort=new")).json()["data"]
    assert [g["id"] for g in listed] == [gpt_id]

    await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Changed Draft"}, headers=creator_headers)
    page = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert page["name"] == "Fjord Guide" and page["version"] == 1
    assert page["instructions"] is None  # anonymous
    own = (await client.get(f"/api/store/gpts/{gpt_id}", headers=creator_headers)).json()
    assert own["instructions"] == GOOD["instructions"]

    second = (await publish(client, creator_headers, gpt_id)).json()
    assert second["number"] == 2
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).json()["name"] == "Changed Draft"


async def test_review_lists_every_reason(client, creator_headers):
    gpt_id = await make_gpt(
        client, creator_headers, name="Official ChatGPT Helper", conversation_starters=[], instructions=""
    )
    version = (await publish(client, creator_headers, gpt_id)).json()
    assert version["review_status"] == "rejected"
    reasons = " | ".join(version["review_reasons"])
    for expected in ("instructions is required", "conversation starter", "'chatgpt'", "'official'"):
        assert expected in reasons
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).status_code == 404
    assert (await client.get("/api/store/gpts")).json()["data"] == []


async def test_banned_terms_and_near_duplicate_names(client, creator_headers, settings):
    settings.banned_terms = ["casino"]
    first = await make_gpt(client, creator_headers)
    assert (await publish(client, creator_headers, first)).json()["review_status"] == "approved"
    copy = await make_gpt(client, creator_headers, name="Fjord Guides")
    reasons = (await publish(client, creator_headers, copy)).json()["review_reasons"]
    assert any("nearly the same" in r for r in reasons)
    casino = await make_gpt(client, creator_headers, name="Casino Pal", description="A casino helper")
    reasons = (await publish(client, creator_headers, casino)).json()["review_reasons"]
    assert any("'casino'" in r for r in reasons)


async def test_names_that_differ_by_a_word_both_pass_review(client, creator_headers):
    for name in ("Mike tutor pager", "Whiskey tutor pager", "German recipe helper", "Korean recipe helper"):
        gpt_id = await make_gpt(client, creator_headers, name=name)
        version = (await publish(client, creator_headers, gpt_id)).json()
        assert version["review_status"] == "approved", (name, version["review_reasons"])


async def test_public_needs_a_category(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers, category=None)
    response = await publish(client, creator_headers, gpt_id)
    # the request is valid, the draft lacks a category: a conflict with its state
    assert response.status_code == 409 and response.json()["errors"][0]["field"] == "category"
    bad = await publish(client, creator_headers, gpt_id, category="astrology")
    assert bad.status_code == 422
    assert (await publish(client, creator_headers, gpt_id, category="education")).status_code == 201


async def test_visibility_link_private_and_404s(client, creator_headers, session, settings):
    other = auth_headers(await create_user(session, settings), settings)
    link = await make_gpt(client, creator_headers, name="Link Only")
    private = await make_gpt(client, creator_headers, name="Just Mine")
    await publish(client, creator_headers, link, "link")
    await publish(client, creator_headers, private, "private")
    assert (await client.get(f"/api/store/gpts/{link}")).status_code == 200
    assert (await client.get(f"/api/store/gpts/{private}", headers=other)).status_code == 404
    assert (await client.get(f"/api/store/gpts/{private}", headers=creator_headers)).status_code == 200
    assert (await client.get("/api/store/gpts")).json()["data"] == []
    assert (await client.get("/api/store/gpts?q=link")).json()["data"] == []
    assert (await client.post(f"/api/store/gpts/{private}/conversations", headers=other)).status_code == 404
    assert (await client.post(f"/api/store/gpts/{link}/conversations", headers=other)).status_code == 201
    assert (await client.post(f"/api/store/gpts/{link}/conversations")).status_code == 401


async def test_versions_restore_and_unpublish(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    await publish(client, creator_headers, gpt_id)
    await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Renamed"}, headers=creator_headers)
    versions = (await client.get(f"/api/gpts/{gpt_id}/versions", headers=creator_headers)).json()["data"]
    assert [v["number"] for v in versions] == [1]
    restored = await client.post(f"/api/gpts/{gpt_id}/versions/1/restore", headers=creator_headers)
    assert restored.status_code == 200 and restored.json()["name"] == "Fjord Guide"
    missing = await client.post(f"/api/gpts/{gpt_id}/versions/9/restore", headers=creator_headers)
    assert missing.status_code == 404
    assert (await client.post(f"/api/gpts/{gpt_id}/unpublish", headers=creator_headers)).status_code == 204
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).status_code == 404
    assert (await client.post(f"/api/gpts/{gpt_id}/unpublish", headers=creator_headers)).status_code == 409


async def test_admin_unlist_reason_appeal_and_grant(client, creator_headers, session, settings):
    admin = await create_user(session, settings, is_admin=True)
    admin_headers = auth_headers(admin, settings)
    gpt_id = await make_gpt(client, creator_headers)
    await publish(client, creator_headers, gpt_id)
    moderated = await client.post(
        f"/api/admin/gpts/{gpt_id}/versions/1/moderate",
        json={"action": "unlist", "reason": "misleading claims"},
        headers=admin_headers,
    )
    assert moderated.status_code == 200
    assert (await client.get("/api/store/gpts")).json()["data"] == []
    dashboard_reason = (await client.get(f"/api/store/gpts/{gpt_id}", headers=creator_headers)).status_code
    assert dashboard_reason == 200  # still reachable by id, just not listed
    not_admin = await client.get("/api/admin/appeals", headers=creator_headers)
    assert not_admin.status_code == 403
    url = f"/api/gpts/{gpt_id}/appeal"
    appeal = await client.post(url, json={"message": "Claims fixed"}, headers=creator_headers)
    assert appeal.status_code == 201
    assert (
        await client.post(f"/api/gpts/{gpt_id}/appeal", json={"message": "again"}, headers=creator_headers)
    ).status_code == 409
    queue = (await client.get("/api/admin/appeals", headers=admin_headers)).json()["data"]
    assert [a["message"] for a in queue] == ["Claims fixed"]
    granted = await client.post(
        f"/api/admin/appeals/{queue[0]['id']}/resolve", json={"decision": "grant"}, headers=admin_headers
    )
    assert granted.json()["status"] == "granted"
    assert [g["id"] for g in (await client.get("/api/store/gpts")).json()["data"]] == [gpt_id]


async def test_admin_reject_takes_the_live_version_down(client, creator_headers, session, settings):
    admin_headers = auth_headers(await create_user(session, settings, is_admin=True), settings)
    gpt_id = await make_gpt(client, creator_headers)
    await publish(client, creator_headers, gpt_id)
    await client.post(
        f"/api/admin/gpts/{gpt_id}/versions/1/moderate",
        json={"action": "reject", "reason": "copyright"},
        headers=admin_headers,
    )
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).status_code == 404
    versions = (await client.get(f"/api/gpts/{gpt_id}/versions", headers=creator_headers)).json()["data"]
    assert versions[0]["review_status"] == "rejected"
    assert "copyright" in versions[0]["review_reasons"][-1]


async def test_publishing_an_unchanged_draft_again_returns_its_live_version(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    first = await publish(client, creator_headers, gpt_id, release_notes="First")
    again = await publish(client, creator_headers, gpt_id, release_notes="First")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()

    # anything that differs makes a version: the visibility, the notes, the draft
    assert (await publish(client, creator_headers, gpt_id, "link", release_notes="First")).json()[
        "number"
    ] == 2
    assert (await publish(client, creator_headers, gpt_id, "link", release_notes="Second")).json()[
        "number"
    ] == 3
    await client.patch(
        f"/api/gpts/{gpt_id}", json={"description": "Fjords, by boat."}, headers=creator_headers
    )
    changed = await publish(client, creator_headers, gpt_id, "link", release_notes="Second")
    assert (changed.status_code, changed.json()["number"]) == (201, 4)

    # taken out of the store, the same draft goes back as a new version
    assert (await client.post(f"/api/gpts/{gpt_id}/unpublish", headers=creator_headers)).status_code == 204
    back = await publish(client, creator_headers, gpt_id, "link", release_notes="Second")
    assert (back.status_code, back.json()["number"]) == (201, 5)


async def test_a_nameless_draft_is_not_published(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers, name="  ")
    blank_glyph = await make_gpt(client, creator_headers, name="\u2800")  # the blank Braille pattern
    assert (await publish(client, creator_headers, blank_glyph, "link")).status_code == 409
    for visibility in ("private", "link", "public"):
        refused = await publish(client, creator_headers, gpt_id, visibility)
        assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "name", refused.text
    assert (await client.get(f"/api/gpts/{gpt_id}/versions", headers=creator_headers)).json()["data"] == []


async def test_a_refused_draft_published_again_unchanged_is_refused_once(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers, instructions="")
    first = await publish(client, creator_headers, gpt_id)
    again = await publish(client, creator_headers, gpt_id)
    assert first.json()["review_status"] == "rejected" and (first.status_code, again.status_code) == (
        201,
        200,
    )
    assert again.json()["number"] == 1
