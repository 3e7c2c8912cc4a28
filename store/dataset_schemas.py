"""Shapes of the dataset directory (`/api/store/datasets`) and of a dataset's contributor numbers
(`/api/datasets/{id}/stats`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from retrieval.schemas import DatasetOwnerRead

DirectorySort = Literal["relevance", "used", "new", "name"]


class DatasetSize(BaseModel):
    """What an open dataset holds: its completed open files, their bytes and chunks."""

    bytes: int
    files: int
    chunks: int


class DatasetItem(BaseModel):
    """An open dataset in the directory."""

    id: uuid.UUID
    name: str
    description: str
    license: str | None = Field(description="SPDX license id")
    license_url: str | None = Field(description="The license's page at spdx.org")
    attribution: str | None
    owner: DatasetOwnerRead
    size: DatasetSize
    used_by: int = Field(description="Listed GPTs whose live version uses the dataset")
    version: int
    updated_at: datetime


class DatasetDirectoryPage(BaseModel):
    data: list[DatasetItem]
    next_cursor: str | None = None


class LicenseCount(BaseModel):
    license: str
    license_url: str | None
    count: int = Field(description="Open datasets under it")


class DatasetFileItem(BaseModel):
    """A file of an open dataset, downloadable by anyone."""

    id: uuid.UUID
    filename: str
    media_type: str
    bytes: int
    chunks: int
    download_url: str


class UsedByItem(BaseModel):
    """A listed GPT whose live version uses the dataset."""

    id: uuid.UUID
    name: str
    description: str
    creator_handle: str
    url: str


class DatasetPageRead(DatasetItem):
    """An open dataset's page: the directory item, its files, the zip of all of them, the GPTs using it."""

    files: list[DatasetFileItem]
    download_url: str = Field(description="A zip of every file with LICENSE.txt and ATTRIBUTION.txt")
    used_by_gpts: list[UsedByItem] = Field(description="The most used listed GPTs using it (at most 50)")


class CitationDay(BaseModel):
    date: date
    citations: int
    answers: int


class CitingGpt(BaseModel):
    """A listed GPT that cited the dataset in the period."""

    id: uuid.UUID
    name: str
    creator_handle: str
    url: str
    citations: int
    answers: int


class CitationTotals(BaseModel):
    citations: int = Field(description="Sources of the dataset cited in answers")
    answers: int = Field(description="Answers citing the dataset at least once")
    gpts: int = Field(description="GPTs whose answers cited it, listed or not")


class DatasetStatsRead(BaseModel):
    """How often a dataset was cited per day (UTC, today included) and by which listed GPTs. GPTs not in
    the store count in the totals but are not named."""

    dataset_id: uuid.UUID
    name: str
    days: int
    totals: CitationTotals
    daily: list[CitationDay]
    top_gpts: list[CitingGpt]
