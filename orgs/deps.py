"""Providers of the organisation routes."""

from __future__ import annotations

import uuid

from litestar import Request
from litestar.di import Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from orgs.invitations import InvitationService
from orgs.models import Organization
from orgs.service import OrganizationService


def provide_organizations(db_session: AsyncSession, settings: Settings, redis: Redis) -> OrganizationService:
    return OrganizationService(db_session, settings, redis)


def provide_invitations(db_session: AsyncSession, settings: Settings, redis: Redis) -> InvitationService:
    return InvitationService(db_session, settings, redis)  # Redis counts its rate limits


Membership = tuple[Organization, str | None]


async def provide_membership(
    request: Request, organization_id: uuid.UUID, current_user: User, organizations: OrganizationService
) -> Membership:
    """The organisation and the caller's role if it allows the route's `opt["need"]`
    (`OrganizationService.membership`: 404 for non-members, 403 naming the role). A provider, so the
    check runs before the body is validated (litestar resolves dependencies first): a member below the
    role is told so, not what is wrong with what they sent. The service checks again under its lock."""
    return await organizations.membership(current_user, organization_id, request.route_handler.opt["need"])


dependencies = {
    "organizations": Provide(provide_organizations, sync_to_thread=False),
    "invitations": Provide(provide_invitations, sync_to_thread=False),
    "membership": Provide(provide_membership),
}
