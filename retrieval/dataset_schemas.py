"""Request and response shapes of datasets and of the datasets a GPT uses (docs/data-library.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import Invalid
from core.schemas import OneLine, Plain, StrictBool, Visible
from retrieval.licenses import spdx_license

DatasetAccess = Literal["open", "private"]


def _spdx(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return spdx_license(value)
    except Invalid as exc:  # as a ValueError, pydantic reports it under the field's name
        raise ValueError(exc.detail) from None


class DatasetFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: Annotated[str | None, Plain] = Field(default=None, max_length=2000)
    license: str | None = Field(
        default=None,
        max_length=100,
        description="An SPDX license id (https://spdx.org/licenses/), e.g. CC-BY-4.0; required when open",
    )
    attribution: Annotated[str | None, Plain] = Field(
        default=None, max_length=500, description="How users must credit the data (shown with citations)"
    )

    @field_validator("license")
    @classmethod
    def _license(cls, value: str | None) -> str | None:
        return _spdx(value)


class DatasetCreate(DatasetFields):
    """A new dataset; `license` is required when `access` is `open`."""

    name: Annotated[str, Visible, OneLine] = Field(min_length=1, max_length=100)
    access: DatasetAccess = "private"
    organization_id: uuid.UUID | None = Field(
        default=None, description="Owned by this organisation (the creator must be one of its builders or up)"
    )


class DatasetUpdate(DatasetFields):
    """Fields to change; changing `access` or `license` changes every file of the dataset with it."""

    name: Annotated[str | None, Visible, OneLine] = Field(default=None, min_length=1, max_length=100)
    access: DatasetAccess | None = None


class DatasetRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    access: DatasetAccess
    license: str | None = Field(description="SPDX license id")
    license_name: str | None = Field(description="The license's name in the SPDX list")
    attribution: str | None
    owner_id: uuid.UUID
    organization_id: uuid.UUID | None
    home_gpt_id: uuid.UUID | None = Field(
        description="Set for a GPT's home dataset (`/api/gpts/{id}/files`): it goes with that GPT"
    )
    version: int = Field(description="Grows by one whenever a file is added or removed")
    file_count: int
    bytes: int = Field(description="Total size of its files in bytes")
    created_at: datetime
    updated_at: datetime


class GptDatasetCreate(BaseModel):
    """Attach a dataset to a GPT draft."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    follow_latest: StrictBool = Field(
        default=False,
        description="true: the published GPT reads the dataset's current files; false: the files it had "
        "when the GPT was published (until the next publish)",
    )


class GptDatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    follow_latest: StrictBool


class AttachedDatasetRead(BaseModel):
    """A dataset a GPT draft uses."""

    id: uuid.UUID
    name: str
    access: DatasetAccess
    license: str | None
    version: int
    follow_latest: bool
    home: bool = Field(description="The GPT's own (home) dataset; it cannot be detached")
