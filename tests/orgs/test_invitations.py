"""Invitations: a single-use, expiring link; optionally e-mailed through a local SMTP server."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from orgs import access
from orgs.invitations import token_digest
from orgs.models import OrganizationInvitation, OrganizationMember
from tests.factories import auth_headers, create_user
from tests.orgs.factories import create_team


async def _invite(client, org_id, user, settings, **body):
    return await client.post(
        f"/api/organizations/{org_id}/invitations", json=body, headers=auth_headers(user, settings)
    )


async def _members(session, org_id) -> int:
    return await session.scalar(
        sa.select(sa.func.count()).where(OrganizationMember.organization_id == org_id)
    )


async def test_an_invitation_link_is_used_once(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    created = await _invite(client, org_id, people["admin"], settings, role="builder")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"].endswith(f"/invitations/{body['token']}") and body["status"] == "pending"
    assert not body["emailed"]
    stored = await session.get(OrganizationInvitation, body["id"])
    assert stored.token_hash == token_digest(body["token"]) and body["token"] not in stored.token_hash

    newcomer = await create_user(session, settings)
    headers = auth_headers(newcomer, settings)
    preview = await client.get(f"/api/invitations/{body['token']}", headers=headers)
    assert preview.json()["role"] == "builder" and preview.json()["status"] == "pending"
    accepted = await client.post(f"/api/invitations/{body['token']}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "builder"

    again = await client.post(
        f"/api/invitations/{body['token']}/accept", headers=auth_headers(people["other"], settings)
    )
    assert again.status_code == 410 and "accepted" in again.json()["detail"]
    listed = await client.get(
        f"/api/organizations/{org_id}/invitations", headers=auth_headers(people["owner"], settings)
    )
    assert [i["status"] for i in listed.json()["data"]] == ["accepted"]
    assert "token" not in listed.json()["data"][0]
    assert (await client.post("/api/invitations/" + "x" * 43 + "/accept", headers=headers)).status_code == 404


async def test_revoked_expired_and_addressed_invitations_are_refused(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    outsider = auth_headers(people["other"], settings)
    count = await _members(session, org_id)

    revoked = (await _invite(client, org_id, people["owner"], settings)).json()
    url = f"/api/organizations/{org_id}/invitations/{revoked['id']}"
    assert (await client.delete(url, headers=auth_headers(people["builder"], settings))).status_code == 403
    assert (await client.delete(url, headers=auth_headers(people["admin"], settings))).status_code == 204
    assert (await client.delete(url, headers=auth_headers(people["admin"], settings))).status_code == 409
    refused = await client.post(f"/api/invitations/{revoked['token']}/accept", headers=outsider)
    assert refused.status_code == 410 and refused.json()["status_reason"] == "revoked"

    expired = (await _invite(client, org_id, people["owner"], settings)).json()
    row = await session.get(OrganizationInvitation, expired["id"])
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.commit()
    refused = await client.post(f"/api/invitations/{expired['token']}/accept", headers=outsider)
    assert refused.status_code == 410 and refused.json()["status_reason"] == "expired"

    addressed = (await _invite(client, org_id, people["owner"], settings, email="Someone@Example.com")).json()
    assert addressed["email"] == "someone@example.com"
    preview = (await client.get(f"/api/invitations/{addressed['token']}", headers=outsider)).json()
    assert (preview["for_another_email"], preview["already_member"]) == (True, False)  # said before trying
    refused = await client.post(f"/api/invitations/{addressed['token']}/accept", headers=outsider)
    assert refused.status_code == 403
    member = auth_headers(people["member"], settings)
    mine = (await _invite(client, org_id, people["owner"], settings)).json()
    preview = (await client.get(f"/api/invitations/{mine['token']}", headers=member)).json()
    assert (preview["for_another_email"], preview["already_member"]) == (False, True)
    assert (await client.post(f"/api/invitations/{mine['token']}/accept", headers=member)).status_code == 409
    assert await _members(session, org_id) == count
    assert (
        await session.scalar(
            sa.select(OrganizationInvitation.accepted_at).where(OrganizationInvitation.id == mine["id"])
        )
        is None
    )

    someone = await create_user(session, settings, email="someone@example.com")
    preview = await client.get(
        f"/api/invitations/{addressed['token']}", headers=auth_headers(someone, settings)
    )
    assert (preview.json()["for_another_email"], preview.json()["already_member"]) == (False, False)
    joined = await client.post(
        f"/api/invitations/{addressed['token']}/accept", headers=auth_headers(someone, settings)
    )
    assert joined.status_code == 200


async def test_who_may_invite(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    for who in ("builder", "member"):
        assert (await _invite(client, org_id, people[who], settings)).status_code == 403
    assert (await _invite(client, org_id, people["other"], settings)).status_code == 404
    too_high = await _invite(client, org_id, people["admin"], settings, role="owner")
    assert too_high.status_code == 422 and too_high.json()["errors"][0]["field"] == "role"
    assert (await _invite(client, org_id, people["admin"], settings, role="admin")).status_code == 201
    assert (
        await _invite(client, org_id, people["owner"], settings, email="not an address")
    ).status_code == 422


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A local SMTP server (aiosmtpd) on a free loopback port, collecting what it receives."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


async def test_an_invitation_is_emailed_through_the_configured_smtp_server(
    client, session, settings, smtp_server
):
    port, inbox = smtp_server
    settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", port, "none"
    organization, people = await create_team(session, settings)
    org_id = organization.id
    created = await _invite(client, org_id, people["owner"], settings, email="guest@example.com")
    assert created.status_code == 201, created.text
    assert created.json()["emailed"] is True
    [(recipients, message)] = inbox.messages
    assert recipients == ["guest@example.com"]
    assert organization.name in message["Subject"]
    assert created.json()["url"] in message.get_content()


async def test_a_failed_email_keeps_no_invitation(client, session, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", closed_port, "none"
    settings.smtp_timeout_seconds = 2
    organization, people = await create_team(session, settings)
    org_id = organization.id
    failed = await _invite(client, org_id, people["owner"], settings, email="guest@example.com")
    assert failed.status_code == 502 and "SMTP" in failed.json()["detail"]
    count = await session.scalar(
        sa.select(sa.func.count()).where(OrganizationInvitation.organization_id == org_id)
    )
    assert count == 0


async def test_creating_invitations_is_rate_limited_per_user_and_per_organisation(
    client, session, settings, redis
):
    """Past `orgs/data/limits.toml` `create.per_user` in its window, a 429 problem names the limit, with
    `Retry-After`, and keeps no invitation; `create.per_organization` counts everyone's invitations."""
    from orgs.invitations import invitation_limits

    limits = invitation_limits()["create"]
    organization, people = await create_team(session, settings)
    for _ in range(limits["per_user"]):
        assert (
            await _invite(client, organization.id, people["admin"], settings, role="member")
        ).status_code == 201
    refused = await _invite(client, organization.id, people["admin"], settings, role="member")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["limit"] == "create.per_user" and int(refused.headers["retry-after"]) > 0
    count = sa.select(sa.func.count()).where(OrganizationInvitation.organization_id == organization.id)
    assert await session.scalar(count) == limits["per_user"]
    # The owner has invited no one yet: refused only once the organisation's own count is used up.
    assert (
        await _invite(client, organization.id, people["owner"], settings, role="member")
    ).status_code == 201
    await redis.set(f"gptstore:rate:invitation create:{organization.id}", limits["per_organization"], ex=60)
    by_org = await _invite(client, organization.id, people["owner"], settings, role="member")
    assert by_org.status_code == 429 and by_org.json()["limit"] == "create.per_organization"


async def test_accepting_invitations_is_rate_limited_per_user(client, session, settings):
    """Guessed, used or expired links count: past `accept.per_user`, even a good link is a 429 (nothing
    joins), naming the limit."""
    from orgs.invitations import invitation_limits

    organization, people = await create_team(session, settings)
    link = (await _invite(client, organization.id, people["admin"], settings, role="member")).json()
    guesser = await create_user(session, settings)
    headers = auth_headers(guesser, settings)
    for n in range(invitation_limits()["accept"]["per_user"]):
        guess = await client.post(f"/api/invitations/{n:043d}/accept", headers=headers)
        assert guess.status_code == 404
    refused = await client.post(f"/api/invitations/{link['token']}/accept", headers=headers)
    assert refused.status_code == 429 and refused.json()["limit"] == "accept.per_user"
    assert await _members(session, organization.id) == 4  # owner, admin, builder, member: no one joined
    other = await client.post(
        f"/api/invitations/{link['token']}/accept", headers=auth_headers(people["other"], settings)
    )
    assert other.status_code == 200  # another user's count is its own


async def test_an_invitation_outlives_no_ones_rights(client, session, settings):
    organization, people = await create_team(session, settings)
    org_id = organization.id
    owner = auth_headers(people["owner"], settings)
    admin_links = [
        (await _invite(client, org_id, people["admin"], settings, role=r)).json() for r in ("admin", "member")
    ]
    second = await create_user(session, settings)
    session.add(OrganizationMember(organization_id=org_id, user_id=second.id, role="admin"))
    await session.commit()
    second_links = [
        (await _invite(client, org_id, second, settings, role=r)).json() for r in ("admin", "builder")
    ]

    # Removed, the admin cannot come back (nor send anyone) through a link made before.
    removed = await client.delete(f"/api/organizations/{org_id}/members/{people['admin'].id}", headers=owner)
    assert removed.status_code == 204
    for link in admin_links:
        back = await client.post(
            f"/api/invitations/{link['token']}/accept", headers=auth_headers(people["admin"], settings)
        )
        assert back.status_code == 410 and back.json()["status_reason"] == "revoked", back.text
    # Demoted to builder, an admin's admin link dies and so does the builder link (builders do not invite).
    demoted = await client.patch(
        f"/api/organizations/{org_id}/members/{second.id}", json={"role": "builder"}, headers=owner
    )
    assert demoted.status_code == 200
    listed = await client.get(f"/api/organizations/{org_id}/invitations", headers=owner)
    assert {i["status"] for i in listed.json()["data"]} == {"revoked"}
    refused = await client.post(
        f"/api/invitations/{second_links[0]['token']}/accept",
        headers=auth_headers(people["other"], settings),
    )
    assert refused.status_code == 410
    assert await access.role_in(session, people["admin"], org_id) is None
    assert await access.role_in(session, people["other"], org_id) is None


async def test_a_link_made_by_someone_who_lost_the_role_is_refused(client, session, settings):
    """Links made before their maker lost the role (no revocation then) are refused when accepted."""
    organization, people = await create_team(session, settings)
    link = (await _invite(client, organization.id, people["admin"], settings, role="admin")).json()
    member = await session.get(OrganizationMember, (organization.id, people["admin"].id))
    member.role = "member"  # as an older release left it: the role changed, the link still pending
    await session.commit()
    refused = await client.post(
        f"/api/invitations/{link['token']}/accept", headers=auth_headers(people["other"], settings)
    )
    assert refused.status_code == 410 and refused.json()["status_reason"] == "revoked"
    assert await access.role_in(session, people["other"], organization.id) is None
    preview = await client.get(
        f"/api/invitations/{link['token']}", headers=auth_headers(people["other"], settings)
    )
    assert preview.json()["status"] == "revoked"  # the page offers no button that would refuse
