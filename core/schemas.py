"""Request and response shapes of accounts, API keys and admin."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

from core.settings import Plan, get_settings


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


# Shared field types of request bodies ------------------------------------------------------------------
# Litestar validates bodies with `model_validate(..., strict=False)`, which overrides pydantic's own
# `strict`; these validators run first and refuse what JSON would only coerce: `true` or "5" as a number.


def _exact_int(value: Any) -> Any:
    if type(value) is not int:
        raise ValueError("Input should be an integer")
    return value


def _exact_number(value: Any) -> Any:
    if type(value) not in (int, float):
        raise ValueError("Input should be a number")
    return value


def _exact_bool(value: Any) -> Any:
    if type(value) is not bool:
        raise ValueError("Input should be true or false")
    return value


StrictInt = Annotated[int, BeforeValidator(_exact_int)]
StrictFloat = Annotated[float, BeforeValidator(_exact_number)]
StrictBool = Annotated[bool, BeforeValidator(_exact_bool)]

_LANGUAGES = frozenset(
    json.loads((Path(__file__).parent / "data" / "languages.json").read_text(encoding="utf-8"))["codes"]
)
_LANGUAGE_TAG = re.compile(r"^([a-zA-Z]{2})(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?$")


def _language(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    match = _LANGUAGE_TAG.match(value)
    if match is None or match.group(1).lower() not in _LANGUAGES:
        raise ValueError(
            "language is an ISO 639-1 code such as 'en' or 'de' (optionally with a region: 'pt-BR')"
        )
    return match.group(1).lower() + value[2:]


def _category(value: str | None) -> str | None:
    categories = get_settings().categories
    if value is not None and value not in categories:
        raise ValueError(f"category must be one of: {', '.join(categories)}")
    return value


Language = Annotated[
    Annotated[str, Field(max_length=16)] | None,
    AfterValidator(_language),
    Field(
        description="ISO 639-1 code (core/data/languages.json), optionally with a script or region",
    ),
]
Category = Annotated[
    Annotated[str, Field(max_length=40)] | None,
    AfterValidator(_category),
    Field(description="One of the configured store categories (GPTSTORE_CATEGORIES)"),
]
