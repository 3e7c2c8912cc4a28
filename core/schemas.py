"""Request and response shapes of accounts, API keys and admin."""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from core.patterns import Matches
from core.settings import Plan, get_settings

# Shared field types of request bodies ------------------------------------------------------------------
# Strict numbers and booleans refuse what JSON would only coerce (`true` or "5" as a number). Litestar passes
# `strict=None` to `model_validate` (core.app), so these field-level settings hold.
# An integer is what JSON Schema calls one: `4` and `4.0`, never `true`, `"4"` or `4.5`.


def _json_integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value) is not int:
        raise ValueError("Input should be an integer")
    return value


def _json_number(value: Any) -> Any:
    if type(value) not in (int, float):
        raise ValueError("Input should be a number")
    return value


StrictInt = Annotated[int, BeforeValidator(_json_integer)]
StrictFloat = Annotated[float, BeforeValidator(_json_number)]
StrictBool = pydantic.StrictBool


def bounded_int(ge: int, le: int, *, le_shown_only: bool = False) -> Any:
    """A strict integer in [ge, le]; the bounds sit inside the validator so the JSON schema shows them.
    `le_shown_only`: `le` is the largest the JSON schema shows, and a validator of the model checks the
    real upper limit (which depends on another field) and names it."""
    if le_shown_only:
        return Annotated[int, Field(ge=ge, json_schema_extra={"maximum": le}), BeforeValidator(_json_integer)]
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_integer)]


def bounded_float(ge: float, le: float) -> Any:
    """A strict number in [ge, le], as `bounded_int`."""
    return Annotated[float, Field(ge=ge, le=le), BeforeValidator(_json_number)]


# A user's message to a GPT (its question, and the title of a new conversation): some text besides spaces and
# line breaks (the pattern, in the JSON schema) and besides what shows nothing (`SHOWS_TEXT`, after
# `has_visible`: "\u200b\u200b" passes the pattern and spent a model call on an invisible question). The same
# rule as other text that must not be blank (`builder.schemas` starters, MCP `ask`).
NOT_BLANK = Matches(r"\S", "must not be blank")
MESSAGE_MAX_CHARS = 8000


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "must not be null")
    return value


def not_null(*fields: str) -> Any:
    """A validator refusing `null` for `fields` that are optional (absent: the default) but never null
    where the data comes from (an export archive writes a value for them whenever it writes them)."""
    return field_validator(*fields, mode="before")(_not_null)


# What shows nothing: spaces, line and paragraph separators, controls, format characters (U+200B, U+FEFF,
# U+2060, bidi marks, tags) and lone combining marks (U+034F) by their Unicode category; and letters and
# symbols drawn blank (Unicode's Hangul fillers, the blank Braille pattern, the null notehead).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_GLYPHS = frozenset("\u115f\u1160\u2800\u3164\uffa0\U0001d159")


def has_visible(text: str) -> bool:
    """Whether `text` shows at least one character (`_INVISIBLE_CATEGORIES`, `_BLANK_GLYPHS`)."""
    return any(
        not ch.isspace() and ch not in _BLANK_GLYPHS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
        for ch in text
    )


def _shows_text(value: str | None) -> str | None:
    if value is not None and not has_visible(value):
        raise PydanticCustomError("blank", "must not be blank: it shows no character")
    return value


SHOWS_TEXT = AfterValidator(_shows_text)
MessageText = Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX_CHARS), NOT_BLANK, SHOWS_TEXT]


# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the text shown
# around them: "Fjord \u202eediuG" reads as "Fjord Guide" backwards, the Trojan Source kind (CVE-2021-42574).
# The marks U+200E/U+200F that right-to-left text needs are not among them.
_REORDERING = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _plain(value: str | None) -> str | None:
    """Text shown to other people must not reorder itself (`_REORDERING`)."""
    if value is not None and _REORDERING.search(value):
        raise PydanticCustomError(
            "bidi_control",
            "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069),"
            " which change the order in which the text is shown",
        )
    return value


# Text others see (a GPT's name and description, a dataset's attribution).
Plain = AfterValidator(_plain)


def _visible(value: str | None) -> str | None:
    """A required text must show something (`has_visible`); a display name of three spaces or a zero-width
    space rendered as "Log out ()". Nor may it reorder itself (`Plain`)."""
    if value is not None and not has_visible(value):
        raise PydanticCustomError("visible_text", "must contain a visible character, not only spaces")
    return _plain(value)


# Names and messages a person must see (display names, organisation and dataset names, key names, appeals,
# moderation reasons, replies): `min_length` alone let "   " through.
Visible = AfterValidator(_visible)


def _one_line(value: str | None) -> str | None:
    """A name is one line: no control characters (line breaks and tabs included) and no line or paragraph
    separators (U+2028, U+2029); a dataset named "Ferries\r\nX-Header: y" listed as two lines."""
    if value is not None and any(unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in value):
        raise PydanticCustomError(
            "one_line", "must be one line, without line breaks, tabs or control characters"
        )
    return value


# Names (display names, organisation, dataset and API key names, a GPT's name), after `Visible`.
OneLine = AfterValidator(_one_line)


def _email(value: str) -> str:
    """RFC 5322 syntax; special-use domains (`.test`) are allowed, deliverability is not checked."""
    try:
        return validate_email(value, check_deliverability=False, globally_deliverable=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


Email = Annotated[
    str,
    Field(max_length=320),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]

_LANGUAGES = frozenset(
    json.loads((Path(__file__).parent / "data" / "languages.json").read_text(encoding="utf-8"))["codes"]
)
_LANGUAGE_TAG = re.compile(r"^([a-zA-Z]{2})(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?$")


LANGUAGE_RULE = (
    "must be an ISO 639-1 language code, optionally with a script or region, such as en, pt-BR or zh-Hant-TW"
)


def _language(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    match = _LANGUAGE_TAG.match(value)
    if match is None or match.group(1).lower() not in _LANGUAGES:
        raise PydanticCustomError("string_pattern_mismatch", LANGUAGE_RULE)
    return match.group(1).lower() + value[2:]


def _category(value: str | None) -> str | None:
    categories = get_settings().categories
    if value is not None and value not in categories:
        raise ValueError(f"category must be one of: {', '.join(categories)}")
    return value


def _either_case(code: str) -> str:
    return "".join(f"[{c}{c.upper()}]" for c in code)


# The same rule as `_language`, for clients (the OpenAPI document): one of the listed codes in either case,
# an optional script and region, or empty (no language). A value it refuses is told LANGUAGE_RULE.
LANGUAGE_PATTERN = (
    "^$|^(?:"
    + "|".join(_either_case(c) for c in sorted(_LANGUAGES))
    + r")(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?$"
)

Language = Annotated[
    Annotated[str, Field(max_length=16), Matches(LANGUAGE_PATTERN, LANGUAGE_RULE)] | None,
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


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class SignupRequest(Schema):
    email: Email
    password: str = Field(min_length=8, max_length=256)
    display_name: Annotated[str, Visible, OneLine] = Field(min_length=1, max_length=80)


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
    name: Annotated[str, Visible, OneLine] = Field(min_length=1, max_length=100)


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
