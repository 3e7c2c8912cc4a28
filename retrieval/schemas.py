"""Request and response shapes of knowledge files and search."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar.datastructures import UploadFile
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from core.errors import Invalid, unknown_form_fields
from core.schemas import NOT_BLANK, SHOWS_TEXT, StrictBool, StrictInt, bounded_float

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]
Access = Literal["private", "open"]
UPLOAD_FIELDS = ("file", "access", "license")
MAX_LICENSE_CHARS = 200  # the `knowledge_file.license` column
UPLOAD_READ_SIZE = 1024 * 1024


class DatasetOwnerRead(BaseModel):
    """Who a dataset belongs to: a user (`/creators/{handle}`) or an organisation (`/o/{handle}`)."""

    type: Literal["user", "organization"]
    handle: str
    name: str
    url: str


class CitedDatasetRead(BaseModel):
    """The dataset of a cited file (not the GPT's home dataset): what to name when using the passage."""

    id: uuid.UUID
    name: str
    license: str | None = Field(description="SPDX license id")
    license_url: str | None = Field(default=None, description="The license's page at spdx.org")
    attribution: str | None = None
    owner: DatasetOwnerRead | None = None
    url: str | None = Field(
        default=None,
        description="The dataset's public page (`/datasets/{id}`; a file's row is `#file-{file_id}`) when "
        "it is open; none for a private one",
    )

    @model_validator(mode="after")
    def _on_site(self, info: ValidationInfo) -> CitedDatasetRead:
        """Validated with `context={"site": "https://host"}` (an API reply): the dataset's and its owner's
        pages as whole URLs on the site, which an API client can follow (`retrieval.citations.on_site`)."""
        site = (info.context or {}).get("site")
        if site and self.url and self.url.startswith("/"):
            self.url = site + self.url
        if site and self.owner and self.owner.url.startswith("/"):
            self.owner.url = site + self.owner.url
        return self


MAX_CHUNK_SIZE = 4096  # tokens, of a GPT's `retrieval.chunk_size`


def overlap_too_large(overlap: int, chunk_size: int) -> str | None:
    """Why a chunk overlap of `overlap` tokens does not fit chunks of `chunk_size` (it is at most half of
    them), as the sentence a 422 shows; None when it fits."""
    if overlap <= chunk_size // 2:
        return None
    return f"chunk_overlap must be at most {chunk_size // 2:,}, half of chunk_size ({chunk_size:,})"


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """An upload's bytes in pieces of `UPLOAD_READ_SIZE`, for `KnowledgeService.add_file`."""
    while chunk := await upload.read(UPLOAD_READ_SIZE):
        yield chunk


def upload_form(
    form: Any, *, many: bool = False, also: tuple[str, ...] = ()
) -> tuple[list[UploadFile], Access, str | None]:
    """The files (one unless `many`), `access` (private|open, default private) and `license` of an upload
    form, which may also carry the fields named in `also`; a 422 `Invalid` names every bad field (shared by
    `POST /api/gpts/{id}/files` and the builder page)."""
    uploads = [u for u in form.getall("file", []) if isinstance(u, UploadFile)]
    access, license = form.get("access") or "private", form.get("license")
    errors = unknown_form_fields(form, UPLOAD_FIELDS + also)
    if not uploads or (not many and len(form.getall("file", [])) != 1):
        message = "Send the file as multipart/form-data in this field"
        errors.append({"field": "file", "message": message if not uploads else "Send one file per request"})
    if access not in ("private", "open"):
        errors.append({"field": "access", "message": "access must be 'private' or 'open'"})
    if license is not None and (not isinstance(license, str) or len(license) > MAX_LICENSE_CHARS):
        message = f"license must be text of at most {MAX_LICENSE_CHARS} characters"
        errors.append({"field": "license", "message": message})
    if errors:
        raise Invalid("Invalid value for: " + ", ".join(e["field"] for e in errors), errors=errors)
    return uploads, access, license or None


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
    source_url: str | None = None  # the web page it was imported from (docs/retrieval.md)
    status: FileStatus
    progress: Progress
    last_error: FileError | None
    warning: str | None = None  # far less text was extracted than the file holds (scanned pages, ...)
    chunk_count: int
    token_count: int
    batch_id: uuid.UUID | None = None  # the file batch it came in (`POST .../file_batches`), if any
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
            source_url=row.source_url,
            status=row.status,
            progress=Progress(chunks_done=row.chunks_done, chunks_total=row.chunks_total),
            last_error=FileError(code=row.error_code, message=row.error_message or "")
            if row.error_code
            else None,
            warning=row.warning,
            chunk_count=row.chunk_count,
            token_count=row.token_count,
            batch_id=row.batch_id,
            created_at=row.created_at,
        )


# Files one events stream follows (`GET .../files/events?ids=`): 100 ids of 36 characters keep the URL
# under 4 KB, well inside what browsers and servers accept; a page with more follows them in turns.
MAX_FOLLOWED_FILES = 100
FileIds = Annotated[
    str | None,
    Parameter(
        description=f"Comma-separated file ids, up to {MAX_FOLLOWED_FILES}; omit for the files in progress",
    ),
]


def followed_file_ids(ids: str | None) -> list[uuid.UUID] | None:
    """The file ids of `?ids=` (comma-separated, up to `MAX_FOLLOWED_FILES`, repeats once), or None when
    the parameter is absent; anything else is a 422 naming `ids`."""
    if ids is None:
        return None

    def refuse(message: str) -> Invalid:
        return Invalid(
            "Invalid value for: ids", errors=[{"field": "ids", "source": "query", "message": message}]
        )

    parts = [part.strip() for part in ids.split(",")]
    if not any(parts):
        raise refuse("name at least one file id, or leave `ids` out for the files in progress")
    try:
        unique = list(dict.fromkeys(uuid.UUID(part) for part in parts))
    except ValueError:
        raise refuse("comma-separated file ids (UUIDs) only") from None
    if len(unique) > MAX_FOLLOWED_FILES:
        raise refuse(f"at most {MAX_FOLLOWED_FILES} file ids in one stream; open another for the rest")
    return unique


WebImportStatus = Literal["queued", "in_progress", "completed", "failed"]
WebPageStatus = Literal["pending", "added", "updated", "unchanged", "duplicate", "failed"]
MAX_URL_CHARS = 2000  # as retrieval.web_import.MAX_URL_CHARS (the `web_page.url` column)
# URLs in one request: 100 of 2,000 characters (4 bytes each at worst in UTF-8) stay within the default
# GPTSTORE_MAX_REQUEST_BODY_BYTES (1 MiB), so every body the schema allows is read; more go in a sitemap.
MAX_LIST_URLS = 100


class WebImportCreate(BaseModel):
    """Pages to add to the knowledge: exactly one of `url` (a page), `urls` (a list of pages) or
    `sitemap_url` (every page a sitemap or sitemap index lists); `access` and `license` (an SPDX id, open
    files only) of the files made: in a dataset other than a GPT's own, the dataset's."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_CHARS)
    urls: list[Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)]] | None = Field(
        default=None, min_length=1, max_length=MAX_LIST_URLS
    )
    sitemap_url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_CHARS)
    access: Access = "private"
    license: str | None = Field(
        default=None, max_length=MAX_LICENSE_CHARS, description="An SPDX id such as CC-BY-4.0 (open files)"
    )


class WebPageCounts(BaseModel):
    """Pages of the latest run: `total` to fetch, `done` so far, and how each ended."""

    total: int
    done: int
    added: int
    updated: int
    unchanged: int
    removed: int  # gone from the sitemap: their files were deleted
    failed: int


class WebPageRead(BaseModel):
    url: str
    status: WebPageStatus
    file_id: uuid.UUID | None
    error: str | None
    fetched_at: datetime | None

    @classmethod
    def of(cls, row) -> WebPageRead:
        return cls(
            url=row.url, status=row.status, file_id=row.file_id, error=row.error, fetched_at=row.fetched_at
        )


class SitemapErrorRead(BaseModel):
    url: str
    error: str


class WebImportRead(BaseModel):
    id: uuid.UUID
    status: WebImportStatus
    urls: list[str]
    sitemap_url: str | None
    access: Access
    license: str | None = Field(description="The SPDX id the files made carry (open files)")
    page_counts: WebPageCounts
    capped: bool = Field(description="The sitemap listed more pages than an import takes")
    error: str | None = Field(description="Why the run failed as a whole (the sitemap could not be read)")
    sitemap_errors: list[SitemapErrorRead]
    runs: int
    pages: list[WebPageRead] | None = Field(
        default=None, description="Each URL's outcome (on `GET .../imports/{id}` only)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row, pages=None) -> WebImportRead:
        return cls(
            id=row.id,
            status=row.status,
            urls=row.urls,
            sitemap_url=row.sitemap_url,
            access=row.access,
            license=row.license,
            page_counts=WebPageCounts(
                total=row.pages_total,
                done=row.pages_done,
                added=row.pages_added,
                updated=row.pages_updated,
                unchanged=row.pages_unchanged,
                removed=row.pages_removed,
                failed=row.pages_failed,
            ),
            capped=row.capped,
            error=row.error,
            sitemap_errors=[SitemapErrorRead(**e) for e in row.sitemap_errors],
            runs=row.runs,
            pages=[WebPageRead.of(p) for p in pages] if pages is not None else None,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # a blank query embeds to noise and used to answer arbitrary passages (as the MCP tool's `query`): one of
    # spaces, or of characters that show nothing ("\u200b"), is refused
    query: Annotated[str, Field(min_length=1, max_length=4000), NOT_BLANK, SHOWS_TEXT]
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
    source_url: str | None = None  # the web page an imported file came from
    dataset_id: uuid.UUID | None = None
    license: str | None = None


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


# File batches (docs/ingestion.md) ------------------------------------------------------------------------
BatchStatus = Literal["in_progress", "completed", "cancelled", "failed"]
BatchFileStatus = FileStatus


class FileCounts(BaseModel):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class SkippedPart(BaseModel):
    """A part of the request that was not added: `empty`, a `duplicate` of `existing_file_id`, or a
    `nested_archive` (an archive inside the uploaded archive: not unpacked; upload its files instead)."""

    filename: str
    reason: Literal["empty", "duplicate", "nested_archive"]
    existing_file_id: uuid.UUID | None = None


class FileBatchRead(BaseModel):
    """OpenAI's vector store file batch object (`object: "file_batch"`), with the parts not added."""

    id: uuid.UUID
    object: Literal["file_batch"] = "file_batch"
    dataset_id: uuid.UUID
    status: BatchStatus
    file_counts: FileCounts
    skipped: list[SkippedPart] = Field(default_factory=list)
    created_at: datetime
