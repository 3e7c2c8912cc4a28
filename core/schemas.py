"""Request and response shapes of accounts, API keys and admin."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from core.settings import Plan


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class SignupRequest(Schema):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field(min_length=1, max_length=80)


class LoginRequest(Schema):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class UserRead(Schema):
    id: uuid.UUID
    email: str
    display_name: str
    handle: str
    plan: Plan
    is_admin: bool
    created_at: datetime


class TokenRead(Schema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class SignupRead(TokenRead):
    user: UserRead


class ApiKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=100)


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself; shown only once")


class PlanUpdate(Schema):
    plan: Plan
