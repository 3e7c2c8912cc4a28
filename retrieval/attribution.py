"""What citations and the dataset directory say of a dataset: who it belongs to and its license.

Owner: a dataset with an `organization_id` is named after its organisation (`kind: "organization"`, its
handle and name, page `/o/{handle}`); any other after its owning user (`kind: "user"`, `/creators/{handle}`).
Organisations are looked up by raw SQL, guarded by `to_regclass('organization')`, so this works on a
schema with or without the organisations table (docs/data-library.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

OwnerKind = Literal["user", "organization"]
# An SPDX license id (https://spdx.org/licenses/): letters, digits, '.', '-' and '+'. `LicenseRef-...` ids
# are a publisher's own and have no page there.
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]{0,99}")


def license_url(license: str | None) -> str | None:
    """The SPDX page of a license id (`https://spdx.org/licenses/MIT.html`), None for none or a LicenseRef."""
    if not license or not _SPDX_ID.fullmatch(license) or license.startswith("LicenseRef-"):
        return None
    return f"https://spdx.org/licenses/{license}.html"


@dataclass(frozen=True)
class DatasetOwner:
    kind: OwnerKind
    handle: str
    name: str

    @property
    def url(self) -> str:
        """The owner's page in the store."""
        return f"/o/{self.handle}" if self.kind == "organization" else f"/creators/{self.handle}"

    def as_json(self) -> dict[str, str]:
        return {"type": self.kind, "handle": self.handle, "name": self.name, "url": self.url}


async def organization_owners(
    session: AsyncSession, organization_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, DatasetOwner]:
    """The organisations among `organization_ids` by id (one statement; none without any id, or before the
    organisations table exists)."""
    ids = sorted({i for i in organization_ids if i is not None})
    if not ids:
        return {}
    if await session.scalar(sa.text("SELECT to_regclass('organization') IS NULL")):
        return {}
    rows = await session.execute(
        sa.text("SELECT id, handle, name FROM organization WHERE id = ANY(:ids)"), {"ids": ids}
    )
    return {row.id: DatasetOwner("organization", row.handle, row.name) for row in rows}


def owner_of(
    organization_id: uuid.UUID | None,
    user_handle: str,
    user_name: str,
    organizations: dict[uuid.UUID, DatasetOwner],
) -> DatasetOwner:
    """The organisation when the dataset has one (and it is known), else the owning user."""
    if organization_id is not None and organization_id in organizations:
        return organizations[organization_id]
    return DatasetOwner("user", user_handle, user_name)
