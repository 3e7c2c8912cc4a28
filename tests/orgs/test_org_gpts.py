"""GPTs owned by organisations: created by builders, edited by role, shared with members, transferred."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from builder.models import Gpt
from retrieval.models import GptDataset
from store.models import Listing, Rating
from tests.factories import auth_headers, create_user
from tests.orgs.factories import create_team
from tests.store.factories import create_conversation

FIELDS = {
    "name": "Fjord Guide",
    "description": "Plans fjord trips.",
    "instructions": "Help people plan fjord trips.",
    "conversation_starters": ["Best fjord in May?"],
    "category": "lifestyle",
}


async def _gpt_count(session) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Gpt))


async def test_builders_create_gpts_owned_by_a_team_organisation(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = str(organization.id)
    created = await client.post(
        "/api/gpts",
        json={**FIELDS, "organization_id": org_id},
        headers=auth_headers(people["builder"], settings),
    )
    assert created.status_code == 201, created.text  # the builder's own plan is `free`
    assert created.json()["organization_id"] == org_id
    count = await _gpt_count(session)

    refused = await client.post(
        "/api/gpts", json={"organization_id": org_id}, headers=auth_headers(people["member"], settings)
    )
    assert refused.status_code == 403 and refused.json()["required_role"] == "builder"
    refused = await client.post(
        "/api/gpts", json={"organization_id": org_id}, headers=auth_headers(people["other"], settings)
    )
    assert refused.status_code == 404 and refused.json()["errors"][0]["field"] == "organization_id"
    assert (
        await client.post("/api/gpts", headers=auth_headers(people["builder"], settings))
    ).status_code == 403

    organization.plan = "free"
    await session.commit()
    refused = await client.post(
        "/api/gpts", json={"organization_id": org_id}, headers=auth_headers(people["owner"], settings)
    )
    assert refused.status_code == 403 and refused.json()["required_plans"] == ["team"]
    assert await _gpt_count(session) == count


async def test_roles_decide_who_edits_and_deletes_an_organisations_draft(client, session, settings):
    organization, people = await create_team(session, settings)
    builder = auth_headers(people["builder"], settings)
    gpt = (
        await client.post(
            "/api/gpts", json={**FIELDS, "organization_id": str(organization.id)}, headers=builder
        )
    ).json()
    url = f"/api/gpts/{gpt['id']}"

    admin = auth_headers(people["admin"], settings)
    changed = await client.patch(url, json={"name": "Fjord Friend"}, headers=admin)
    assert changed.status_code == 200 and changed.json()["name"] == "Fjord Friend"
    assert [g["id"] for g in (await client.get("/api/gpts", headers=admin)).json()["data"]] == [gpt["id"]]
    assert (await client.get(f"{url}/files", headers=admin)).status_code == 200
    for who, status in (("member", 403), ("other", 404)):  # a member knows the GPT: 403 naming the role
        headers = auth_headers(people[who], settings)
        assert (await client.get(url, headers=headers)).status_code == status
        assert (await client.patch(url, json={"name": "Taken"}, headers=headers)).status_code == status
        assert (await client.get(f"{url}/files", headers=headers)).status_code == status
        assert (await client.get("/api/gpts", headers=headers)).json()["data"] == []
    refused = await client.delete(url, headers=builder)
    assert refused.status_code == 403 and refused.json()["required_role"] == "admin"
    assert await session.scalar(sa.select(Gpt.name).where(Gpt.id == gpt["id"])) == "Fjord Friend"

    # An organisation that owns GPTs is not deleted (nor are they).
    owner = auth_headers(people["owner"], settings)
    refused = await client.delete(f"/api/organizations/{organization.id}", headers=owner)
    assert refused.status_code == 409 and refused.json()["gpts"] == 1
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.delete(f"/api/organizations/{organization.id}", headers=owner)).status_code == 204


async def test_organisation_visibility_shows_a_gpt_to_members_only(client, session, settings):
    organization, people = await create_team(session, settings)
    builder = auth_headers(people["builder"], settings)
    gpt = (
        await client.post(
            "/api/gpts", json={**FIELDS, "organization_id": str(organization.id)}, headers=builder
        )
    ).json()
    published = await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": "organisation"}, headers=builder
    )
    assert published.status_code == 201, published.text
    assert published.json()["visibility"] == "organisation"

    page = f"/api/store/gpts/{gpt['id']}"
    member = auth_headers(people["member"], settings)
    shown = await client.get(page, headers=member)
    assert shown.status_code == 200 and shown.json()["creator"]["kind"] == "organization"
    assert shown.json()["creator"]["handle"] == organization.handle
    chat = await client.post(f"{page}/conversations", json={}, headers=member)
    assert chat.status_code == 201, chat.text
    outsider = auth_headers(people["other"], settings)
    assert (await client.get(page, headers=outsider)).status_code == 404
    assert (await client.get(page)).status_code == 404
    assert (await client.post(f"{page}/conversations", json={}, headers=outsider)).status_code == 404
    models = {m["id"]: m for m in (await client.get("/v1/models", headers=member)).json()["data"]}
    assert models[gpt["id"]]["owned_by"] == str(organization.id)  # the organisation, not whoever made it
    one = await client.get(f"/v1/models/{gpt['id']}", headers=member)
    assert one.json()["owned_by"] == str(organization.id)
    assert gpt["id"] not in [
        m["id"] for m in (await client.get("/v1/models", headers=outsider)).json()["data"]
    ]

    # Only an organisation's GPT can be shared with an organisation.
    creator = await create_user(session, settings, plan="plus")
    own = (await client.post("/api/gpts", json=FIELDS, headers=auth_headers(creator, settings))).json()
    refused = await client.post(
        f"/api/gpts/{own['id']}/publish",
        json={"visibility": "organisation"},
        headers=auth_headers(creator, settings),
    )
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "visibility"


async def test_a_gpt_moves_into_an_organisation_and_back_keeping_its_ratings(client, session, settings):
    organization, people = await create_team(session, settings)
    builder = people["builder"]
    builder.plan = "plus"
    await session.commit()
    headers = auth_headers(builder, settings)
    gpt = (await client.post("/api/gpts", json=FIELDS, headers=headers)).json()
    gpt_id = gpt["id"]
    assert (
        await client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=headers)
    ).status_code == 201
    rater = await create_user(session, settings)
    await create_conversation(session, rater, gpt_id)
    rated = await client.put(
        f"/api/store/gpts/{gpt_id}/rating", json={"stars": 5}, headers=auth_headers(rater, settings)
    )
    assert rated.status_code in (200, 201), rated.text

    url = f"/api/gpts/{gpt_id}/transfer"
    body = {"organization_id": str(organization.id)}
    # Only who manages the GPT, and only into an organisation where they build.
    assert (
        await client.post(url, json=body, headers=auth_headers(people["admin"], settings))
    ).status_code == 404
    assert (
        await client.post(url, json={"user_id": str(people["owner"].id)}, headers=headers)
    ).status_code == 422
    assert (await client.post(url, json={}, headers=headers)).status_code == 422
    assert await session.scalar(sa.select(Gpt.organization_id).where(Gpt.id == gpt_id)) is None

    moved = await client.post(url, json=body, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["organization_id"] == str(organization.id)
    page = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert page["creator"] == {
        "handle": organization.handle,
        "display_name": organization.name,
        "kind": "organization",
    }
    assert page["rating"]["count"] == 1 and page["version"] == 1
    public = (await client.get(f"/api/store/organizations/{organization.handle.upper()}")).json()
    assert [g["id"] for g in public["gpts"]] == [gpt_id]
    listed = (await client.get("/api/store/gpts", params={"sort": "new"})).json()["data"]
    assert listed[0]["creator"]["kind"] == "organization"

    renamed = await client.patch(
        f"/api/organizations/{organization.id}",
        json={"name": "Fjord Trips", "handle": "fjord-trips"},
        headers=auth_headers(people["owner"], settings),
    )
    assert renamed.status_code == 200
    page = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert page["creator"]["display_name"] == "Fjord Trips" and page["creator"]["handle"] == "fjord-trips"
    text = await session.scalar(sa.select(Listing.search_text).where(Listing.gpt_id == gpt_id))
    assert "fjord-trips Fjord Trips" in text  # searchable by the organisation's new name

    # Out again: builders may not, admins may, to a member only.
    back = {"user_id": str(people["member"].id)}
    assert (await client.post(url, json=back, headers=headers)).status_code == 403
    admin = auth_headers(people["admin"], settings)
    assert (
        await client.post(url, json={"user_id": str(people["other"].id)}, headers=admin)
    ).status_code == 422
    moved = await client.post(url, json=back, headers=admin)
    assert moved.status_code == 200 and moved.json()["organization_id"] is None
    listing = await session.scalar(sa.select(Listing.creator_handle).where(Listing.gpt_id == gpt_id))
    assert listing == people["member"].handle
    assert await session.scalar(sa.select(sa.func.count()).where(Rating.gpt_id == gpt_id)) == 1
    assert (
        await client.get(f"/api/gpts/{gpt_id}", headers=auth_headers(people["member"], settings))
    ).status_code == 200
    assert (await client.get(f"/api/gpts/{gpt_id}", headers=headers)).status_code == 404


async def test_a_users_new_name_reaches_their_cached_gpt_page(client, session, settings):
    creator = await create_user(session, settings, plan="plus", display_name="Old Name")
    headers = auth_headers(creator, settings)
    gpt = (await client.post("/api/gpts", json=FIELDS, headers=headers)).json()
    assert (
        await client.post(f"/api/gpts/{gpt['id']}/publish", json={"visibility": "public"}, headers=headers)
    ).status_code == 201
    page = f"/api/store/gpts/{gpt['id']}"
    assert (await client.get(page)).json()["creator"]["display_name"] == "Old Name"  # now cached
    renamed = await client.patch("/api/me/profile", json={"display_name": "New Name"}, headers=headers)
    assert renamed.status_code == 200
    assert (await client.get(page)).json()["creator"]["display_name"] == "New Name"


async def test_a_gpts_knowledge_follows_it_into_an_organisation(client, session, settings):
    """Who may search a GPT's knowledge is decided by its home dataset's owner and organisation, which
    move with the GPT: the organisation's admin gets in once the GPT is the organisation's."""
    organization, people = await create_team(session, settings)
    builder = people["builder"]
    builder.plan = "plus"
    await session.commit()
    headers = auth_headers(builder, settings)
    gpt_id = (await client.post("/api/gpts", json=FIELDS, headers=headers)).json()["id"]
    search, body = f"/api/gpts/{gpt_id}/search", {"query": "fjord trips"}
    admin, member = (auth_headers(people[role], settings) for role in ("admin", "member"))
    assert (await client.post(search, json=body, headers=admin)).status_code == 404

    body_move = {"organization_id": str(organization.id)}
    moved = await client.post(f"/api/gpts/{gpt_id}/transfer", json=body_move, headers=headers)
    assert moved.status_code == 200, moved.text
    found = await client.post(search, json=body, headers=admin)
    assert found.status_code == 200 and found.json()["data"] == []
    # A member knows the organisation's GPT but may not edit it: 403 naming the role (docs/data-library.md)
    assert (await client.post(search, json=body, headers=member)).status_code == 403
    assert (await client.post(search, json=body, headers=headers)).status_code == 200


async def test_an_organisations_private_dataset_never_answers_in_its_makers_own_gpts(
    client, session, settings, db
):
    """Who made an organisation's dataset gains nothing from that: its builder cannot attach it to a
    personal GPT, an attachment made before stops answering (a removed member kept using it), and the
    builder's personal private dataset does not answer in the organisation's GPTs either."""
    from tests.datasets.factories import create_dataset

    organization, people = await create_team(session, settings)
    builder = people["builder"]
    builder.plan = "plus"
    headers = auth_headers(builder, settings)
    text = "The vault combination of Fjord Tours is 31-07-1999."
    secret = await create_dataset(
        session, settings, builder, organization_id=organization.id, access="private", license=None,
        files={"internal.md": text}, db=db,
    )  # fmt: skip
    own = (await client.post("/api/gpts", json={"name": "Mine"}, headers=headers)).json()["id"]
    attach = await client.post(
        f"/api/gpts/{own}/datasets", json={"dataset_id": str(secret.id)}, headers=headers
    )
    assert attach.status_code == 404, attach.text

    session.add(GptDataset(gpt_id=uuid.UUID(own), dataset_id=secret.id))  # attached under the old rule
    await session.commit()
    body = {"query": "vault combination", "mode": "keyword"}
    found = await client.post(f"/api/gpts/{own}/search", json=body, headers=headers)
    assert found.status_code == 200 and found.json()["data"] == []

    mine = await create_dataset(
        session, settings, builder, name="My notes", access="private", license=None,
        files={"notes.md": "My own vault combination is 12-12-2012."}, db=db,
    )  # fmt: skip
    team_gpt = await client.post(
        "/api/gpts", json={"name": "Team", "organization_id": str(organization.id)}, headers=headers
    )
    assert team_gpt.status_code == 201, team_gpt.text
    team_id = team_gpt.json()["id"]
    refused = await client.post(
        f"/api/gpts/{team_id}/datasets", json={"dataset_id": str(mine.id)}, headers=headers
    )
    assert refused.status_code == 404
    allowed = await client.post(
        f"/api/gpts/{team_id}/datasets", json={"dataset_id": str(secret.id)}, headers=headers
    )
    assert allowed.status_code == 201, allowed.text
    hits = (await client.post(f"/api/gpts/{team_id}/search", json=body, headers=headers)).json()["data"]
    assert [h["text"] for h in hits] == [text]


async def test_a_transfer_lets_go_of_private_datasets_the_new_owner_may_not_use(
    client, session, settings, db
):
    """Moved to a member, an organisation's GPT kept the organisation's private dataset attached: the new
    owner saw its id and name and could change the attachment. Moved into the organisation, a personal GPT
    kept its maker's private dataset. Open datasets stay."""
    from tests.datasets.factories import create_dataset

    organization, people = await create_team(session, settings)
    builder, admin = people["builder"], people["admin"]
    builder.plan = "plus"
    await session.commit()
    headers, admin_headers = auth_headers(builder, settings), auth_headers(admin, settings)
    team_private = await create_dataset(
        session, settings, builder, name="Org vault", organization_id=organization.id, access="private",
        license=None, files={"v.md": "The vault code is 31-07."}, db=db,
    )  # fmt: skip
    mine = await create_dataset(
        session, settings, builder, name="My notes", access="private", license=None,
        files={"n.md": "My notes."}, db=db,
    )  # fmt: skip
    shared = await create_dataset(
        session, settings, builder, name="Open maps", files={"m.md": "Maps."}, db=db
    )

    def attached(gpt_id: str):
        return client.get(f"/api/gpts/{gpt_id}/datasets", headers=headers)

    team_gpt = (
        await client.post(
            "/api/gpts", json={"name": "Team", "organization_id": str(organization.id)}, headers=headers
        )
    ).json()["id"]
    for dataset in (team_private, shared):
        added = await client.post(
            f"/api/gpts/{team_gpt}/datasets", json={"dataset_id": str(dataset.id)}, headers=headers
        )
        assert added.status_code == 201, added.text
    moved = await client.post(
        f"/api/gpts/{team_gpt}/transfer", json={"user_id": str(builder.id)}, headers=admin_headers
    )
    assert moved.status_code == 200, moved.text
    names = [d["name"] for d in (await attached(team_gpt)).json()["data"] if not d["home"]]
    assert names == ["Open maps"]

    own = (await client.post("/api/gpts", json={"name": "Mine"}, headers=headers)).json()["id"]
    for dataset in (mine, shared):
        added = await client.post(
            f"/api/gpts/{own}/datasets", json={"dataset_id": str(dataset.id)}, headers=headers
        )
        assert added.status_code == 201, added.text
    into = await client.post(
        f"/api/gpts/{own}/transfer", json={"organization_id": str(organization.id)}, headers=headers
    )
    assert into.status_code == 200, into.text
    listed = (await client.get(f"/api/gpts/{own}/datasets", headers=admin_headers)).json()["data"]
    assert [d["name"] for d in listed if not d["home"]] == ["Open maps"]


async def test_a_preview_conversation_is_its_authors_not_every_editors(client, session, settings):
    """Another editor of an organisation's GPT who has the id (a shared `?c=` link) neither reads nor
    continues one's preview conversation."""
    organization, people = await create_team(session, settings)
    builder, admin = people["builder"], people["admin"]
    builder.plan = "plus"
    await session.commit()
    headers, admin_headers = auth_headers(builder, settings), auth_headers(admin, settings)
    gpt_id = (
        await client.post(
            "/api/gpts", json={"name": "Team", "organization_id": str(organization.id)}, headers=headers
        )
    ).json()["id"]
    url = f"/api/gpts/{gpt_id}/preview/messages"
    mine = await client.post(url, json={"content": "my salary is 12345"}, headers=headers)
    assert mine.status_code == 200, mine.text
    conversation = mine.json()["conversation_id"]

    theirs = await client.post(
        url, json={"content": "what did I say?", "conversation_id": conversation}, headers=admin_headers
    )
    assert theirs.status_code == 404, theirs.text
    again = await client.post(
        url, json={"content": "and now?", "conversation_id": conversation}, headers=headers
    )
    assert again.status_code == 200, again.text
    own = await client.post(url, json={"content": "hello"}, headers=admin_headers)  # the admin's own works
    assert own.status_code == 200 and own.json()["conversation_id"] != conversation


async def test_a_member_is_told_the_role_for_an_organisations_gpts_stats_and_review_replies(
    client, session, settings
):
    organization, people = await create_team(session, settings)
    builder = auth_headers(people["builder"], settings)
    gpt = (
        await client.post(
            "/api/gpts", json={**FIELDS, "organization_id": str(organization.id)}, headers=builder
        )
    ).json()
    published = await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": "organisation"}, headers=builder
    )
    assert published.status_code == 201, published.text
    member = auth_headers(people["member"], settings)
    await create_conversation(session, people["member"], uuid.UUID(gpt["id"]))
    review = await client.put(
        f"/api/store/gpts/{gpt['id']}/rating", json={"stars": 4, "review": "Good fjords."}, headers=member
    )
    assert review.status_code in (200, 201), review.text

    stats = f"/api/gpts/{gpt['id']}/stats"
    assert (await client.get(stats, headers=builder)).status_code == 200
    refused = await client.get(stats, headers=member)  # a member knows the GPT (the docs' 403, not 404)
    assert refused.status_code == 403 and refused.json()["required_role"] == "builder", refused.text
    assert (await client.get(stats, headers=auth_headers(people["other"], settings))).status_code == 404

    reply = f"/api/store/gpts/{gpt['id']}/reviews/{review.json()['id']}/reply"
    refused = await client.post(reply, json={"text": "Thanks"}, headers=member)
    assert refused.status_code == 403 and refused.json()["required_role"] == "builder", refused.text
    assert (await client.post(reply, json={"text": "Thanks"}, headers=builder)).status_code == 201
