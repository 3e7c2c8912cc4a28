"""Request and response shapes of publishing, browsing, GPT pages and chat."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.schemas import Category, MessageText, Plain, Visible
from retrieval.schemas import CitedDatasetRead, MessageStatus, PendingCallRead, ToolCallRead
from store.appeals import approved_on_appeal
from tools.schemas import ToolDomainRead

# private: the GPT's owners; organisation: members of its organisation; link: anyone with the link;
# public: listed in the store (docs/store.md, docs/organisations.md).
Visibility = Literal["private", "organisation", "link", "public"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublishRequest(Strict):
    visibility: Visibility
    category: Category = None
    release_notes: Annotated[str | None, Plain] = Field(default=None, max_length=2000)


class VersionRead(BaseModel):
    number: int
    visibility: Visibility
    review_status: Literal["approved", "rejected"]
    review_reasons: list[str] = Field(
        description="Why it was rejected; after a granted appeal the earlier reasons stay, as history, "
        "followed by 'approved on appeal'"
    )
    approved_on_appeal: bool = False
    release_notes: str | None
    file_count: int
    created_at: datetime

    @classmethod
    def of(cls, version) -> VersionRead:
        """From a `GptVersion` row."""
        return cls(
            number=version.number,
            visibility=version.visibility,
            review_status=version.review_status,
            review_reasons=version.review_reasons,
            approved_on_appeal=approved_on_appeal(version.review_status, version.review_reasons),
            release_notes=version.release_notes,
            file_count=len(version.file_ids),
            created_at=version.created_at,
        )


class AppealCreate(Strict):
    message: Annotated[str, Visible] = Field(min_length=1, max_length=2000)


class AppealRead(BaseModel):
    id: uuid.UUID
    gpt_id: uuid.UUID
    version: int | None
    message: str
    status: Literal["open", "granted", "denied", "outdated"]
    note: str | None = Field(description="The moderators' note to the creator (or why it was closed)")
    created_at: datetime
    resolved_at: datetime | None = None


class AppealedDecision(BaseModel):
    """What the appeal asks the moderators to take back, as it stands now."""

    review_status: str | None = Field(
        description="The appealed version's review status (`rejected`, `approved`...); None without one"
    )
    review_reasons: list[str] = Field(description="Why the appealed version was rejected (review history)")
    unlisted_reason: str | None = Field(description="The moderator's reason the GPT is unlisted, if it is")
    hidden_by_reports: bool = Field(description="Hidden from lists by open reports until an admin decides")


class AdminAppealRead(AppealRead):
    """An appeal in the moderators' queue, with the decision it is about."""

    appealed: AppealedDecision


class AppealResolve(Strict):
    decision: Literal["grant", "deny"]
    note: Annotated[str | None, Plain] = Field(default=None, max_length=2000)


class ModerateRequest(Strict):
    action: Literal["reject", "unlist", "approve", "relist"] = Field(
        description="`reject` the version or `unlist` the GPT; `approve` a rejected version or `relist` an "
        "unlisted GPT (or one hidden by reports) to undo them"
    )
    reason: Annotated[str, Visible] = Field(min_length=1, max_length=1000)


class FeaturedRequest(Strict):
    gpt_ids: list[uuid.UUID] = Field(
        max_length=100, json_schema_extra={"uniqueItems": True}, description="In order; each once"
    )

    @field_validator("gpt_ids")
    @classmethod
    def _unique(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("The featured list repeats a GPT")
        return value


class Creator(BaseModel):
    handle: str
    display_name: str
    kind: Literal["user", "organization"] = Field(
        default="user", description="organization: `handle` is an organisation's (/o/{handle})"
    )


class RatingSummary(BaseModel):
    average: float | None
    count: int


class RatingDetail(RatingSummary):
    distribution: dict[str, int]


class ListingItem(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    category: str | None
    tags: list[str]
    creator: Creator
    rating: RatingSummary
    conversations: int
    conversations_label: str
    version: int
    updated_at: datetime


class ListingPage(BaseModel):
    data: list[ListingItem]
    next_cursor: str | None


class CategoryRead(BaseModel):
    slug: str
    name: str
    count: int


class OpenFile(BaseModel):
    id: uuid.UUID
    filename: str
    media_type: str
    bytes: int
    license: str | None
    download_url: str
    dataset: CitedDatasetRead | None = Field(
        default=None,
        description="The open dataset the file comes from, with its terms (attribution, license, page); "
        "null for the GPT's own files",
    )


class TrustSummary(BaseModel):
    """What of a GPT is public, in plain words and as fields (docs/trust.md)."""

    instructions: Literal["hidden", "public"]
    open_files: list[str] = Field(description="Names of the knowledge files anyone may read and download")
    private_files: int = Field(description="How many knowledge files inform answers but are never handed out")
    summary: str


class McpClientConfig(BaseModel):
    client: str = Field(description="An MCP client: Claude Code, Claude Desktop, Cursor, VS Code")
    where: str = Field(description="Where the snippet goes")
    snippet: str = Field(description="The configuration; `gsk_...` stands for the user's API key")


class McpAccess(BaseModel):
    """The GPT as an MCP server (docs/api.md): its URL and how common clients are configured for it."""

    url: str = Field(description="Streamable HTTP endpoint; send `Authorization: Bearer <API key>`")
    clients: list[McpClientConfig]


class GptPage(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    welcome_message: str
    conversation_starters: list[str]
    category: str | None
    tags: list[str]
    creator: Creator
    rating: RatingDetail
    conversations: int
    conversations_label: str
    version: int
    visibility: Visibility
    updated_at: datetime
    knowledge: list[OpenFile]
    more_by_creator: list[ListingItem]
    instructions: str | None = Field(
        default=None, description="For the GPT's owner, and for everyone when its instructions are public"
    )
    trust: TrustSummary
    tools: list[ToolDomainRead] = Field(
        default_factory=list,
        description="What the GPT calls: each action's domain and privacy policy, each MCP server's domain",
    )
    mcp: McpAccess | None = Field(default=None, description="Set on every page served; absent in the cache")


class ConversationCreated(BaseModel):
    id: uuid.UUID


class ConversationRead(BaseModel):
    id: uuid.UUID
    gpt_id: uuid.UUID
    version: int
    title: str
    created_at: datetime
    updated_at: datetime
    gpt_name: str | None = Field(
        default=None, description="The GPT's name in the version the chat is pinned to"
    )
    gpt_available: bool = Field(
        default=True, description="Whether the caller may still chat with the GPT (false: unpublished, ...)"
    )


class MessageCreate(Strict):
    content: MessageText


class Citation(BaseModel):
    file_id: uuid.UUID
    filename: str
    page: int | None
    heading: str | None
    quote: str | None
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


class ChatMessageRead(BaseModel):
    id: uuid.UUID | None = None
    role: Literal["user", "assistant", "system", "developer"]  # the last two: added via /v1/conversations
    content: str
    citations: list[Citation] = []
    status: MessageStatus = "completed"
    tool_calls: list[ToolCallRead] = []
    pending_call: PendingCallRead | None = None
    created_at: datetime | None = None


class ChatReplyRead(BaseModel):
    conversation_id: uuid.UUID
    message: ChatMessageRead
