"""Providers of the organisation routes."""

from __future__ import annotations

from litestar.di import Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from orgs.invitations import InvitationService
from orgs.service import OrganizationService


def provide_organizations(db_session: AsyncSession, settings: Settings, redis: Redis) -> OrganizationService:
    return OrganizationService(db_session, settings, redis)


def provide_invitations(db_session: AsyncSession, settings: Settings, redis: Redis) -> InvitationService:
    return InvitationService(db_session, settings, redis)  # Redis counts its rate limits


dependencies = {
    "organizations": Provide(provide_organizations, sync_to_thread=False),
    "invitations": Provide(provide_invitations, sync_to_thread=False),
}
