"""Request and response shapes of ratings, reviews, creator replies and reports (`store.feedback`)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core import pagination
from core.schemas import Plain, StrictInt, Visible, has_visible
from store.models import Rating


def encode_cursor(sort: str, rating: Rating) -> str:
    return pagination.encode_cursor(
        {"s": sort, "t": rating.created_at.isoformat(), "i": str(rating.id), "n": rating.stars}
    )


ReviewSort = Literal["newest", "highest", "lowest"]
ReportReason = Literal[
    "spam", "impersonation", "harmful", "sexual", "illegal", "privacy", "copyright", "other"
]
ReportStatus = Literal["open", "dismissed", "actioned"]


class Keep(enum.Enum):
    """A field the request left out: its stored value stays."""

    KEEP = "keep"


KEEP = Keep.KEEP


# Schemas ----------------------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RatingWrite(Strict):
    stars: StrictInt = Field(ge=1, le=5)
    review: Annotated[str | None, Plain] = Field(
        default=None, max_length=2000, description="Omitted: the current review stays; null or empty: removed"
    )

    @field_validator("review")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """A review that shows nothing (spaces, U+200B) is no review."""
        return value if value and has_visible(value) else None


class RatingRead(BaseModel):
    id: uuid.UUID
    gpt_id: uuid.UUID
    stars: int
    review: str | None
    created_at: datetime
    updated_at: datetime


class Author(BaseModel):
    handle: str
    display_name: str


class ReplyRead(BaseModel):
    text: str
    created_at: datetime


class ReviewRead(BaseModel):
    id: uuid.UUID
    stars: int
    review: str
    author: Author
    created_at: datetime
    updated_at: datetime
    reply: ReplyRead | None


class ReviewPage(BaseModel):
    data: list[ReviewRead]
    next_cursor: str | None


class ReplyCreate(Strict):
    text: Annotated[str, Visible] = Field(min_length=1, max_length=2000)


class ReportCreate(Strict):
    reason: ReportReason
    details: Annotated[str, Plain] = Field(default="", max_length=2000)

    @field_validator("details")
    @classmethod
    def _blank_is_empty(cls, value: str) -> str:
        """Details that show nothing are none."""
        return value if has_visible(value) else ""


class ReportRead(BaseModel):
    id: uuid.UUID
    gpt_id: uuid.UUID
    reason: ReportReason
    details: str
    status: ReportStatus
    created_at: datetime


class AdminReportRead(ReportRead):
    gpt_name: str
    reporter: Author
    note: str | None
    resolved_at: datetime | None
    open_reports: int = Field(description="Open reports of this GPT right now")


class ReportResolve(Strict):
    action: Literal["dismiss", "unlist"]
    # An unlisting shows the note to the creator as the listing's reason, which holds 1000 characters.
    note: Annotated[str | None, Plain] = Field(default=None, max_length=1000)


# Review cursors: opaque to clients, the last row's sort key inside ----------------------------------------
