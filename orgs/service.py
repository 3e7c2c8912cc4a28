"""Organisations: create and change them, members and their roles, ownership, invitations, the public page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.concurrency import serialize, unique_or_conflict
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import User
from core.pagination import keyset_page
from core.settings import Settings
from orgs import access
from orgs.models import Organization, OrganizationInvitation, OrganizationMember
from orgs.schemas import (
    MemberRead,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
    PublicGpt,
    PublicOrganization,
)
from retrieval.models import Dataset
from store.models import Listing
from store.service import StoreService

NO_SUCH_ORGANIZATION = "No such organisation"


class OrganizationService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis  # drops cached store pages when the organisation's name or handle changes

    # Looking up, with the caller's role ---------------------------------------------------------------

    async def membership(
        self, user: User, organization_id: uuid.UUID, action: str, *, lock: bool = False
    ) -> tuple[Organization, str | None]:
        """The organisation and the caller's role, if the caller may do `action` there.

        Not a member (and no site administrator): 404, so organisations cannot be probed. A member whose
        role is too low: 403 naming the role needed. `lock` makes the organisation's member changes take
        turns (one owner, ranks checked against current roles).
        """
        if lock:
            await serialize(self.session, "organization", organization_id)
        organization = await self.session.get(Organization, organization_id)
        role = await access.role_in(self.session, user, organization_id) if organization else None
        if organization is None or (role is None and not user.is_admin):
            raise NotFound(NO_SUCH_ORGANIZATION)
        if not user.is_admin and not access.allows(role, action):
            needed = access.needed_role(action)
            raise Forbidden(
                f"This needs the role '{needed}' or higher in the organisation; yours is '{role}'",
                required_role=needed,
            )
        return organization, role

    async def read(self, organization: Organization, role: str | None) -> OrganizationRead:
        members = await self.session.scalar(
            sa.select(sa.func.count()).where(OrganizationMember.organization_id == organization.id)
        )
        return _read(organization, role, members or 0)

    async def search(
        self, q: str | None, limit: int, cursor: str | None
    ) -> tuple[list[OrganizationRead], str | None]:
        """One page of organisations for site administrators, newest first; `q` matches part of the
        handle or name (case-insensitive, `%` and `_` taken literally). Two statements, whatever the page."""
        query = sa.select(Organization)
        if q and q.strip():
            term = q.strip()
            query = query.where(
                sa.or_(
                    Organization.handle.icontains(term, autoescape=True),
                    Organization.name.icontains(term, autoescape=True),
                )
            )
        rows, next_cursor = await keyset_page(
            self.session, query, Organization.created_at, Organization.id, limit=limit, cursor=cursor
        )
        counts: dict[uuid.UUID, int] = {}
        if rows:
            counted = await self.session.execute(
                sa.select(OrganizationMember.organization_id, sa.func.count())
                .where(OrganizationMember.organization_id.in_([row.id for row in rows]))
                .group_by(OrganizationMember.organization_id)
            )
            counts = {organization_id: count for organization_id, count in counted}
        return [_read(row, None, counts.get(row.id, 0)) for row in rows], next_cursor

    async def by_handle(self, handle: str) -> Organization:
        organization = await self.session.scalar(
            sa.select(Organization).where(sa.func.lower(Organization.handle) == handle.lower())
        )
        if organization is None:
            raise NotFound(NO_SUCH_ORGANIZATION)
        return organization

    # The organisation ---------------------------------------------------------------------------------

    async def _check_handle_free(self, handle: str, other_than: uuid.UUID | None = None) -> None:
        query = sa.select(Organization.id).where(sa.func.lower(Organization.handle) == handle.lower())
        if other_than is not None:
            query = query.where(Organization.id != other_than)
        if await self.session.scalar(query) is not None:
            raise Conflict(
                "This organisation handle is taken", errors=[{"field": "handle", "message": "taken"}]
            )

    async def create(self, user: User, data: OrganizationCreate) -> Organization:
        """A new organisation whose owner is the caller."""
        organization = Organization(
            handle=data.handle,
            name=data.name,
            description=data.description,
            website=data.website,
            plan=self.settings.default_organization_plan,
        )
        await self._check_handle_free(data.handle)
        async with unique_or_conflict(self.session, lambda: self._check_handle_free(data.handle)):
            self.session.add(organization)
            await self.session.flush()
        self.session.add(OrganizationMember(organization_id=organization.id, user_id=user.id, role="owner"))
        await self.session.flush()
        return organization

    async def list_mine(self, user: User) -> list[tuple[Organization, str]]:
        """The caller's organisations and role in each, by name."""
        rows = await self.session.execute(
            sa.select(Organization, OrganizationMember.role)
            .join(OrganizationMember, OrganizationMember.organization_id == Organization.id)
            .where(OrganizationMember.user_id == user.id)
            .order_by(Organization.name, Organization.id)
        )
        return [(organization, role) for organization, role in rows]

    async def update(self, user: User, organization_id: uuid.UUID, data: OrganizationUpdate) -> Organization:
        """Change the fields sent; `null` clears description and website."""
        organization, _ = await self.membership(user, organization_id, "update_organization")
        sent = data.model_dump(exclude_unset=True)
        for field in ("handle", "name"):
            if field in sent and sent[field] is None:
                raise Invalid(f"{field} cannot be empty", field=field)
        handle = sent.get("handle")
        if handle is not None and handle.lower() != organization.handle.lower():
            await self._check_handle_free(handle, organization.id)
        async with unique_or_conflict(self.session, lambda: self._check_handle_free(handle, organization.id)):
            for key, value in sent.items():
                setattr(organization, key, value)
            organization.updated_at = datetime.now(UTC)
            await self.session.flush()
        if {"handle", "name"} & sent.keys():  # the store names the organisation as its GPTs' creator
            await StoreService(self.session, self.settings, self.redis).refresh_creator(organization)
        return organization

    async def set_plan(self, organization_id: uuid.UUID, plan: str) -> Organization:
        """A site administrator's change of the organisation's plan."""
        organization = await self.session.get(Organization, organization_id)
        if organization is None:
            raise NotFound(NO_SUCH_ORGANIZATION)
        organization.plan = plan
        await self.session.flush()
        return organization

    async def delete(self, user: User, organization_id: uuid.UUID) -> None:
        """Delete the organisation, its members and invitations; refused (409) while it owns GPTs or
        datasets (the dataset table refuses to lose its owner: a foreign key `ON DELETE RESTRICT`)."""
        organization, _ = await self.membership(user, organization_id, "delete_organization", lock=True)
        owned = await self.session.scalar(
            sa.select(sa.func.count()).where(Gpt.organization_id == organization.id)
        )
        if owned:
            raise Conflict(
                f"The organisation still owns {owned} GPT(s): transfer or delete them first", gpts=owned
            )
        datasets = await self.session.scalar(
            sa.select(sa.func.count()).where(
                Dataset.organization_id == organization.id, Dataset.home_gpt_id.is_(None)
            )
        )
        if datasets:
            raise Conflict(
                f"The organisation still owns {datasets} dataset(s): delete them first", datasets=datasets
            )
        await self.session.delete(organization)
        await self.session.flush()

    # Members ------------------------------------------------------------------------------------------

    async def members(self, user: User, organization_id: uuid.UUID) -> list[MemberRead]:
        """Every member, owner first, then by role and name."""
        await self.membership(user, organization_id, "see_organization")
        order = sa.case(
            {role: n for n, role in enumerate(reversed(access.roles()))}, value=OrganizationMember.role
        )
        rows = await self.session.execute(
            sa.select(OrganizationMember, User)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id == organization_id)
            .order_by(order, User.display_name, User.id)
        )
        return [
            MemberRead(
                user_id=person.id,
                handle=person.handle,
                display_name=person.display_name,
                role=member.role,
                created_at=member.created_at,
            )
            for member, person in rows
        ]

    async def _member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> OrganizationMember:
        member = await self.session.get(OrganizationMember, (organization_id, user_id))
        if member is None:
            raise NotFound("No such member of this organisation")
        return member

    def _check_outranks(
        self, actor: User, actor_role: str | None, target: OrganizationMember, role: str | None
    ) -> None:
        """An admin changes builders and members only, and to builder or member only; the owner anyone but
        the owner. Site administrators count as owners."""
        if target.role == "owner":
            raise Conflict(
                "The owner's role changes only by transferring ownership",
                errors=[{"field": "user_id", "message": "is the owner"}],
            )
        acting = "owner" if actor.is_admin and actor_role != "owner" else actor_role
        if access.rank(target.role) >= access.rank(acting) or (
            role and access.rank(role) >= access.rank(acting)
        ):
            raise Forbidden(
                f"A '{acting}' can change only members below their own role",
                errors=[{"field": "role", "message": f"needs a role above '{target.role}'"}],
            )

    async def set_role(
        self, user: User, organization_id: uuid.UUID, member_id: uuid.UUID, role: str
    ) -> MemberRead:
        """Change a member's role (never to or from `owner`: see `transfer_ownership`)."""
        _, actor_role = await self.membership(user, organization_id, "change_roles", lock=True)
        target = await self._member(organization_id, member_id)
        self._check_outranks(user, actor_role, target, role)
        target.role = role
        await self.session.flush()
        await revoke_invitations_beyond(self.session, organization_id, member_id, role)
        return next(m for m in await self.members(user, organization_id) if m.user_id == member_id)

    async def remove(self, user: User, organization_id: uuid.UUID, member_id: uuid.UUID) -> None:
        """Remove a member (removing oneself is leaving)."""
        if member_id == user.id:
            return await self.leave(user, organization_id)
        _, actor_role = await self.membership(user, organization_id, "change_roles", lock=True)
        target = await self._member(organization_id, member_id)
        self._check_outranks(user, actor_role, target, None)
        await self.session.delete(target)
        await self.session.flush()
        await revoke_invitations_beyond(self.session, organization_id, member_id, None)

    async def leave(self, user: User, organization_id: uuid.UUID) -> None:
        """Leave the organisation; its owner must transfer ownership first."""
        await serialize(self.session, "organization", organization_id)
        member = await self.session.get(OrganizationMember, (organization_id, user.id))
        if member is None:
            raise NotFound(NO_SUCH_ORGANIZATION)
        if member.role == "owner":
            raise Conflict("The owner cannot leave: transfer ownership to another member first")
        await self.session.delete(member)
        await self.session.flush()
        await revoke_invitations_beyond(self.session, organization_id, user.id, None)

    async def transfer_ownership(
        self, user: User, organization_id: uuid.UUID, new_owner_id: uuid.UUID
    ) -> None:
        """Make another member the owner; the previous owner becomes an admin."""
        await self.membership(user, organization_id, "transfer_ownership", lock=True)
        target = await self.session.get(OrganizationMember, (organization_id, new_owner_id))
        if target is None:
            raise Invalid("The new owner must be a member of the organisation", field="user_id")
        if target.role == "owner":
            return
        # Demote first: the partial unique index allows one owner at any moment.
        await self.session.execute(
            sa.update(OrganizationMember)
            .where(OrganizationMember.organization_id == organization_id, OrganizationMember.role == "owner")
            .values(role="admin")
        )
        await self.session.execute(
            sa.update(OrganizationMember)
            .where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == new_owner_id,
            )
            .values(role="owner")
        )
        await self.session.flush()

    # The store page -----------------------------------------------------------------------------------

    async def public_page(self, handle: str) -> PublicOrganization:
        """The organisation's profile, its GPTs listed in the store and its open datasets (anyone may see
        it)."""
        from store.datasets import open_datasets_of_organization

        organization = await self.by_handle(handle)
        listings = await self.session.scalars(
            sa.select(Listing)
            .where(Listing.organization_id == organization.id, Listing.listed)
            .order_by(Listing.conversations.desc(), Listing.name, Listing.gpt_id)
        )
        return PublicOrganization(
            handle=organization.handle,
            name=organization.name,
            description=organization.description,
            website=organization.website,
            gpts=[
                PublicGpt(
                    id=listing.gpt_id,
                    name=listing.name,
                    description=listing.description,
                    category=listing.category,
                    conversations=listing.conversations,
                )
                for listing in listings
            ],
            datasets=await open_datasets_of_organization(self.session, organization.id),
        )


def may_grant(role: str | None, granted: str) -> bool:
    """Whether a member with `role` (None: not a member) may invite with the role `granted`: one who may
    invite, up to their own role (never `owner`, which changes hands only by a transfer)."""
    return access.allows(role, "invite") and access.rank(granted) <= access.rank(role)


async def revoke_invitations_beyond(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: str | None
) -> None:
    """Revoke the pending invitations `user_id` made in the organisation that their `role` now (None: no
    longer a member) would not let them make: a link outlives no one's rights, so a removed or demoted
    admin cannot let themselves (or anyone) back in with a role they lost."""
    lost = [granted for granted in ("admin", "builder", "member") if not may_grant(role, granted)]
    if not lost:
        return
    now = datetime.now(UTC)
    await session.execute(
        sa.update(OrganizationInvitation)
        .where(
            OrganizationInvitation.organization_id == organization_id,
            OrganizationInvitation.created_by == user_id,
            OrganizationInvitation.role.in_(lost),
            OrganizationInvitation.accepted_at.is_(None),
            OrganizationInvitation.revoked_at.is_(None),
            OrganizationInvitation.expires_at > now,
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def _read(organization: Organization, role: str | None, members: int) -> OrganizationRead:
    return OrganizationRead(
        id=organization.id,
        handle=organization.handle,
        name=organization.name,
        description=organization.description,
        website=organization.website,
        plan=organization.plan,
        role=role,
        members=members,
        created_at=organization.created_at,
        updated_at=organization.updated_at,
    )
