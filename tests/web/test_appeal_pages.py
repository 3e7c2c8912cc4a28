"""The creator reads an appeal's outcome and the moderators' note on the publish page and the dashboard; the
publish page of its own has a top heading; a version approved on appeal says so next to its old reasons."""

from __future__ import annotations

import re

from tests.factories import auth_headers, create_user
from tests.store.test_publishing import make_gpt, publish
from tests.web.test_pages import HTML, log_in


async def _denied(client, session, settings, creator, decision="deny", note="Still copies the book"):
    creator_headers = auth_headers(creator, settings)
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    gpt_id = await make_gpt(client, creator_headers)
    await publish(client, creator_headers, gpt_id)
    await client.post(
        f"/api/admin/gpts/{gpt_id}/versions/1/moderate",
        json={"action": "reject", "reason": "copyright"},
        headers=admin,
    )
    appeal = await client.post(
        f"/api/gpts/{gpt_id}/appeal", json={"message": "Fixed"}, headers=creator_headers
    )
    await client.post(
        f"/api/admin/appeals/{appeal.json()['id']}/resolve",
        json={"decision": decision, "note": note},
        headers=admin,
    )
    return gpt_id


async def test_publish_page_and_dashboard_show_a_denial_and_its_note(client, session, settings, creator):
    gpt_id = await _denied(client, session, settings, creator)
    await log_in(client, creator.email)
    page = (await client.get(f"/builder/{gpt_id}/publish", headers=HTML)).text
    assert re.search(r"<h1[^>]*>Publish Fjord Guide</h1>", page)
    assert "The moderators denied your appeal" in page and "Still copies the book" in page
    assert "You can appeal again after" in page and 'id="appeal-form"' not in page
    board = (await client.get("/creator", headers=HTML)).text
    assert "Appeal denied" in board and "Still copies the book" in board


async def test_a_version_granted_on_appeal_reads_approved_on_appeal(client, session, settings, creator):
    gpt_id = await _denied(client, session, settings, creator, "grant", "Licence checked")
    await log_in(client, creator.email)
    page = (await client.get(f"/builder/{gpt_id}/publish", headers=HTML)).text
    assert "approved on appeal" in page and "set it aside" in page
    assert "The moderators granted your appeal" in page and "Licence checked" in page
    assert "· approved ·" not in page
    board = (await client.get("/creator", headers=HTML)).text
    assert "approved on appeal" in board and "Appeal granted" in board
