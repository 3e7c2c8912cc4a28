"""Request and response shapes of knowledge files and search."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.schemas import StrictBool, StrictInt, bounded_float

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]
Access = Literal["private", "open"]


class Progress(BaseModel):
    chunks_done: int
    chunks_total: int | None


class FileError(BaseModel):
    code: Literal[
        "unsupported_file", "invalid_file", "too_large", "parse_timeout", "parse_memory", "server_error"
    ]
    message: str


class FileRead(BaseModel):
    id: uuid.UUID
    filename: str
    media_type: str
    bytes: int
    sha256: str
    access: Access
    license: str | None
    status: FileStatus
    progress: Progress
    last_error: FileError | None
    warning: str | None = None  # far less text was extracted than the file holds (scanned pages, ...)
    chunk_count: int
    token_count: int
    created_at: datetime

    @classmethod
    def of(cls, row) -> FileRead:
        return cls(
            id=row.id,
            filename=row.filename,
            media_type=row.media_type,
            bytes=row.bytes,
            sha256=row.sha256,
            access=row.access,
            license=row.license,
            status=row.status,
            progress=Progress(chunks_done=row.chunks_done, chunks_total=row.chunks_total),
            last_error=FileError(code=row.error_code, message=row.error_message or "")
            if row.error_code
            else None,
            warning=row.warning,
            chunk_count=row.chunk_count,
            token_count=row.token_count,
            created_at=row.created_at,
        )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    k: StrictInt = Field(default=8, ge=1, le=50)
    file_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    score_threshold: bounded_float(0, 1) | None = None
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"


class SearchResult(BaseModel):
    chunk_id: uuid.UUID
    file_id: uuid.UUID
    filename: str
    text: str
    score: float
    page: int | None
    heading: str | None


class SearchResponse(BaseModel):
    data: list[SearchResult]
    search_query: str


# Tool calls in chat messages (docs/tools-chat.md) -------------------------------------------------------
MessageStatus = Literal["completed", "requires_approval", "cancelled"]


class ToolCallRead(BaseModel):
    """One call the turn made (`declined`: the user said no, and it did not run)."""

    call_id: str
    name: str
    domain: str
    status: Literal["completed", "failed", "declined"]
    duration_ms: int


class PendingCallRead(BaseModel):
    """The call the turn waits for the user to approve: what it would send, and where."""

    call_id: str
    name: str
    arguments: dict[str, Any] | str = Field(
        description="The model's arguments (its JSON text if not an object)"
    )
    domain: str


class ApprovalCreate(BaseModel):
    """The user's decision on a pending call; `always` with `approve` allows the GPT's function for good."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(min_length=1, max_length=200)
    approve: StrictBool
    always: StrictBool = False
