"""Invitations: single-use, expiring links (only a hash of the token is kept), optionally e-mailed."""

from __future__ import annotations

import hashlib
import secrets
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import normalize_email
from core.concurrency import serialize
from core.errors import Conflict, Forbidden, Gone, NotFound
from core.mail import mail_configured, send_mail
from core.models import User
from core.ratelimit import enforce
from core.settings import Settings
from orgs import access
from orgs.models import Organization, OrganizationInvitation, OrganizationMember
from orgs.schemas import InvitationCreate, InvitationCreated, InvitationPreview, InvitationRead
from orgs.service import OrganizationService, may_grant

NO_SUCH_INVITATION = "No such invitation"


LIMITS_FILE = Path(__file__).parent / "data" / "limits.toml"


@cache
def invitation_limits() -> dict[str, dict[str, int]]:
    """`orgs/data/limits.toml`: the rate limits of creating and accepting invitations."""
    return tomllib.loads(LIMITS_FILE.read_text(encoding="utf-8"))


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of an invitation token: what is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_status(invitation: OrganizationInvitation, now: datetime | None = None) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= (now or datetime.now(UTC)):
        return "expired"
    return "pending"


def invitation_read(invitation: OrganizationInvitation) -> InvitationRead:
    return InvitationRead(
        id=invitation.id,
        role=invitation.role,
        email=invitation.email,
        status=invitation_status(invitation),
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        created_at=invitation.created_at,
    )


class InvitationService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis  # counts invitations and acceptances against their rate limits
        self.organizations = OrganizationService(session, settings)

    async def invite(
        self, user: User, organization_id: uuid.UUID, data: InvitationCreate, base_url: str
    ) -> InvitationCreated:
        """A new invitation: its token and link are shown once (only the token's hash is kept); with an
        `email` and SMTP set up, the link is e-mailed too (a failed send is a 502 and nothing is kept)."""
        organization, actor_role = await self.organizations.membership(user, organization_id, "invite")
        await self._rate_limit("create", user=user.id, organization=organization.id)
        acting = "owner" if user.is_admin and actor_role != "owner" else actor_role
        if access.rank(data.role) > access.rank(acting):
            raise Forbidden(
                f"A '{acting}' cannot invite with the role '{data.role}'",
                errors=[{"field": "role", "message": f"above '{acting}'"}],
            )
        token = secrets.token_urlsafe(32)
        invitation = OrganizationInvitation(
            organization_id=organization.id,
            role=data.role,
            email=normalize_email(data.email) if data.email else None,
            token_hash=token_digest(token),
            expires_at=datetime.now(UTC) + timedelta(days=self.settings.invitation_days),
            created_by=user.id,
        )
        self.session.add(invitation)
        await self.session.flush()
        url = f"{base_url.rstrip('/')}/invitations/{token}"
        emailed = False
        if invitation.email and mail_configured(self.settings):
            await send_mail(
                self.settings,
                invitation.email,
                f"You are invited to join {organization.name} on gptstore",
                f"{user.display_name} invites you to join the organisation {organization.name} "
                f"(@{organization.handle}) as {invitation.role}.\n\nAccept the invitation: {url}\n\n"
                f"The link can be used once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n",
            )
            emailed = True
        return InvitationCreated(
            **invitation_read(invitation).model_dump(), token=token, url=url, emailed=emailed
        )

    async def invitations(self, user: User, organization_id: uuid.UUID) -> list[OrganizationInvitation]:
        """Every invitation of the organisation, newest first."""
        await self.organizations.membership(user, organization_id, "invite")
        rows = await self.session.scalars(
            sa.select(OrganizationInvitation)
            .where(OrganizationInvitation.organization_id == organization_id)
            .order_by(OrganizationInvitation.created_at.desc(), OrganizationInvitation.id)
        )
        return list(rows)

    async def revoke(self, user: User, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> None:
        """Revoke a pending invitation; its link stops working."""
        await self.organizations.membership(user, organization_id, "invite")
        invitation = await self.session.get(OrganizationInvitation, invitation_id, with_for_update=True)
        if invitation is None or invitation.organization_id != organization_id:
            raise NotFound(NO_SUCH_INVITATION)
        status = invitation_status(invitation)
        if status != "pending":
            raise Conflict(f"This invitation is already {status}")
        invitation.revoked_at = datetime.now(UTC)
        await self.session.flush()

    async def _invitation(self, token: str, *, lock: bool = False) -> OrganizationInvitation:
        query = sa.select(OrganizationInvitation).where(
            OrganizationInvitation.token_hash == token_digest(token)
        )
        invitation = await self.session.scalar(query.with_for_update() if lock else query)
        if invitation is None:
            raise NotFound(NO_SUCH_INVITATION)
        return invitation

    async def preview(self, user: User, token: str) -> InvitationPreview:
        """What the invitation behind a token offers `user`, and whether they may accept it (the accept
        page offers its button only then); 404 for a token that never existed."""
        invitation = await self._invitation(token)
        organization = await self.session.get(Organization, invitation.organization_id)
        status = invitation_status(invitation)
        if status == "pending" and not await self._inviter_may_still_grant(invitation):
            status = "revoked"  # as accepting it would answer
        return InvitationPreview(
            organization=organization.name,
            handle=organization.handle,
            role=invitation.role,
            status=status,
            expires_at=invitation.expires_at,
            for_another_email=invitation.email is not None
            and invitation.email != normalize_email(user.email),
            already_member=await access.role_in(self.session, user, organization.id) is not None,
        )

    async def _rate_limit(self, action: str, **subjects: uuid.UUID) -> None:
        """Count one `action` ("create" or "accept") for each subject (`user`, `organization`) against
        `orgs/data/limits.toml`; 429 naming the limit past one. Without Redis (the CLI) nothing is counted."""
        if self.redis is None:
            return
        limits = invitation_limits()[action]
        for subject, subject_id in subjects.items():
            await enforce(
                self.redis,
                subject_id,
                f"invitation {action}",
                limits[f"per_{subject}"],
                limits["window_seconds"],
                name=f"{action}.per_{subject}",
            )

    async def _inviter_may_still_grant(self, invitation: OrganizationInvitation) -> bool:
        """Whether the invitation's maker may still invite with its role: a site administrator, or a member
        whose current role allows it (their role is revoked with their invitations when it changes; this
        also holds for links made before that, and for a maker whose account is gone)."""
        inviter = await self.session.get(User, invitation.created_by) if invitation.created_by else None
        if inviter is None:
            return False
        if inviter.is_admin:
            return True
        role = await access.role_in(self.session, inviter, invitation.organization_id)
        return may_grant(role, invitation.role)

    async def accept(self, user: User, token: str) -> tuple[Organization, str]:
        """Join the organisation with the invitation's role; the token is used up.

        410 for an expired, revoked or used invitation; 403 when it names another e-mail; 409 for a member.
        """
        await self._rate_limit("accept", user=user.id)  # before the token is looked up: guesses count
        invitation = await self._invitation(token, lock=True)  # two accepts at once: one wins
        status = invitation_status(invitation)
        if status != "pending":
            raise Gone(f"This invitation is {status}", status_reason=status)
        if invitation.email is not None and invitation.email != normalize_email(user.email):
            raise Forbidden("This invitation is for another e-mail address; log in with that account")
        await serialize(self.session, "organization", invitation.organization_id)
        if not await self._inviter_may_still_grant(invitation):
            raise Gone(
                "This invitation is revoked: whoever made it may no longer invite with this role",
                status_reason="revoked",
            )
        if await access.role_in(self.session, user, invitation.organization_id) is not None:
            raise Conflict("You are already a member of this organisation")
        self.session.add(
            OrganizationMember(
                organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
            )
        )
        invitation.accepted_at = datetime.now(UTC)
        invitation.accepted_by = user.id
        await self.session.flush()
        return await self.session.get(Organization, invitation.organization_id), invitation.role
