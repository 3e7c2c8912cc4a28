"""The one place that decides who may view, edit or manage something owned by a user or an organisation.

Anything with an `owner_id` (a user) and an `organization_id` (nullable) asks here: GPTs today, datasets
next. The rules (docs/organisations.md):

- Owned by a user (`organization_id` is None): its owner may do everything; nobody else may, except a
  site administrator.
- Owned by an organisation: the member's role decides (`orgs/data/roles.toml`: members view, builders edit,
  admins manage); `owner_id` (the user who made or moved it in) gives no rights of its own, so someone who
  leaves the organisation leaves its GPTs behind. Site administrators may do everything.

`site_admin=False` asks about the owner's side only: what an administrator may look at still keeps
private material (private knowledge passages, private files in an export) with the owners.

Usage: `await can_edit(session, user, gpt.owner_id, gpt.organization_id)`; to refuse as the docs say (403
naming the role to a member who sees it, 404 to others) `await require(..., "edit", not_found="No such GPT")`;
for lists, `.where(allowed(user, Gpt.owner_id, Gpt.organization_id, "edit"))`. A caller that read the user's
role in the organisation with a statement of its own passes it (`role=`) and no statement is sent.
"""

from __future__ import annotations

import tomllib
import uuid
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Final, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, NotFound
from core.models import User
from core.sql import in_select
from orgs.models import OrganizationMember

Role = Literal["owner", "admin", "builder", "member"]
Need = Literal["view", "edit", "manage"]
ROLES_FILE = Path(__file__).parent / "data" / "roles.toml"


class Principal(Protocol):
    """Who asks: a `User`, or a row with the same two fields (retrieval.knowledge_search.Caller)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def is_admin(self) -> bool: ...


class _Ask(Enum):
    ASK = "ask"


ASK: Final = _Ask.ASK  # `role=` default: read the user's role in the organisation (one statement)
RoleOrAsk = str | None | _Ask  # `role=`: the role read already (None: not a member), or ASK


@cache
def _roles() -> dict:
    return tomllib.loads(ROLES_FILE.read_text(encoding="utf-8"))


def roles() -> list[str]:
    """The roles, lowest first."""
    return list(_roles()["roles"])


def rank(role: str | None) -> int:
    """0 for no role, then 1 (member) .. 4 (owner)."""
    return roles().index(role) + 1 if role in roles() else 0


def needed_role(action: str) -> str:
    """The lowest role that may do `action` (a key of `[needs]` in roles.toml)."""
    return _roles()["needs"][action]


def allows(role: str | None, action: str) -> bool:
    """Whether `role` (None: not a member) may do `action`."""
    return role is not None and rank(role) >= rank(needed_role(action))


async def role_in(
    session: AsyncSession,
    user: Principal | None,
    organization_id: uuid.UUID | None,
    role: RoleOrAsk = ASK,
) -> str | None:
    """The user's role in the organisation, or None (not a member, anonymous, no organisation); `role`, when
    the caller read it already."""
    if user is None or organization_id is None:
        return None
    if role is not ASK:
        return role
    return await session.scalar(
        sa.select(OrganizationMember.role).where(
            OrganizationMember.organization_id == organization_id, OrganizationMember.user_id == user.id
        )
    )


async def can(
    session: AsyncSession,
    user: Principal | None,
    owner_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    need: Need,
    *,
    site_admin: bool = True,
    role: RoleOrAsk = ASK,
) -> bool:
    """Whether `user` may `need` (view, edit, manage) an object owned by `owner_id` / `organization_id`;
    `role`: the user's role in that organisation when the caller read it already."""
    if user is None:
        return False
    if site_admin and user.is_admin:
        return True
    if organization_id is None:
        return owner_id is not None and owner_id == user.id
    return allows(await role_in(session, user, organization_id, role), need)


async def can_view(session: AsyncSession, user: Principal | None, owner_id, organization_id, **kw) -> bool:
    return await can(session, user, owner_id, organization_id, "view", **kw)


async def can_edit(session: AsyncSession, user: Principal | None, owner_id, organization_id, **kw) -> bool:
    return await can(session, user, owner_id, organization_id, "edit", **kw)


async def can_manage(session: AsyncSession, user: Principal | None, owner_id, organization_id, **kw) -> bool:
    return await can(session, user, owner_id, organization_id, "manage", **kw)


async def require(
    session: AsyncSession,
    user: Principal | None,
    owner_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    need: Need,
    *,
    not_found: str,
    what: str = "GPT",
    role: RoleOrAsk = ASK,
) -> None:
    """`can(...)`, else 403 naming `required_role` to whoever may view it (a member of its organisation knows
    it exists, so a 404 would be a lie), else 404 `not_found` (the id cannot be probed). `role`: as in
    `can`."""
    if await can(session, user, owner_id, organization_id, need, role=role):
        return
    if organization_id is not None and await can_view(session, user, owner_id, organization_id, role=role):
        needed = needed_role(need)
        raise Forbidden(
            f"This needs the role '{needed}' or higher in the {what}'s organisation", required_role=needed
        )
    raise NotFound(not_found)


def allowed(
    user: User, owner_column: sa.ColumnElement, organization_column: sa.ColumnElement, need: Need
) -> sa.ColumnElement[bool]:
    """A WHERE clause for lists of "what I may `need`": my own and my organisations' (by role). Site
    administrators get no extra rows here: a list of one's own things stays one's own. Each arm of its
    `OR` is answered from its index (`core.sql.in_select`), not by reading the whole table."""
    allowed_roles = [role for role in roles() if allows(role, need)]
    mine = sa.select(OrganizationMember.organization_id).where(
        OrganizationMember.user_id == user.id, OrganizationMember.role.in_(allowed_roles)
    )
    return sa.or_(
        sa.and_(organization_column.is_(None), owner_column == user.id), in_select(organization_column, mine)
    )
