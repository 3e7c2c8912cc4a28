"""Organisations, members, invitations, the organisation's store page and its plan (site admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.deps import allowed_gpt
from builder.models import Gpt
from builder.schemas import GptRead, GptTransfer
from builder.service import GptService
from core.models import User
from core.pagination import Page
from core.params import URL_SAFE, Cursor, Limit
from core.settings import Settings
from orgs.deps import Membership, dependencies
from orgs.invitations import InvitationService, invitation_read
from orgs.schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationPreview,
    InvitationRead,
    MemberRead,
    MemberUpdate,
    OrganizationCreate,
    OrganizationPlanUpdate,
    OrganizationRead,
    OrganizationUpdate,
    OwnershipTransfer,
    PublicOrganization,
)
from orgs.service import OrganizationService
from orgs.transfers import GptTransferService

Token = Annotated[str, Parameter(min_length=20, max_length=100, pattern=URL_SAFE)]
Handle = Annotated[str, Parameter(min_length=1, max_length=40)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


class OrganizationController(Controller):
    path = "/api/organizations"
    tags = ["organizations"]
    dependencies = dependencies

    @post("/", status_code=201)
    async def create(
        self, data: OrganizationCreate, current_user: User, organizations: OrganizationService
    ) -> OrganizationRead:
        """A new organisation; the caller is its owner."""
        organization = await organizations.create(current_user, data)
        return await organizations.read(organization, "owner")

    @get("/")
    async def list_mine(
        self, current_user: User, organizations: OrganizationService
    ) -> Page[OrganizationRead]:
        """The caller's organisations with their role (all of them: one page)."""
        rows = await organizations.list_mine(current_user)
        return Page(data=[await organizations.read(org, role) for org, role in rows])

    @get("/{organization_id:uuid}")
    async def get_organization(
        self, organization_id: uuid.UUID, current_user: User, organizations: OrganizationService
    ) -> OrganizationRead:
        """An organisation the caller belongs to (404 for everyone else)."""
        organization, role = await organizations.membership(current_user, organization_id, "see_organization")
        return await organizations.read(organization, role)

    @patch("/{organization_id:uuid}", opt={"need": "update_organization"})
    async def update(
        self,
        membership: Membership,
        organization_id: uuid.UUID,
        data: OrganizationUpdate,
        current_user: User,
        organizations: OrganizationService,
    ) -> OrganizationRead:
        """Change name, handle, description or website (admins and the owner)."""
        organization = await organizations.update(current_user, organization_id, data)
        _, role = await organizations.membership(current_user, organization_id, "see_organization")
        return await organizations.read(organization, role)

    @delete("/{organization_id:uuid}", status_code=204)
    async def delete_organization(
        self, organization_id: uuid.UUID, current_user: User, organizations: OrganizationService
    ) -> None:
        """Delete the organisation (owner only); 409 while it owns GPTs."""
        await organizations.delete(current_user, organization_id)

    @get("/{organization_id:uuid}/members")
    async def members(
        self, organization_id: uuid.UUID, current_user: User, organizations: OrganizationService
    ) -> Page[MemberRead]:
        """Every member with their role, owner first (one page)."""
        return Page(data=await organizations.members(current_user, organization_id))

    @patch("/{organization_id:uuid}/members/{user_id:uuid}", opt={"need": "change_roles"})
    async def set_role(
        self,
        membership: Membership,
        organization_id: uuid.UUID,
        user_id: uuid.UUID,
        data: MemberUpdate,
        current_user: User,
        organizations: OrganizationService,
    ) -> MemberRead:
        """Change a member's role (admins: builders and members only; `owner` only by a transfer)."""
        return await organizations.set_role(current_user, organization_id, user_id, data.role)

    @delete("/{organization_id:uuid}/members/{user_id:uuid}", status_code=204)
    async def remove_member(
        self,
        organization_id: uuid.UUID,
        user_id: uuid.UUID,
        current_user: User,
        organizations: OrganizationService,
    ) -> None:
        """Remove a member (as `set_role`); one's own id is leaving."""
        await organizations.remove(current_user, organization_id, user_id)

    @post("/{organization_id:uuid}/leave", status_code=204)
    async def leave(
        self, organization_id: uuid.UUID, current_user: User, organizations: OrganizationService
    ) -> None:
        """Leave the organisation; the owner transfers ownership first (409)."""
        await organizations.leave(current_user, organization_id)

    @post("/{organization_id:uuid}/transfer", status_code=200, opt={"need": "transfer_ownership"})
    async def transfer(
        self,
        membership: Membership,
        organization_id: uuid.UUID,
        data: OwnershipTransfer,
        current_user: User,
        organizations: OrganizationService,
    ) -> OrganizationRead:
        """Make another member the owner (owner only); the previous owner becomes an admin."""
        await organizations.transfer_ownership(current_user, organization_id, data.user_id)
        organization, role = await organizations.membership(current_user, organization_id, "see_organization")
        return await organizations.read(organization, role)

    @post("/{organization_id:uuid}/invitations", status_code=201, opt={"need": "invite"})
    async def invite(
        self,
        membership: Membership,
        organization_id: uuid.UUID,
        data: InvitationCreate,
        request: Request,
        current_user: User,
        invitations: InvitationService,
    ) -> InvitationCreated:
        """An invitation link with a single-use token that expires (`GPTSTORE_INVITATION_DAYS`)."""
        return await invitations.invite(current_user, organization_id, data, base_url(request))

    @get("/{organization_id:uuid}/invitations")
    async def list_invitations(
        self, organization_id: uuid.UUID, current_user: User, invitations: InvitationService
    ) -> Page[InvitationRead]:
        """Every invitation with its status, newest first (one page; tokens are never shown again)."""
        rows = await invitations.invitations(current_user, organization_id)
        return Page(data=[invitation_read(row) for row in rows])

    @delete("/{organization_id:uuid}/invitations/{invitation_id:uuid}", status_code=204)
    async def revoke(
        self,
        organization_id: uuid.UUID,
        invitation_id: uuid.UUID,
        current_user: User,
        invitations: InvitationService,
    ) -> None:
        """Revoke a pending invitation."""
        await invitations.revoke(current_user, organization_id, invitation_id)


class InvitationController(Controller):
    path = "/api/invitations"
    tags = ["organizations"]
    dependencies = dependencies

    @get("/{token:str}")
    async def preview(
        self, token: Token, current_user: User, invitations: InvitationService
    ) -> InvitationPreview:
        """What an invitation offers: the organisation, the role, whether it can still be accepted and
        whether the caller may (`for_another_email`, `already_member`)."""
        return await invitations.preview(current_user, token)

    @post("/{token:str}/accept", status_code=200)
    async def accept(
        self,
        token: Token,
        current_user: User,
        invitations: InvitationService,
        organizations: OrganizationService,
    ) -> OrganizationRead:
        """Join with the invitation's role; 410 once used, revoked or expired."""
        organization, role = await invitations.accept(current_user, token)
        return await organizations.read(organization, role)


class OrganizationPageController(Controller):
    path = "/api/store/organizations"
    tags = ["organizations"]
    dependencies = dependencies

    @get("/{handle:str}")
    async def page(self, handle: Handle, organizations: OrganizationService) -> PublicOrganization:
        """An organisation's profile and its GPTs listed in the store (anyone)."""
        return await organizations.public_page(handle)


class GptTransferController(Controller):
    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["gpts"]
    dependencies = {"allowed": Provide(allowed_gpt)}

    @post("/transfer", status_code=200, opt={"need": "manage"})
    async def transfer(
        self,
        allowed: Gpt,
        gpt_id: uuid.UUID,
        data: GptTransfer,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> GptRead:
        """Move the GPT to an organisation (`organization_id`) or to a member of its organisation
        (`user_id`); versions, ratings and stats stay with it (docs/organisations.md says who may)."""
        gpt = await GptTransferService(db_session, settings, redis).transfer(current_user, gpt_id, data)
        return await GptService(db_session, settings).read(gpt)


class OrganizationAdminController(Controller):
    path = "/api/admin/organizations"
    tags = ["admin"]
    dependencies = dependencies

    @get("/")
    async def search_organizations(
        self,
        site_admin: User,
        organizations: OrganizationService,
        q: str | None = Parameter(default=None, max_length=320),
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[OrganizationRead]:
        """Organisations, newest first, with their plans; `q` matches part of the handle or name. Site
        administrators only (403)."""
        rows, next_cursor = await organizations.search(q, limit, cursor)
        return Page(data=rows, next_cursor=next_cursor)

    @patch("/{organization_id:uuid}")
    async def set_plan(
        self,
        organization_id: uuid.UUID,
        data: OrganizationPlanUpdate,
        site_admin: User,
        organizations: OrganizationService,
    ) -> OrganizationRead:
        """Give an organisation a plan (`team`: its builders create GPTs); site administrators only."""
        organization = await organizations.set_plan(organization_id, data.plan)
        return await organizations.read(organization, None)


route_handlers = [
    OrganizationController,
    InvitationController,
    OrganizationPageController,
    OrganizationAdminController,
    GptTransferController,
]
