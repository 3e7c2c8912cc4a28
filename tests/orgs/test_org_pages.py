"""The organisation pages over HTTP: create, settings, members, invitations, accept, the public page."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from orgs.models import Organization, OrganizationMember
from tests.asgi import app_client_for
from tests.factories import create_user
from tests.orgs.factories import create_team
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, csrf, log_in


async def _post(client: httpx.AsyncClient, path: str, **form) -> httpx.Response:
    token = await csrf(client, "/organizations")
    return await client.post(path, data={**form, "csrf_token": token}, headers=HTML)


async def test_a_user_creates_an_organisation_and_invites_someone_who_accepts(
    client, session, settings, db, redis
):
    owner = await create_user(session, settings)
    await log_in(client, owner.email)
    refused = await _post(client, "/organizations", name="", handle="x")
    assert refused.status_code == 422
    assert 'id="e-handle"' in refused.text and 'id="e-name"' in refused.text
    created = await _post(client, "/organizations", name="Fjord Tours", handle="Fjord", website="")
    assert created.status_code == 303, created.text
    page_url = created.headers["location"]
    page = await client.get(page_url, headers=HTML)
    assert "your role: <strong>owner</strong>" in page.text

    posted = await _post(client, f"{page_url}/invitations", role="builder", email="")
    assert posted.status_code == 303, posted.text
    invited = await client.get(posted.headers["location"], headers=HTML)
    link = re.search(r'id="invitation-link" readonly value="([^"]+)"', invited.text).group(1)
    again = await client.get(posted.headers["location"], headers=HTML)  # a reload: shown once, none made
    assert link not in again.text and 'id="invitation-link"' not in again.text
    assert "/invitations/" in link and "data-copy=" in invited.text

    guest = await create_user(session, settings, display_name="Guest")
    async with app_client_for(settings, db=db, redis=redis) as other:  # a second browser
        await log_in(other, guest.email)
        path = "/invitations/" + link.rsplit("/", 1)[1]
        offer = await other.get(path, headers=HTML)
        assert "as <strong>builder</strong>" in offer.text
        addressed = await _post(client, f"{page_url}/invitations", role="member", email="someone@example.com")
        shown = await client.get(addressed.headers["location"], headers=HTML)
        for_someone = re.search(r'id="invitation-link" readonly value="([^"]+)"', shown.text).group(1)
        elsewhere = await other.get("/invitations/" + for_someone.rsplit("/", 1)[1], headers=HTML)
        assert "for another e-mail address" in elsewhere.text and "Accept invitation" not in elsewhere.text
        token = await csrf(other, path)
        joined = await other.post(path, data={"csrf_token": token}, headers=HTML)
        assert joined.status_code == 303 and joined.headers["location"].endswith("?done=joined")
        again = await other.post(path, data={"csrf_token": token}, headers=HTML)
        assert again.status_code == 410 and "accepted" in again.text

    role = await session.scalar(
        sa.select(OrganizationMember.role).where(OrganizationMember.user_id == guest.id)
    )
    assert role == "builder"
    listed = await client.get(page_url, headers=HTML)
    assert "Guest" in listed.text and "accepted" in listed.text


async def test_role_forms_and_their_refusals(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id, handle = organization.id, organization.handle
    await log_in(client, people["admin"].email)
    url = f"/organizations/{org_id}"
    page = await client.get(url, headers=HTML)
    assert f'action="{url}/members/{people["member"].id}/role"' in page.text
    assert f'action="{url}/members/{people["owner"].id}/role"' not in page.text  # no form for the owner
    assert 'action="' + url + '/delete"' not in page.text  # only the owner deletes

    refused = await _post(client, f"{url}/members/{people['builder'].id}/role", role="admin")
    assert refused.status_code == 403
    changed = await _post(client, f"{url}/members/{people['member'].id}/role", role="builder")
    assert changed.status_code == 303
    rows = dict(
        (await session.execute(
            sa.select(OrganizationMember.user_id, OrganizationMember.role).where(
                OrganizationMember.organization_id == org_id
            )
        )).all()
    )  # fmt: skip
    assert rows[people["builder"].id] == "builder" and rows[people["member"].id] == "builder"

    saved = await _post(
        client, f"{url}/settings", name="Fjord Trips", handle=handle, website="nope", description=""
    )
    assert saved.status_code == 422 and 'id="e-website"' in saved.text
    assert (
        await session.scalar(sa.select(Organization.name).where(Organization.id == org_id)) == "Fjord Tours"
    )

    # A member below the role is told so (403), not what is wrong with the form they sent.
    await log_in(client, people["member"].email)
    below = await _post(client, f"{url}/settings", name="", handle="!", website="nope", description="")
    assert below.status_code == 403 and "admin" in below.text and 'id="e-website"' not in below.text
    invite = await _post(client, f"{url}/invitations", role="emperor", email="not-an-address")
    assert invite.status_code == 403

    await log_in(client, people["other"].email)
    assert (await client.get(url, headers=HTML)).status_code == 404


async def test_an_admin_is_offered_only_the_role_changes_they_may_make(client, session, settings):
    organization, people = await create_team(session, settings)
    second = await create_user(session, settings, display_name="Second Admin")
    session.add(OrganizationMember(organization_id=organization.id, user_id=second.id, role="admin"))
    await session.commit()
    url = f"/organizations/{organization.id}"
    await log_in(client, people["admin"].email)
    page = await client.get(url, headers=HTML)
    assert f'action="{url}/members/{people["builder"].id}/role"' in page.text
    assert f'action="{url}/members/{second.id}/role"' not in page.text  # an admin changes no admin
    assert f'action="{url}/members/{second.id}/remove"' not in page.text
    member_form = page.text.split(f'action="{url}/members/{people["member"].id}/role"')[1].split("</form>")[0]
    assert '<option value="builder"' in member_form and '<option value="admin"' not in member_form
    invite_form = page.text.split(f'action="{url}/invitations"')[1].split("</form>")[0]
    assert '<option value="admin"' in invite_form  # admins still invite admins

    await log_in(client, people["owner"].email)
    page = await client.get(url, headers=HTML)
    assert f'action="{url}/members/{second.id}/role"' in page.text


async def test_the_public_page_lists_the_organisations_gpts(client, session, settings):
    organization, people = await create_team(session, settings, description="Boat trips on the fjords")
    listing = await create_published_gpt(session, people["builder"], name="Fjord Guide")
    listing.organization_id = organization.id
    await session.commit()
    page = await client.get(f"/o/{organization.handle.upper()}", headers=HTML)
    assert page.status_code == 200
    assert "Boat trips on the fjords" in page.text and f'href="/g/{listing.gpt_id}"' in page.text
    assert (await client.get("/o/no-such-org", headers=HTML)).status_code == 404


async def test_a_refused_invitation_keeps_what_was_typed(client, session, settings):
    organization, people = await create_team(session, settings)
    await log_in(client, people["owner"].email)
    url = f"/organizations/{organization.id}"
    refused = await _post(client, f"{url}/invitations", role="admin", email="guide at fjord")
    assert refused.status_code == 422 and 'id="e-invite-email"' in refused.text
    assert 'value="guide at fjord"' in refused.text and '<option value="admin" selected>' in refused.text
