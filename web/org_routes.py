"""Organisation pages: the public page `/o/{handle}`, one's organisations, an organisation's settings,
members and invitations (their forms in `web/invitation_routes.py`). Each posts to the same service as its
JSON twin (`/api/organizations...`) and shows its refusals at the form."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect
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
from web.once import take_once
from web.pages import Page, page_provider
from web.templates import render

ORGANIZATION_FIELDS = ("handle", "name", "description", "website")


@get("/o/{handle:str}", name="organization_page")
async def organization_page(
    request: Request, handle: str, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """The organisation's store page (`GET /api/store/organizations/{handle}`)."""
    page = await OrganizationService(db_session, settings).public_page(handle)
    return render(request, "orgs/public.html", page_user, organization=page)


OrganizationPage = Page[OrganizationService]
AT_ORGANIZATION = {"back": "/organizations/{organization_id}"}  # a login from a form returns to its page


async def list_view(page: OrganizationPage, *, status_code: int = 200, **context) -> Any:
    """One's organisations (`GET /api/organizations`) and the form that creates one."""
    service = page.service
    organizations = [await service.read(org, role) for org, role in await service.list_mine(page.user)]
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render(
        page.request, "orgs/list.html", page.user, organizations=organizations, status_code=status_code,
        **context,
    )  # fmt: skip


async def organization_view(
    page: OrganizationPage, organization_id: uuid.UUID, *, status_code: int = 200, **context: Any
) -> Any:
    """Settings, members and invitations of one organisation, as far as the caller's role shows them."""
    user, service = page.user, page.service
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
            for i in await InvitationService(page.session, page.settings).invitations(user, organization_id)
        ]
        if may["invite"]
        else []
    )
    context.setdefault("values", {k: v or "" for k, v in read.model_dump().items()})
    context.setdefault("errors", {})
    return render(
        page.request,
        "orgs/organization.html",
        user,
        organization=read,
        members=await service.members(user, organization_id),
        invitations=invitations,
        may=may,
        mail=mail_configured(page.settings),
        # Invitations go up to one's own role; role changes (the role given and the member's role) stay
        # below it, as `OrganizationService.set_role` checks: a form is offered only where it can work.
        grantable=[
            r for r in ("admin", "builder", "member") if user.is_admin or access.rank(r) <= access.rank(role)
        ],
        assignable=[
            r for r in ("admin", "builder", "member") if user.is_admin or access.rank(r) < access.rank(role)
        ],
        status_code=status_code,
        **context,
    )


async def post_form(
    page: OrganizationPage,
    organization_id: uuid.UUID,
    model: Any,
    fields: tuple[str, ...],
    action: Any,
    done: str = "",
    anchor: str = "",
    need: str = "see_organization",
) -> Any:
    """Check the caller's role allows `need` (`OrganizationService.membership`), validate the form with the
    API's `model`, run `action`, and come back to the organisation's page (or to the path `action`
    returns; or show the refusal at the form, with the API's status)."""
    values = await form_values(page.request, *fields)
    outcome = await submit(
        page.session, model, values, action,
        allowed=lambda: page.service.membership(page.user, organization_id, need),
    )  # fmt: skip
    if outcome.ok:
        back = f"/organizations/{organization_id}?done={done}#{anchor}"
        return Redirect(outcome.value if isinstance(outcome.value, str) else back, status_code=303)
    return await organization_view(
        page, organization_id, errors=outcome.errors, status_code=outcome.status,
        **({"values": values} if model is OrganizationUpdate else {}),
    )  # fmt: skip


class EmptyForm(Strict):
    """The form of an action whose API route takes no body."""


class OrganizationFamily(Controller):
    """The pages under `/organizations`, for a signed-in user: `page` carries the organisation service."""

    path = "/organizations"
    dependencies = {"page": Provide(page_provider(OrganizationService))}


class OrganizationPages(OrganizationFamily):
    """One's organisations, and each organisation's page and forms (its invitation forms:
    web/invitation_routes.py)."""

    @get("/", name="organizations")
    async def organizations(self, page: OrganizationPage) -> Any:
        return await list_view(page)

    @post("/", opt={"back": "/organizations"})
    async def create_organization(self, page: OrganizationPage) -> Any:
        """Create one (`POST /api/organizations`); the creator is its owner."""
        values = await form_values(page.request, *ORGANIZATION_FIELDS)
        outcome = await submit(
            page.session, OrganizationCreate, values, lambda data: page.service.create(page.user, data)
        )
        if outcome.ok:
            return Redirect(f"/organizations/{outcome.value.id}", status_code=303)
        return await list_view(page, values=values, errors=outcome.errors, status_code=outcome.status)

    @get("/{organization_id:uuid}", name="organization")
    async def organization(
        self,
        page: OrganizationPage,
        organization_id: uuid.UUID,
        done: str | None = None,
        once: str | None = Parameter(default=None, max_length=64),
    ) -> Any:
        created = await take_once(page.redis, page.user.id, once)  # an invitation link just made
        return await organization_view(page, organization_id, done=done, created=created)

    @post("/{organization_id:uuid}/settings", opt=AT_ORGANIZATION)
    async def update_organization(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """Save the settings (`PATCH /api/organizations/{id}`)."""
        return await post_form(
            page, organization_id, OrganizationUpdate, ORGANIZATION_FIELDS,
            lambda data: page.service.update(page.user, organization_id, data), "saved", "h-settings",
            "update_organization",
        )  # fmt: skip

    @post("/{organization_id:uuid}/members/{user_id:uuid}/role", opt=AT_ORGANIZATION)
    async def set_role(self, page: OrganizationPage, organization_id: uuid.UUID, user_id: uuid.UUID) -> Any:
        """Change a member's role (`PATCH /api/organizations/{id}/members/{user_id}`)."""
        return await post_form(
            page, organization_id, MemberUpdate, ("role",),
            lambda data: page.service.set_role(page.user, organization_id, user_id, data.role), "role",
            "h-members", "change_roles",
        )  # fmt: skip

    @post("/{organization_id:uuid}/members/{user_id:uuid}/remove", opt=AT_ORGANIZATION)
    async def remove_member(
        self, page: OrganizationPage, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> Any:
        """Remove a member (`DELETE /api/organizations/{id}/members/{user_id}`); one's own row is leaving."""

        async def remove(_: Any) -> str | None:
            await page.service.remove(page.user, organization_id, user_id)
            return "/organizations?done=left" if user_id == page.user.id else None

        return await post_form(page, organization_id, EmptyForm, (), remove, "removed", "h-members")

    @post("/{organization_id:uuid}/leave", opt=AT_ORGANIZATION)
    async def leave(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """Leave (`POST /api/organizations/{id}/leave`); the owner is told to transfer ownership first."""

        async def go(_: Any) -> str:
            await page.service.leave(page.user, organization_id)
            return "/organizations?done=left"

        return await post_form(page, organization_id, EmptyForm, (), go)

    @post("/{organization_id:uuid}/transfer", opt=AT_ORGANIZATION)
    async def transfer(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """Hand ownership to another member (`POST /api/organizations/{id}/transfer`)."""
        return await post_form(
            page, organization_id, OwnershipTransfer, ("user_id",),
            lambda data: page.service.transfer_ownership(page.user, organization_id, data.user_id),
            "transferred", "h-members", "transfer_ownership",
        )  # fmt: skip

    @post("/{organization_id:uuid}/delete", opt=AT_ORGANIZATION)
    async def delete_organization(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """Delete the organisation (`DELETE /api/organizations/{id}`); refused while it owns GPTs."""

        async def go(_: Any) -> str:
            await page.service.delete(page.user, organization_id)
            return "/organizations?done=deleted"

        return await post_form(page, organization_id, EmptyForm, (), go)

    @post("/{organization_id:uuid}/gpts", opt=AT_ORGANIZATION)
    async def new_organization_gpt(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """A new draft owned by the organisation (`POST /api/gpts` with `organization_id`), then the
        builder."""

        async def go(_: Any) -> str:
            gpt = await GptService(page.session, page.settings).create(
                page.user, GptCreate(organization_id=organization_id)
            )
            return f"/builder/{gpt.id}"

        return await post_form(page, organization_id, EmptyForm, (), go)


org_handlers = [organization_page, OrganizationPages]
