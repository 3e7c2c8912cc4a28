"""Organisations through the HTTP API: create, read, change, delete, members, roles, ownership."""

from __future__ import annotations

import sqlalchemy as sa

from orgs.models import Organization, OrganizationMember
from tests.factories import auth_headers, create_user
from tests.orgs.factories import create_team


async def _roles(session, organization_id) -> dict:
    rows = await session.execute(
        sa.select(OrganizationMember.user_id, OrganizationMember.role).where(
            OrganizationMember.organization_id == organization_id
        )
    )
    return dict(rows.all())


async def test_a_user_creates_an_organisation_and_becomes_its_owner(client, session, settings):
    user = await create_user(session, settings)
    headers = auth_headers(user, settings)
    created = await client.post(
        "/api/organizations",
        json={"handle": "Fjord-Tours", "name": "Fjord Tours", "website": "https://fjord.example"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["handle"], body["role"], body["plan"], body["members"]) == (
        "Fjord-Tours",
        "owner",
        "free",
        1,
    )
    assert (await client.get(f"/api/organizations/{body['id']}", headers=headers)).json()[
        "name"
    ] == "Fjord Tours"
    mine = (await client.get("/api/organizations", headers=headers)).json()
    assert [o["handle"] for o in mine["data"]] == ["Fjord-Tours"]

    # Handles are unique whatever their case.
    other = auth_headers(await create_user(session, settings), settings)
    taken = await client.post(
        "/api/organizations", json={"handle": "fjord-TOURS", "name": "X"}, headers=other
    )
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["field"] == "handle"
    bad = await client.post("/api/organizations", json={"handle": "-no", "name": ""}, headers=other)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"handle", "name"}
    assert await session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 1


async def test_non_members_get_404_and_low_roles_403_with_nothing_changed(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    url = f"/api/organizations/{org_id}"
    for who in ("other",):
        headers = auth_headers(people[who], settings)
        assert (await client.get(url, headers=headers)).status_code == 404
        assert (await client.get(f"{url}/members", headers=headers)).status_code == 404
        assert (await client.patch(url, json={"name": "Taken"}, headers=headers)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.get(url)).status_code == 401
    for who in ("builder", "member"):
        refused = await client.patch(url, json={"name": "Taken"}, headers=auth_headers(people[who], settings))
        assert refused.status_code == 403
        assert refused.json()["required_role"] == "admin"
    refused = await client.delete(url, headers=auth_headers(people["admin"], settings))
    assert refused.status_code == 403
    assert (
        await session.scalar(sa.select(Organization.name).where(Organization.id == org_id)) == "Fjord Tours"
    )

    changed = await client.patch(
        url,
        json={"name": "Fjord Trips", "description": "Boats", "website": None},
        headers=auth_headers(people["admin"], settings),
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["role"]) == ("Fjord Trips", "admin")
    members = (await client.get(f"{url}/members", headers=auth_headers(people["member"], settings))).json()
    assert [m["role"] for m in members["data"]] == ["owner", "admin", "builder", "member"]

    assert (await client.delete(url, headers=auth_headers(people["owner"], settings))).status_code == 204
    assert await session.scalar(sa.select(Organization.id).where(Organization.id == org_id)) is None


async def test_roles_change_only_below_ones_own(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    url = f"/api/organizations/{org_id}/members"
    admin = auth_headers(people["admin"], settings)
    before = await _roles(session, org_id)

    # An admin changes builders and members, never other admins, the owner, or anyone to admin.
    for target, role, status in [
        ("owner", "member", 409),
        ("builder", "admin", 403),
        ("admin", "member", 403),
    ]:
        refused = await client.patch(f"{url}/{people[target].id}", json={"role": role}, headers=admin)
        assert refused.status_code == status, (target, role, refused.text)
    assert (
        await client.patch(f"{url}/{people['member'].id}", json={"role": "owner"}, headers=admin)
    ).status_code == 422
    assert (await client.delete(f"{url}/{people['owner'].id}", headers=admin)).status_code == 409
    member = auth_headers(people["member"], settings)
    assert (await client.delete(f"{url}/{people['builder'].id}", headers=member)).status_code == 403
    assert await _roles(session, org_id) == before

    promoted = await client.patch(f"{url}/{people['member'].id}", json={"role": "builder"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["role"] == "builder"
    owner = auth_headers(people["owner"], settings)
    made_admin = await client.patch(f"{url}/{people['builder'].id}", json={"role": "admin"}, headers=owner)
    assert made_admin.json()["role"] == "admin"
    assert (await client.delete(f"{url}/{people['member'].id}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/organizations/{org_id}", headers=member)).status_code == 404


async def test_leaving_and_transferring_ownership_keep_exactly_one_owner(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    url = f"/api/organizations/{org_id}"
    owner = auth_headers(people["owner"], settings)
    refused = await client.post(f"{url}/leave", headers=owner)
    assert refused.status_code == 409 and "transfer" in refused.json()["detail"]
    admin = auth_headers(people["admin"], settings)
    assert (
        await client.post(f"{url}/transfer", json={"user_id": str(people["builder"].id)}, headers=admin)
    ).status_code == 403
    outsider = await client.post(f"{url}/transfer", json={"user_id": str(people["other"].id)}, headers=owner)
    assert outsider.status_code == 422 and outsider.json()["errors"][0]["field"] == "user_id"
    assert (await _roles(session, org_id))[people["owner"].id] == "owner"

    moved = await client.post(f"{url}/transfer", json={"user_id": str(people["builder"].id)}, headers=owner)
    assert moved.status_code == 200, moved.text
    assert moved.json()["role"] == "admin"
    roles = await _roles(session, org_id)
    assert [user for user, role in roles.items() if role == "owner"] == [people["builder"].id]
    assert roles[people["owner"].id] == "admin"
    assert (await client.post(f"{url}/leave", headers=owner)).status_code == 204
    assert (await client.post(f"{url}/leave", headers=owner)).status_code == 404
    assert people["owner"].id not in await _roles(session, org_id)


async def test_site_admins_set_an_organisations_plan(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    url = f"/api/admin/organizations/{org_id}"
    refused = await client.patch(url, json={"plan": "free"}, headers=auth_headers(people["owner"], settings))
    assert refused.status_code == 403
    admin = await create_user(session, settings, is_admin=True)
    changed = await client.patch(url, json={"plan": "free"}, headers=auth_headers(admin, settings))
    assert changed.status_code == 200 and changed.json()["plan"] == "free"
    assert (
        await client.patch(url, json={"plan": "gold"}, headers=auth_headers(admin, settings))
    ).status_code == 422


async def test_an_organisation_that_owns_datasets_is_not_deleted(client, session, settings):
    """A 409 naming the datasets, as for GPTs (it was a 500 from the foreign key), in the API and the page."""
    from retrieval.models import Dataset
    from tests.datasets.factories import create_dataset
    from tests.web.test_pages import HTML, log_in

    organization, people = await create_team(session, settings)
    dataset = await create_dataset(session, settings, people["owner"], organization_id=organization.id)
    owner = auth_headers(people["owner"], settings)
    refused = await client.delete(f"/api/organizations/{organization.id}", headers=owner)
    assert refused.status_code == 409 and refused.json()["datasets"] == 1, refused.text
    await log_in(client, people["owner"].email)
    before = await client.get(f"/organizations/{organization.id}", headers=HTML)
    assert "still owns GPTs or datasets is not deleted" in before.text  # said before the owner tries
    page = await client.post(
        f"/organizations/{organization.id}/delete", data={"csrf_token": client.cookies.get("gptstore_csrf")},
        headers=HTML,
    )  # fmt: skip
    assert page.status_code == 409 and "dataset" in page.text
    await session.delete(await session.get(Dataset, dataset.id))
    await session.commit()
    assert (await client.delete(f"/api/organizations/{organization.id}", headers=owner)).status_code == 204
