"""Invitation pages: create and revoke an organisation's invitation links (on its page), and the page
where the invitee accepts one (`/invitations/{token}`)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.response import Redirect

from core.errors import AppError
from orgs.invitations import InvitationService
from orgs.schemas import InvitationCreate
from web.forms import form_values, submit
from web.once import keep_once
from web.org_routes import (
    AT_ORGANIZATION,
    EmptyForm,
    OrganizationFamily,
    OrganizationPage,
    organization_view,
    post_form,
)
from web.pages import Page, page_provider
from web.templates import render


class InvitationForms(OrganizationFamily):
    """Create and revoke an organisation's invitation links, on its page."""

    @post("/{organization_id:uuid}/invitations", opt=AT_ORGANIZATION)
    async def invite(self, page: OrganizationPage, organization_id: uuid.UUID) -> Any:
        """A new invitation link (`POST /api/organizations/{id}/invitations`), shown once, on the page
        this redirects to (`web.once`: a reload makes no second link)."""
        values = await form_values(page.request, "role", "email")
        values = {k: v for k, v in values.items() if v}  # an empty e-mail is none
        service = InvitationService(page.session, page.settings, page.redis)
        base = str(page.request.base_url).rstrip("/")
        outcome = await submit(
            page.session,
            InvitationCreate,
            values,
            lambda data: service.invite(page.user, organization_id, data, base),
            allowed=lambda: page.service.membership(page.user, organization_id, "invite"),
        )
        if outcome.ok:
            token = await keep_once(page.redis, page.user.id, outcome.value.model_dump(mode="json"))
            return Redirect(f"/organizations/{organization_id}?once={token}#h-invitations", status_code=303)
        errors = {f"invite_{k}": v for k, v in outcome.errors.items()}
        return await organization_view(
            page, organization_id, errors=errors, invite_values=values, status_code=outcome.status
        )  # the refused e-mail and role stay in the form, to be corrected

    @post("/{organization_id:uuid}/invitations/{invitation_id:uuid}/revoke", opt=AT_ORGANIZATION)
    async def revoke(
        self, page: OrganizationPage, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> Any:
        """Revoke a pending invitation (`DELETE /api/organizations/{id}/invitations/{invitation_id}`)."""
        service = InvitationService(page.session, page.settings)
        return await post_form(
            page, organization_id, EmptyForm, (),
            lambda _: service.revoke(page.user, organization_id, invitation_id), "revoked", "h-invitations",
        )  # fmt: skip


InvitationPage = Page[InvitationService]


async def invitation_view(page: InvitationPage, token: str, **context: Any) -> Any:
    preview = await page.service.preview(page.user, token)  # 404 else
    return render(page.request, "orgs/invitation.html", page.user, invitation=preview, token=token, **context)


class InvitationPages(Controller):
    """The page where the invitee sees and accepts an invitation, signed in."""

    path = "/invitations"
    dependencies = {"page": Provide(page_provider(InvitationService))}

    @get("/{token:str}", name="invitation")
    async def invitation(self, page: InvitationPage, token: str) -> Any:
        """What the invitation offers (`GET /api/invitations/{token}`) and the button that accepts it."""
        return await invitation_view(page, token, errors={})

    @post("/{token:str}", opt={"back": "/invitations/{token}"})
    async def accept(self, page: InvitationPage, token: str) -> Any:
        """Accept (`POST /api/invitations/{token}/accept`) and go to the organisation."""
        try:
            async with page.session.begin_nested():
                organization, _ = await page.service.accept(page.user, token)
        except AppError as exc:
            if exc.status == 404:
                raise
            return await invitation_view(page, token, errors={"form": exc.detail}, status_code=exc.status)
        return Redirect(f"/organizations/{organization.id}?done=joined", status_code=303)


invitation_handlers = [InvitationForms, InvitationPages]
