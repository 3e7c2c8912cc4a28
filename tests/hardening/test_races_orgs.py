"""Races in organisations: one invitation accepted at once by many, ownership handed on at once to many."""

from __future__ import annotations

import sqlalchemy as sa

from orgs.invitations import InvitationService
from orgs.models import OrganizationMember
from orgs.schemas import InvitationCreate, OrganizationCreate
from orgs.service import OrganizationService
from tests.factories import auth_headers
from tests.hardening.concurrency import PARALLEL, new_user, statuses, together


async def _organization(db, settings, owner, members=()):
    async with db.session_scope() as session:
        service = OrganizationService(session, settings)
        organization = await service.create(
            owner, OrganizationCreate(handle=f"race-{owner.id.hex[:8]}", name="Race")
        )
        for member in members:
            session.add(OrganizationMember(organization_id=organization.id, user_id=member.id, role="member"))
        return organization.id


async def _roles(db, organization_id) -> list[str]:
    async with db.session_scope() as session:
        return list(
            await session.scalars(
                sa.select(OrganizationMember.role).where(
                    OrganizationMember.organization_id == organization_id
                )
            )
        )


async def test_an_invitation_accepted_at_once_by_many_lets_one_in(race_client, race_db, race_settings):
    owner = await new_user(race_db, race_settings)
    organization_id = await _organization(race_db, race_settings, owner)
    async with race_db.session_scope() as session:
        invitation = await InvitationService(session, race_settings).invite(
            owner, organization_id, InvitationCreate(role="builder"), "http://testserver"
        )
    guests = [await new_user(race_db, race_settings) for _ in range(PARALLEL)]

    responses = await together(
        [
            race_client.post(
                f"/api/invitations/{invitation.token}/accept", headers=auth_headers(guest, race_settings)
            )
            for guest in guests
        ]
    )

    assert statuses(responses) == {200: 1, 410: PARALLEL - 1}
    assert sorted(await _roles(race_db, organization_id)) == ["builder", "owner"]


async def test_ownership_handed_to_many_at_once_leaves_one_owner(race_client, race_db, race_settings):
    owner = await new_user(race_db, race_settings, is_admin=False)  # a site admin may do it all
    members = [await new_user(race_db, race_settings) for _ in range(PARALLEL)]
    organization_id = await _organization(race_db, race_settings, owner, members)
    headers = auth_headers(owner, race_settings)

    responses = await together(
        [
            race_client.post(
                f"/api/organizations/{organization_id}/transfer", json={"user_id": str(m.id)}, headers=headers
            )
            for m in members
        ]
    )

    assert statuses(responses) == {200: 1, 403: PARALLEL - 1}  # then the owner is an admin
    roles = await _roles(race_db, organization_id)
    assert roles.count("owner") == 1 and roles.count("admin") == 1
