"""Providers of the organisation routes."""

from __future__ import annotations

from litestar.di import Provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from orgs.service import OrganizationService


def provide_organizations(db_session: AsyncSession, settings: Settings, redis: Redis) -> OrganizationService:
    return OrganizationService(db_session, settings, redis)


dependencies = {"organizations": Provide(provide_organizations, sync_to_thread=False)}
