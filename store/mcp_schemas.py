"""The structured results of the store's MCP tools (store/mcp_server.py): what `ask` and `search_knowledge`
return, as their output schemas show them to MCP clients."""

from __future__ import annotations

from pydantic import BaseModel, Field

from retrieval.schemas import CitedDatasetRead


class CitationOut(BaseModel):
    file_id: str
    filename: str
    page: int | None
    heading: str | None
    quote: str | None = Field(description="Text of an open file; null for private files, never quoted")
    url: str | None = Field(default=None, description="The web page an imported file came from")
    dataset_id: str | None = Field(default=None, description="The dataset of the cited file")
    dataset: CitedDatasetRead | None = Field(
        default=None, description="Name, license, attribution and owner of a dataset other than the GPT's own"
    )
    license: str | None = Field(
        default=None,
        description="The SPDX id an open file is shared under; null for a private file, or an open one "
        "given no license (all rights reserved)",
    )
    license_url: str | None = Field(default=None, description="The license's page at spdx.org")


class AskResult(BaseModel):
    answer: str = Field(description="The GPT's answer; [n] marks cite `citations[n-1]`-ordered sources")
    citations: list[CitationOut]
    conversation_id: str = Field(
        description="Pass it back as `conversation_id` to continue this conversation"
    )


class Passage(BaseModel):
    text: str
    file_id: str
    filename: str
    page: int | None
    heading: str | None
    score: float
    download_url: str = Field(description="The file's download on this site (a whole URL)")
    license: str | None = Field(
        default=None,
        description="The SPDX id the file is shared under; null: none given (all rights reserved)",
    )
    license_url: str | None = Field(default=None, description="The license's page at spdx.org")
    dataset_id: str | None = Field(default=None, description="The dataset of the file")
    dataset: CitedDatasetRead | None = Field(
        default=None,
        description="Name, license, attribution and owner of a dataset other than the GPT's own: what to "
        "name when using the passage",
    )


class SearchResult(BaseModel):
    passages: list[Passage]
    note: str | None = None
