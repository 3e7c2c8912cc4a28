"""Invitation pages: create and revoke an organisation's invitation links (on its page), and the page
where the invitee accepts one (`/invitations/{token}`)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError
from core.models import User
from core.settings import Settings
from orgs.invitations import InvitationService, invitation_status
from orgs.schemas import InvitationCreate, InvitationPreview
from web.forms import form_values, submit
from web.org_routes import EmptyForm, organization_view, post_form
from web.session import login_required
from web.templates import render


@post("/organizations/{organization_id:uuid}/invitations")
async def invite(
    request: Request,
    organization_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """A new invitation link (`POST /api/organizations/{id}/invitations`), shown on this response only."""
    back = f"/organizations/{organization_id}"
    if redirect := login_required(page_user, request, back):
        return redirect
    values = await form_values(request, "role", "email")
    values = {k: v for k, v in values.items() if v}  # an empty e-mail is none
    service = InvitationService(db_session, settings)
    base = str(request.base_url).rstrip("/")
    outcome = await submit(
        db_session,
        InvitationCreate,
        values,
        lambda data: service.invite(page_user, organization_id, data, base),
    )
    if outcome.ok:
        return await organization_view(
            request, page_user, organization_id, db_session, settings, created=outcome.value, status_code=201
        )
    errors = {f"invite_{k}": v for k, v in outcome.errors.items()}
    return await organization_view(
        request, page_user, organization_id, db_session, settings, errors=errors, status_code=outcome.status
    )


@post("/organizations/{organization_id:uuid}/invitations/{invitation_id:uuid}/revoke")
async def revoke(
    request: Request,
    organization_id: uuid.UUID,
    invitation_id: uuid.UUID,
    page_user: User | None,
    db_session: AsyncSession,
    settings: Settings,
) -> Any:
    """Revoke a pending invitation (`DELETE /api/organizations/{id}/invitations/{invitation_id}`)."""
    service = InvitationService(db_session, settings)
    return await post_form(
        request, page_user, organization_id, db_session, settings, EmptyForm, (),
        lambda _: service.revoke(page_user, organization_id, invitation_id), "revoked", "h-invitations",
    )  # fmt: skip


async def invitation_view(
    request: Request, user: User, token: str, session: AsyncSession, settings: Settings, **context: Any
) -> Any:
    organization, invitation = await InvitationService(session, settings).preview(token)  # 404 else
    preview = InvitationPreview(
        organization=organization.name,
        handle=organization.handle,
        role=invitation.role,
        status=invitation_status(invitation),
        expires_at=invitation.expires_at,
    )
    return render(request, "orgs/invitation.html", user, invitation=preview, token=token, **context)


@get("/invitations/{token:str}", name="invitation")
async def invitation(
    request: Request, token: str, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """What the invitation offers (`GET /api/invitations/{token}`) and the button that accepts it."""
    if redirect := login_required(page_user, request):
        return redirect
    return await invitation_view(request, page_user, token, db_session, settings, errors={})


@post("/invitations/{token:str}")
async def accept(
    request: Request, token: str, page_user: User | None, db_session: AsyncSession, settings: Settings
) -> Any:
    """Accept (`POST /api/invitations/{token}/accept`) and go to the organisation."""
    if redirect := login_required(page_user, request, f"/invitations/{token}"):
        return redirect
    service = InvitationService(db_session, settings)
    try:
        async with db_session.begin_nested():
            organization, _ = await service.accept(page_user, token)
    except AppError as exc:
        if exc.status == 404:
            raise
        return await invitation_view(
            request,
            page_user,
            token,
            db_session,
            settings,
            errors={"form": exc.detail},
            status_code=exc.status,
        )
    return Redirect(f"/organizations/{organization.id}?done=joined", status_code=303)


invitation_handlers = [invite, revoke, invitation, accept]
