"""Organisations and their members, made through the service as the API makes them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from orgs.models import Organization, OrganizationMember
from orgs.schemas import OrganizationCreate
from orgs.service import OrganizationService
from tests.factories import create_user


async def create_organization(
    session: AsyncSession,
    settings: Settings,
    owner: User,
    *,
    members: dict[str, User] | None = None,
    **fields,
) -> Organization:
    """An organisation owned by `owner`, with `members` ({role: user}) added directly."""
    data = {"handle": f"org-{owner.id.hex[:8]}", "name": "Fjord Tours", **fields}
    organization = await OrganizationService(session, settings).create(owner, OrganizationCreate(**data))
    for role, user in (members or {}).items():
        session.add(OrganizationMember(organization_id=organization.id, user_id=user.id, role=role))
    await session.flush()
    await session.commit()
    return organization


async def create_team(
    session: AsyncSession, settings: Settings, **fields
) -> tuple[Organization, dict[str, User]]:
    """An organisation on the `team` plan with one user of each role, and an outsider ("other")."""
    people = {
        role: await create_user(session, settings, display_name=role.title(), plan="free", is_admin=False)
        for role in ("owner", "admin", "builder", "member", "other")
    }
    organization = await create_organization(
        session,
        settings,
        people["owner"],
        members={role: people[role] for role in ("admin", "builder", "member")},
        **fields,
    )
    organization.plan = "team"
    await session.commit()
    return organization, people
