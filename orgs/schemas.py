"""Request and response shapes of organisations, their members and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.patterns import Matches
from core.schemas import Email, OneLine, Plain, Visible
from store.dataset_schemas import DatasetItem

# Letters either case (stored as typed; unique and looked up whatever the case), digits, inner hyphens.
HANDLE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
Handle = Annotated[
    str,
    Field(min_length=3, max_length=40),
    Matches(HANDLE_PATTERN, "must be letters, digits and hyphens, not starting or ending with a hyphen"),
]
Role = Literal["owner", "admin", "builder", "member"]
GrantableRole = Literal["admin", "builder", "member"]  # `owner` changes hands only by a transfer
OrganizationPlan = Literal["free", "team"]
InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _website(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("website must be an http:// or https:// URL")
    return value


class OrganizationFields(Strict):
    description: Annotated[str | None, Plain] = Field(
        default=None, max_length=1000, description="Empty clears it"
    )
    website: str | None = Field(default=None, max_length=300, description="An http(s) URL; empty clears it")

    @field_validator("website")
    @classmethod
    def _check_website(cls, value: str | None) -> str | None:
        return _website(value)

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str | None) -> str | None:
        return value or None


class OrganizationCreate(OrganizationFields):
    handle: Handle = Field(description="3-40 letters, digits and inner hyphens; unique whatever the case")
    name: Annotated[str, Visible, OneLine] = Field(min_length=1, max_length=80)


class OrganizationUpdate(OrganizationFields):
    handle: Handle | None = None
    name: Annotated[str | None, Visible, OneLine] = Field(default=None, min_length=1, max_length=80)


class OrganizationRead(BaseModel):
    id: uuid.UUID
    handle: str
    name: str
    description: str | None
    website: str | None
    plan: OrganizationPlan = Field(description="`team` lets its builders create GPTs owned by it")
    role: Role | None = Field(description="The caller's role; null for a site administrator who is no member")
    members: int
    created_at: datetime
    updated_at: datetime


class OrganizationPlanUpdate(Strict):
    plan: OrganizationPlan


class MemberRead(BaseModel):
    user_id: uuid.UUID
    handle: str
    display_name: str
    role: Role
    created_at: datetime


class MemberUpdate(Strict):
    role: GrantableRole


class OwnershipTransfer(Strict):
    user_id: uuid.UUID = Field(
        description="A member of the organisation; the previous owner becomes an admin"
    )


class InvitationCreate(Strict):
    role: GrantableRole = "member"
    email: Email | None = Field(
        default=None,
        description="Only the account with this e-mail may accept; the link is e-mailed when SMTP is set up",
    )


class InvitationRead(BaseModel):
    id: uuid.UUID
    role: GrantableRole
    email: str | None
    status: InvitationStatus
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class InvitationCreated(InvitationRead):
    token: str = Field(description="Shown once; only its hash is stored")
    url: str = Field(description="The page that accepts the invitation (`/invitations/{token}`)")
    emailed: bool = Field(description="Whether the link was sent to `email`")


class InvitationPreview(BaseModel):
    """What the accept page shows before the invitee says yes."""

    organization: str = Field(description="The organisation's name")
    handle: str
    role: GrantableRole
    status: InvitationStatus
    expires_at: datetime
    for_another_email: bool = Field(
        False, description="It names an e-mail other than the caller's: only that account may accept (403)"
    )
    already_member: bool = Field(False, description="The caller is a member already (accepting is a 409)")


class PublicGpt(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    category: str | None
    conversations: int


class PublicOrganization(BaseModel):
    """An organisation's store page: its profile, its GPTs listed in the store and its open datasets."""

    handle: str
    name: str
    description: str | None
    website: str | None
    gpts: list[PublicGpt]
    datasets: list[DatasetItem] = []
