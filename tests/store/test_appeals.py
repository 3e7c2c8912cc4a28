"""Appeals over HTTP: an appeal never takes newer work off the store, a granted version says so, the
creator reads the outcome and the note, and a denial is not re-sent at once."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from store.models import Appeal
from tests.factories import auth_headers, create_user
from tests.store.test_publishing import make_gpt, publish


async def _admin(session, settings):
    return auth_headers(await create_user(session, settings, is_admin=True), settings)


async def _rejected(client, creator_headers, admin_headers) -> str:
    """A GPT whose version 1 went live and was then rejected by a moderator."""
    gpt_id = await make_gpt(client, creator_headers)
    await publish(client, creator_headers, gpt_id)
    rejected = await client.post(
        f"/api/admin/gpts/{gpt_id}/versions/1/moderate",
        json={"action": "reject", "reason": "copyright"},
        headers=admin_headers,
    )
    assert rejected.status_code == 200
    return gpt_id


async def _appeal(client, headers, gpt_id, message="Fixed"):
    return await client.post(f"/api/gpts/{gpt_id}/appeal", json={"message": message}, headers=headers)


async def _resolve(client, admin_headers, appeal_id, decision, note=None):
    body = {"decision": decision} | ({"note": note} if note else {})
    return await client.post(f"/api/admin/appeals/{appeal_id}/resolve", json=body, headers=admin_headers)


async def test_a_newer_version_closes_the_appeal_and_the_store_keeps_it(
    client, creator_headers, session, settings
):
    admin = await _admin(session, settings)
    gpt_id = await _rejected(client, creator_headers, admin)
    appeal = (await _appeal(client, creator_headers, gpt_id)).json()
    await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Fjord Guide Two"}, headers=creator_headers)
    newer = (await publish(client, creator_headers, gpt_id)).json()
    assert newer["number"] == 2 and newer["review_status"] == "approved"

    closed = (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=creator_headers)).json()["data"]
    assert closed[0]["status"] == "outdated" and "Version 2" in closed[0]["note"]
    granted = await _resolve(client, admin, appeal["id"], "grant")
    assert granted.status_code == 409
    page = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert page["version"] == 2 and page["name"] == "Fjord Guide Two"


async def test_a_grant_of_an_older_version_never_replaces_the_newer_live_one(
    client, creator_headers, session, settings
):
    """Even when the appeal is still open as the newer version goes out (appeals from before this rule)."""
    admin = await _admin(session, settings)
    gpt_id = await _rejected(client, creator_headers, admin)
    appeal = (await _appeal(client, creator_headers, gpt_id)).json()
    await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Fjord Guide Two"}, headers=creator_headers)
    await publish(client, creator_headers, gpt_id)
    await session.execute(sa.update(Appeal).where(Appeal.id == appeal["id"]).values(status="open", note=None))
    assert (await _resolve(client, admin, appeal["id"], "grant")).status_code == 200
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).json()["version"] == 2
    versions = (await client.get(f"/api/gpts/{gpt_id}/versions", headers=creator_headers)).json()["data"]
    assert versions[1]["number"] == 1 and versions[1]["approved_on_appeal"]


async def test_a_granted_version_is_approved_on_appeal_with_its_reasons_as_history(
    client, creator_headers, session, settings
):
    admin = await _admin(session, settings)
    gpt_id = await _rejected(client, creator_headers, admin)
    appeal = (await _appeal(client, creator_headers, gpt_id)).json()
    granted = await _resolve(client, admin, appeal["id"], "grant", "Licence checked, thanks")
    assert granted.status_code == 200
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).json()["version"] == 1
    version = (await client.get(f"/api/gpts/{gpt_id}/versions", headers=creator_headers)).json()["data"][0]
    assert version["review_status"] == "approved" and version["approved_on_appeal"]
    assert version["review_reasons"] == ["rejected by a moderator: copyright", "approved on appeal"]
    mine = (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=creator_headers)).json()["data"]
    assert [(a["status"], a["note"]) for a in mine] == [("granted", "Licence checked, thanks")]
    board = (await client.get("/api/creator/gpts", headers=creator_headers)).json()["data"]
    assert board[0]["approved_on_appeal"] and board[0]["appeal"]["note"] == "Licence checked, thanks"


async def test_the_creator_reads_a_denial_and_may_appeal_again_only_after_a_change_or_the_cool_down(
    client, creator_headers, session, settings
):
    admin = await _admin(session, settings)
    gpt_id = await _rejected(client, creator_headers, admin)
    stranger = auth_headers(await create_user(session, settings), settings)
    assert (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=stranger)).status_code == 404
    first = (await _appeal(client, creator_headers, gpt_id)).json()
    await _resolve(client, admin, first["id"], "deny", "The copyrighted text is still in the files")
    mine = (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=creator_headers)).json()["data"]
    assert mine[0]["status"] == "denied" and mine[0]["note"] == "The copyrighted text is still in the files"

    again = await _appeal(client, creator_headers, gpt_id, "Please look again")
    assert again.status_code == 409 and "appeal again after" in again.json()["detail"]
    # the cool-down over, the same decision may be appealed again
    week_ago = datetime.now(UTC) - timedelta(days=settings.appeal_cooldown_days, minutes=1)
    await session.execute(sa.update(Appeal).where(Appeal.id == first["id"]).values(resolved_at=week_ago))
    assert (await _appeal(client, creator_headers, gpt_id, "Please look again")).status_code == 201


async def test_after_a_denial_a_new_rejected_version_may_be_appealed(
    client, creator_headers, session, settings
):
    admin = await _admin(session, settings)
    gpt_id = await make_gpt(client, creator_headers, name="Official Fjord Guide")
    assert (await publish(client, creator_headers, gpt_id)).json()["review_status"] == "rejected"
    first = (await _appeal(client, creator_headers, gpt_id)).json()
    await _resolve(client, admin, first["id"], "deny", "No")
    await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Official Fjord Guides"}, headers=creator_headers)
    assert (await publish(client, creator_headers, gpt_id)).json()["number"] == 2
    assert (await _appeal(client, creator_headers, gpt_id)).status_code == 201


async def test_a_moderator_undoes_a_rejection_and_an_unlisting_and_the_appeals_they_answer_are_granted(
    client, creator_headers, session, settings
):
    """`approve` and `relist` undo `reject` and `unlist` without waiting for an appeal; an open appeal about
    the decision is granted with the moderator's reason; undoing what does not stand is a 409."""
    admin = await _admin(session, settings)
    gpt_id = await _rejected(client, creator_headers, admin)
    appeal = (await _appeal(client, creator_headers, gpt_id)).json()
    url = f"/api/admin/gpts/{gpt_id}/versions/1/moderate"

    async def moderate(action: str, reason: str = "my mistake"):
        return await client.post(url, json={"action": action, "reason": reason}, headers=admin)

    assert (await client.get(f"/api/store/gpts/{gpt_id}")).status_code == 404  # taken down
    approved = await moderate("approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["review_status"] == "approved"
    assert "approved by a moderator: my mistake" in approved.json()["review_reasons"]
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).json()["version"] == 1  # live again
    decided = (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=creator_headers)).json()["data"]
    assert decided[0]["id"] == appeal["id"] and decided[0]["status"] == "granted"
    assert decided[0]["note"] == "Lifted by a moderator: my mistake"
    again = await moderate("approve")
    assert again.status_code == 409 and "not rejected" in again.json()["detail"]

    assert (await moderate("unlist", "spam")).status_code == 200
    listed = lambda: client.get("/api/store/gpts", params={"q": "Fjord"})  # noqa: E731
    assert gpt_id not in {g["id"] for g in (await listed()).json()["data"]}
    unlisting_appeal = (await _appeal(client, creator_headers, gpt_id)).json()
    assert (await moderate("relist", "not spam after all")).status_code == 200
    assert gpt_id in {g["id"] for g in (await listed()).json()["data"]}
    mine = (await client.get(f"/api/gpts/{gpt_id}/appeals", headers=creator_headers)).json()["data"]
    assert {a["id"]: a["status"] for a in mine}[unlisting_appeal["id"]] == "granted"
    assert (await moderate("relist")).status_code == 409
