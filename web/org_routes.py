"""Organisation pages: the public page `/o/{handle}`, one's organisations, an organisation's settings,
members and invitations (their forms in `web/invitation_routes.py`). Each posts to the same service as its
JSON twin (`/api/organizations...`) and shows its refusals at the form."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.schemas import GptCreate
from builder.service import GptService
from core.mail import mail_configured
from core.models import User
from core.settings import Settings
from orgs import access
from orgs.invitations import InvitationService, invitation_read
from orgs.schemas import (
    MemberUpdate,
    OrganizationCreate,
    OrganizationUpdate,
    OwnershipTransfer,
    Strict,
)
from orgs.service import OrganizationService
from web.forms import form_values, submit
from web.session import login_required
from web.templates import render

ORGANIZATION_FIELDS = ("handle", "name", "description", "website")


@get("/o/{handle:str}", name="organization_page")
async def organization_page(
    request: Request, handle: str, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """The organisation's store page (`GET /api/store/organizations/{handle}`)."""
    page = await OrganizationService(db_session, settings).public_page(handle)
    return render(request, "orgs/public.html", page_user, organization=page)


async def list_view(
    request: Request,
    user: User,
    session: AsyncSession,
    settings: Settings,
    *,
    status_code: int = 200,
    **context,
) -> Any:
    """One's organisations (`GET /api/organizations`) and the form that creates one."""
    service = OrganizationService(session, settings)
    organizations = [await service.read(org, role) for org, role in await service.list_mine(user)]
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render(
        request, "orgs/list.html", user, organizations=organizations, status_code=status_code, **context
    )


@get("/organizations", name="organizations")
async def organizations(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    return await list_view(request, page_user, db_session, settings)


@post("/organizations")
async def create_organization(
    request: Request, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Create one (`POST /api/organizations`); the creator is its owner."""
    if redirect := login_required(page_user, request, "/organizations"):
        return redirect
    values = await form_values(request, *ORGANIZATION_FIELDS)
    service = OrganizationService(db_session, settings)
    outcome = await submit(
        db_session, OrganizationCreate, values, lambda data: service.create(page_user, data)
    )
    if outcome.ok:
        return Redirect(f"/organizations/{outcome.value.id}", status_code=303)
    return await list_view(
        request,
        page_user,
        db_session,
        settings,
        values=values,
        errors=outcome.errors,
        status_code=outcome.status,
    )


async def organization_view(
    request: Request,
    user: User,
    organization_id: uuid.UUID,
    session: AsyncSession,
    settings: Settings,
    *,
    status_code: int = 200,
    **context: Any,
) -> Any:
    """Settings, members and invitations of one organisation, as far as the caller's role shows them."""
    service = OrganizationService(session, settings)
    organization, role = await service.membership(user, organization_id, "see_organization")  # 404 else
    read = await service.read(organization, role)
    may = {
        action: user.is_admin or access.allows(role, action)
        for action in ("update_organization", "invite", "change_roles", "delete_organization", "create_gpt")
    }
    may["transfer_ownership"] = role == "owner" or user.is_admin
    invitations = (
        [
            invitation_read(i)
            for i in await InvitationService(session, settings).invitations(user, organization_id)
        ]
        if may["invite"]
        else []
    )
    context.setdefault("values", {k: v or "" for k, v in read.model_dump().items()})
    context.setdefault("errors", {})
    return render(
        request,
        "orgs/organization.html",
        user,
        organization=read,
        members=await service.members(user, organization_id),
        invitations=invitations,
        may=may,
        mail=mail_configured(settings),
        grantable=[
            r for r in ("admin", "builder", "member") if user.is_admin or access.rank(r) <= access.rank(role)
        ],
        status_code=status_code,
        **context,
    )


@get("/organizations/{organization_id:uuid}", name="organization")
async def organization(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    done: str | None = None,
) -> Any:
    if redirect := login_required(page_user, request):
        return redirect
    return await organization_view(request, page_user, organization_id, db_session, settings, done=done)


async def post_form(
    request: Request,
    user: User | None,
    organization_id: uuid.UUID,
    session: AsyncSession,
    settings: Settings,
    model: Any,
    fields: tuple[str, ...],
    action: Any,
    done: str,
    anchor: str,
) -> Any:
    """Validate the form with the API's `model`, run `action`, and come back to the organisation's page
    (or show the refusal at the form, with the API's status)."""
    back = f"/organizations/{organization_id}"
    if redirect := login_required(user, request, back):
        return redirect
    values = await form_values(request, *fields)
    outcome = await submit(session, model, values, action)
    if outcome.ok:
        return Redirect(
            outcome.value if isinstance(outcome.value, str) else f"{back}?done={done}#{anchor}",
            status_code=303,
        )
    return await organization_view(
        request, user, organization_id, session, settings, errors=outcome.errors, status_code=outcome.status,
        **({"values": values} if model is OrganizationUpdate else {}),
    )  # fmt: skip


@post("/organizations/{organization_id:uuid}/settings")
async def update_organization(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> Any:
    """Save the settings (`PATCH /api/organizations/{id}`)."""
    service = OrganizationService(db_session, settings, redis)
    return await post_form(
        request, page_user, organization_id, db_session, settings, OrganizationUpdate, ORGANIZATION_FIELDS,
        lambda data: service.update(page_user, organization_id, data), "saved", "h-settings",
    )  # fmt: skip


@post("/organizations/{organization_id:uuid}/members/{user_id:uuid}/role")
async def set_role(
    request: Request,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Change a member's role (`PATCH /api/organizations/{id}/members/{user_id}`)."""
    service = OrganizationService(db_session, settings)
    return await post_form(
        request, page_user, organization_id, db_session, settings, MemberUpdate, ("role",),
        lambda data: service.set_role(page_user, organization_id, user_id, data.role), "role", "h-members",
    )  # fmt: skip


class EmptyForm(Strict):
    """The form of an action whose API route takes no body."""


@post("/organizations/{organization_id:uuid}/members/{user_id:uuid}/remove")
async def remove_member(
    request: Request,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Remove a member (`DELETE /api/organizations/{id}/members/{user_id}`); one's own row is leaving."""
    service = OrganizationService(db_session, settings)

    async def remove(_: Any) -> str | None:
        await service.remove(page_user, organization_id, user_id)
        return "/organizations?done=left" if user_id == page_user.id else None

    return await post_form(
        request,
        page_user,
        organization_id,
        db_session,
        settings,
        EmptyForm,
        (),
        remove,
        "removed",
        "h-members",
    )


@post("/organizations/{organization_id:uuid}/leave")
async def leave(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Leave (`POST /api/organizations/{id}/leave`); the owner is told to transfer ownership first."""
    service = OrganizationService(db_session, settings)

    async def go(_: Any) -> str:
        await service.leave(page_user, organization_id)
        return "/organizations?done=left"

    return await post_form(
        request, page_user, organization_id, db_session, settings, EmptyForm, (), go, "", ""
    )


@post("/organizations/{organization_id:uuid}/transfer")
async def transfer(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Hand ownership to another member (`POST /api/organizations/{id}/transfer`)."""
    service = OrganizationService(db_session, settings)
    return await post_form(
        request, page_user, organization_id, db_session, settings, OwnershipTransfer, ("user_id",),
        lambda data: service.transfer_ownership(page_user, organization_id, data.user_id), "transferred",
        "h-members",
    )  # fmt: skip


@post("/organizations/{organization_id:uuid}/delete")
async def delete_organization(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Delete the organisation (`DELETE /api/organizations/{id}`); refused while it owns GPTs."""
    service = OrganizationService(db_session, settings)

    async def go(_: Any) -> str:
        await service.delete(page_user, organization_id)
        return "/organizations?done=deleted"

    return await post_form(
        request, page_user, organization_id, db_session, settings, EmptyForm, (), go, "", ""
    )


@post("/organizations/{organization_id:uuid}/gpts")
async def new_organization_gpt(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """A new draft owned by the organisation (`POST /api/gpts` with `organization_id`), then the builder."""
    service = GptService(db_session, settings)

    async def go(_: Any) -> str:
        gpt = await service.create(page_user, GptCreate(organization_id=organization_id))
        return f"/builder/{gpt.id}"

    return await post_form(
        request, page_user, organization_id, db_session, settings, EmptyForm, (), go, "", ""
    )


org_handlers = [
    organization_page,
    organizations,
    create_organization,
    organization,
    update_organization,
    set_role,
    remove_member,
    leave,
    transfer,
    delete_organization,
    new_organization_gpt,
]
