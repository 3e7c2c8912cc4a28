"""What citations and the dataset directory say of a dataset: who it belongs to and its license.

Owner: a dataset with an `organization_id` is named after its organisation (`kind: "organization"`, its
handle and name, page `/o/{handle}`); any other after its owning user (`kind: "user"`, `/creators/{handle}`).
The statements that read a dataset join its owning user and organisation (`retrieval.knowledge_search`'s
scope statement, `store.datasets.DatasetDirectory.items`); `owner_of` names the owner from those columns
(docs/data-library.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

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


def owner_of(
    organization_handle: str | None, organization_name: str | None, user_handle: str, user_name: str
) -> DatasetOwner:
    """The dataset's organisation when it has one (its handle and name joined), else the owning user."""
    if organization_handle is not None:
        return DatasetOwner("organization", organization_handle, organization_name or "")
    return DatasetOwner("user", user_handle, user_name)
