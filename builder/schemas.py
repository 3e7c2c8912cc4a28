"""Request and response shapes of GPT drafts and the builder chat."""

from __future__ import annotations

import tomllib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from core.errors import Invalid
from core.patterns import Matches
from core.schemas import (
    NOT_BLANK,
    SHOWS_TEXT,
    Category,
    Language,
    MessageText,
    OneLine,
    Plain,
    StrictBool,
    bounded_float,
    bounded_int,
    not_null,
)
from retrieval.dataset_schemas import AttachedDatasetRead
from retrieval.schemas import (
    MAX_CHUNK_SIZE,
    MAX_LICENSE_CHARS,
    ApprovalCreate,
    CitedDatasetRead,
    MessageStatus,
    PendingCallRead,
    ToolCallRead,
    overlap_too_large,
)
from tools.export_schemas import ToolsExport

EDITABLE_FIELDS = (
    "name",
    "description",
    "instructions",
    "welcome_message",
    "conversation_starters",
    "category",
    "tags",
    "language",
)


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_size: bounded_int(100, MAX_CHUNK_SIZE) | None = None
    # At most half of chunk_size: the one sent (`_overlap_at_most_half`), else the GPT's
    # (`retrieval.service.KnowledgeService.configure`); the schema shows half of the largest.
    chunk_overlap: bounded_int(0, MAX_CHUNK_SIZE // 2, le_shown_only=True) | None = None
    top_k: bounded_int(1, 50) | None = None
    # Relevance score (0..1) below which passages are not used in answers; docs/retrieval.md.
    score_threshold: bounded_float(0, 1) | None = None

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_at_most_half(cls, value: int | None, info: ValidationInfo) -> int | None:
        size = info.data.get("chunk_size")
        if value is not None and size is not None and (reason := overlap_too_large(value, size)):
            raise ValueError(reason)
        return value


class GptFields(BaseModel):
    """The editable fields; every one optional, so the same model validates create, PATCH and tool calls."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str | None, Plain, OneLine] = Field(default=None, max_length=64)
    description: Annotated[str | None, Plain] = Field(default=None, max_length=300)
    instructions: str | None = Field(default=None, max_length=32_000)
    welcome_message: Annotated[str | None, Plain] = Field(default=None, max_length=300)
    conversation_starters: (
        list[Annotated[str, Field(max_length=200), NOT_BLANK, SHOWS_TEXT, Plain]] | None
    ) = Field(default=None, max_length=4, description="Each with a non-blank character")
    category: Category = None
    tags: list[Annotated[str, Plain]] | None = Field(default=None, max_length=8)
    language: Language = None

    @field_validator("conversation_starters")
    @classmethod
    def _starters(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [s.strip() for s in value]
        if any(not s for s in cleaned):
            raise ValueError("conversation starters must not be empty")
        if any(len(s) > 200 for s in cleaned):
            raise ValueError("each conversation starter has at most 200 characters")
        return cleaned

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [t.strip().lower() for t in value if t.strip()]
        if any(len(t) > 32 for t in cleaned):
            raise ValueError("each tag has at most 32 characters")
        return list(dict.fromkeys(cleaned))


class TrustSettings(BaseModel):
    """What of a GPT may leave it verbatim (docs/trust.md)."""

    model_config = ConfigDict(extra="forbid")

    instructions: Literal["hidden", "public"] | None = Field(
        default=None, description="`hidden` (default): never shown, never repeated; `public`: on the GPT page"
    )
    # Most consecutive words of private knowledge or hidden instructions an answer may repeat.
    verbatim_max_words: bounded_int(3, 1000) | None = None


class GptConfig(GptFields):
    """Everything of a draft a creator sets: what PATCH and imported archives carry."""

    retrieval: RetrievalSettings | None = None
    trust: TrustSettings | None = None
    model: str | None = Field(default=None, max_length=100)


class GptCreate(GptConfig):
    organization_id: uuid.UUID | None = Field(
        default=None,
        description="Owned by this organisation (its plan `team`, the caller a builder or higher there)",
    )


class GptUpdate(GptConfig):
    pass


class GptTransfer(BaseModel):
    """Exactly one of the two: the organisation that will own the GPT, or the user (id) who will."""

    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> GptTransfer:
        if (self.organization_id is None) == (self.user_id is None):
            raise ValueError("send exactly one of organization_id and user_id")
        return self


# An export archive's manifest (`gptstore.json`, docs/builder.md#export-and-import), validated whole before
# an import creates anything. Keys may be absent (older exports lack `trust`, `tools`, `datasets`); null
# only where an export writes null (a draft without category, language, model, word limit; a file
# without license).
EXPORT_FORMAT = "gptstore.gpt"
EXPORT_VERSION = 1
MAX_DATASET_ENTRIES = 100  # datasets one export may name (a GPT attaches far fewer)
Sha256 = Annotated[str, Matches(r"^[0-9a-f]{64}$", "must be 64 lowercase hexadecimal digits")]


class RetrievalExport(RetrievalSettings):
    _not_null = not_null("chunk_size", "chunk_overlap", "top_k", "score_threshold")


class TrustExport(TrustSettings):
    _not_null = not_null("instructions")


class GptExport(GptConfig):
    """The draft's fields, as PATCH takes them."""

    retrieval: RetrievalExport | None = None
    trust: TrustExport | None = None

    _not_null = not_null(
        "name", "description", "instructions", "welcome_message", "conversation_starters", "tags",
        "retrieval", "trust",
    )  # fmt: skip


class KnowledgeFileExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The archive member with the file's bytes")
    filename: Annotated[str, Field(max_length=255)] | None = Field(
        default=None, description="Default: the path's"
    )
    access: Literal["private", "open"] = "private"
    license: str | None = Field(default=None, max_length=MAX_LICENSE_CHARS)
    sha256: Sha256 | None = Field(default=None, description="Checked against the member's bytes")

    _not_null = not_null("filename", "sha256")


class GptDatasetExport(BaseModel):
    """A dataset the GPT uses besides its own, by id (not copied; attached again when the importer may)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    name: str = ""
    follow_latest: StrictBool = False


class ExportManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["gptstore.gpt"]
    version: Literal[1]
    gpt: GptExport
    files: list[KnowledgeFileExport]
    datasets: list[GptDatasetExport] | None = Field(default=None, max_length=MAX_DATASET_ENTRIES)
    tools: ToolsExport | None = None

    _not_null = not_null("datasets", "tools")


def validate_fields(model: type[BaseModel], data: dict[str, Any], categories: list[str]) -> BaseModel:
    """Validate like the API does, raising a 422 `Invalid` that names every bad field."""
    errors: list[dict[str, Any]] = []
    parsed = None
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()
        ]
    category = data.get("category")
    named = {e["field"] for e in errors}
    if isinstance(category, str) and category not in categories and "category" not in named:
        errors.append({"field": "category", "message": f"must be one of: {', '.join(categories)}"})
    if errors:
        raise Invalid("Invalid value for: " + ", ".join(sorted({e["field"] for e in errors})), errors=errors)
    return parsed


def check_category(category: str | None, categories: list[str]) -> None:
    if category is not None and category not in categories:
        raise Invalid(f"category must be one of: {', '.join(categories)}", field="category")


class RetrievalRead(BaseModel):
    chunk_size: int
    chunk_overlap: int
    top_k: int
    score_threshold: float


class TrustRead(BaseModel):
    instructions: Literal["hidden", "public"]
    verbatim_max_words: int = Field(description="The GPT's own limit, or GPTSTORE_VERBATIM_MAX_WORDS")


class GptRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    instructions: str
    welcome_message: str
    conversation_starters: list[str]
    category: str | None
    tags: list[str]
    language: str | None
    retrieval: RetrievalRead
    trust: TrustRead
    model: str | None
    organization_id: uuid.UUID | None = Field(description="The organisation that owns it; null: its creator")
    capabilities: list[str] = Field(description="What this GPT can really do")
    datasets: list[AttachedDatasetRead] = Field(
        default=[], description="The datasets it answers from, its own (home) dataset first"
    )
    created_at: datetime
    updated_at: datetime


FIELD_LABELS: dict[str, str] = tomllib.loads(
    (Path(__file__).parent / "data" / "field_labels.toml").read_text(encoding="utf-8")
)


class Change(BaseModel):
    field: str
    before: Any
    after: Any

    @computed_field
    @property
    def label(self) -> str:
        """The field as the Configure tab names it (`builder/data/field_labels.toml`)."""
        return FIELD_LABELS.get(self.field, self.field.replace("_", " ").capitalize())


class BuilderMessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: MessageText


class BuilderMessageRead(BaseModel):
    id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    changes: list[Change] = []
    undone: bool = False
    created_at: datetime


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class BuilderTurnRead(BaseModel):
    message: AssistantMessage
    changes: list[Change]
    gpt: GptRead
    usage: dict[str, int] | None = None


class UndoRead(BaseModel):
    reverted: list[Change]
    gpt: GptRead


class PreviewMessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: MessageText
    conversation_id: uuid.UUID | None = None


class PreviewApprovalCreate(ApprovalCreate):
    """The creator's decision on a call a preview answer waits for, in that preview conversation."""

    conversation_id: uuid.UUID


class CitationRead(BaseModel):
    file_id: uuid.UUID
    filename: str
    page: int | None
    heading: str | None
    quote: str | None = Field(description="Only for open-access files; private files are never quoted")
    url: str | None = Field(default=None, description="The web page an imported file came from")
    dataset_id: uuid.UUID | None = Field(default=None, description="The dataset of the cited file")
    dataset: CitedDatasetRead | None = Field(
        default=None, description="Name, license, attribution and owner of a dataset other than the GPT's own"
    )
    license: str | None = Field(
        default=None,
        description="The SPDX id an open file is shared under; null for a private file, or an open one "
        "given no license (all rights reserved)",
    )
    license_url: str | None = Field(default=None, description="The license's page at spdx.org")


class CitedMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[CitationRead]
    status: MessageStatus = "completed"
    tool_calls: list[ToolCallRead] = []
    pending_call: PendingCallRead | None = None


class PreviewRead(BaseModel):
    conversation_id: uuid.UUID
    message: CitedMessage
