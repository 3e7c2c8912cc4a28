"""Downloads of open datasets, with their license and attribution (docs/data-library.md).

One file: its bytes as uploaded, streamed, with headers that say the terms: `Link: <spdx page>;
rel="license"`, `Dataset-License` (the SPDX id), `Dataset-Attribution` (the text; RFC 8187 `UTF-8''...`
percent-encoding when it is not plain ASCII), and `Link: <dataset page>; rel="describedby"`.

All files: a zip streamed as it is written (never held whole, in memory or on disk) of the dataset's open
files plus `LICENSE.txt` and `ATTRIBUTION.txt`, refused with a 409 when the files add up to more than
`GPTSTORE_DATASET_ZIP_MAX_BYTES` (then download them one by one). Written by the standard library's
`zipfile` into a write-only sink (data descriptors, ZIP64 when a member needs it): no dependency.
"""

from __future__ import annotations

import asyncio
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import PurePosixPath
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.filenames import clean_filename, content_disposition, title_filename
from core.settings import Settings
from core.storage import storage_of
from retrieval.attribution import license_url
from retrieval.models import Dataset, KnowledgeFile
from retrieval.uploads import upload_key

CHUNK_BYTES = 1024 * 1024
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F))


def _header_text(text: str) -> str:
    """Plain printable ASCII as it is, anything else as RFC 8187 `UTF-8''percent-encoded` (never a control
    character or a line break in a header)."""
    if all(ch in _HEADER_SAFE for ch in text):
        return text
    return "UTF-8''" + quote(text, safe="")


def license_headers(dataset: Dataset, page_url: str) -> dict[str, str]:
    """The headers that carry a dataset's terms on each of its downloads."""
    return terms_headers(dataset.license, dataset.attribution, page_url)


async def gpt_file_terms(
    session: AsyncSession, gpt_id: uuid.UUID, file: KnowledgeFile, site: str
) -> dict[str, str]:
    """The terms of an open file a GPT hands out (`site` is the app's base URL): the file's license with the
    GPT's page for its own files; for a file of an attached open dataset, that dataset's terms as its own
    download of the file says them (its attribution, its page)."""
    if file.dataset_id != gpt_id:  # a GPT's home dataset has the GPT's id
        dataset = await session.get(Dataset, file.dataset_id)
        if dataset is not None and dataset.access == "open":
            return terms_headers(file.license, dataset.attribution, f"{site}/datasets/{dataset.id}")
    return terms_headers(file.license, None, f"{site}/g/{gpt_id}")


def terms_headers(license: str | None, attribution: str | None, page_url: str) -> dict[str, str]:
    """`Link` (the license's page, `rel="license"`, and `page_url`, `rel="describedby"`), `Dataset-License`
    and `Dataset-Attribution`: the terms of an open download, a dataset's file or a GPT's own open file
    (its license is the file's)."""
    links = [f'<{page_url}>; rel="describedby"']
    url = license_url(license)
    if url:
        links.insert(0, f'<{url}>; rel="license"')
    headers = {"Link": ", ".join(links)}
    if license:
        headers["Dataset-License"] = _header_text(license)
    if attribution:
        headers["Dataset-Attribution"] = _header_text(attribution)
    return headers


def license_note(dataset: Dataset, page_url: str) -> str:
    """`LICENSE.txt` of a zip: the dataset, its license id and page, where it came from."""
    url = license_url(dataset.license)
    lines = [
        f"{dataset.name}",
        "",
        f"License: {dataset.license or 'none given (all rights reserved)'}" + (f" ({url})" if url else ""),
        f"Source: {page_url}",
        "",
        "The files of this archive are distributed under the license above; read its full text at the",
        "address given before reusing them.",
    ]
    return "\n".join(lines) + "\n"


def attribution_note(dataset: Dataset, owner_name: str, page_url: str) -> str:
    """`ATTRIBUTION.txt` of a zip: the attribution the publisher asks for, else a default one."""
    text = dataset.attribution or f"{dataset.name} by {owner_name} ({page_url})"
    return f"{text}\n\nLicense: {dataset.license or 'none given'}\n"


async def open_upload(settings: Settings, file: KnowledgeFile) -> AsyncIterator[bytes]:
    """A stored upload's bytes in chunks (from the local directory or the bucket, `core.storage`); opened
    now, so a lost upload is a 404 before any byte is sent."""
    try:
        stored = await storage_of(settings).open(upload_key(file.id))
    except FileNotFoundError:
        raise NotFound(f"The content of '{file.filename}' is missing from storage") from None
    return stored.chunks


def head_content_type(media_type: str) -> str:
    """The `Content-Type` a HEAD answer names: the one Litestar gives the `GET`'s stream (text with its
    charset)."""
    return f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type


def zip_name(dataset: Dataset) -> str:
    return content_disposition(title_filename(dataset.name, ".zip", "dataset"))


def check_zip_size(settings: Settings, files: list[KnowledgeFile]) -> None:
    """409 when the files add up to more than `GPTSTORE_DATASET_ZIP_MAX_BYTES`."""
    total = sum(f.bytes for f in files)
    if total > settings.dataset_zip_max_bytes:
        raise Conflict(
            f"The dataset's files add up to {total:,} bytes, more than a zip download may hold "
            f"({settings.dataset_zip_max_bytes:,}); download them one by one",
            limit="dataset_zip_max_bytes",
        )


def member_names(files: list[KnowledgeFile]) -> list[str]:
    """A unique, safe zip member name per file: its clean name, `name (2).ext` for a repeated one; the
    notes' names are taken."""
    taken = {"license.txt", "attribution.txt"}
    names = []
    for file in files:
        path = PurePosixPath(clean_filename(file.filename) or "file")
        name, n = path.name, 1
        while name.lower() in taken:
            n += 1
            name = f"{path.stem} ({n}){path.suffix}"
        taken.add(name.lower())
        names.append(name)
    return names


class _Sink:
    """A write-only file for `zipfile`: it keeps what was written until `take()` hands it on."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


async def zip_stream(
    settings: Settings, files: list[KnowledgeFile], notes: dict[str, str]
) -> AsyncIterator[bytes]:
    """The zip of `files` and the text `notes` ({name: text}), as it is written: deflated, each member's
    chunks compressed off the event loop. Every upload is opened before the first byte (404 if one is
    lost), so a response that started does not end half-way for a missing file."""
    opened = [await open_upload(settings, file) for file in files]
    return _zip(files, opened, notes)


async def _zip(
    files: list[KnowledgeFile], opened: list[AsyncIterator[bytes]], notes: dict[str, str]
) -> AsyncIterator[bytes]:
    sink = _Sink()
    archive = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED)  # type: ignore[arg-type]
    for name, text in notes.items():
        archive.writestr(name, text)
    for chunk in sink.take():
        yield chunk
    for file, name, chunks in zip(files, member_names(files), opened, strict=True):
        info = zipfile.ZipInfo(name, date_time=file.created_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size = file.bytes  # lets zipfile choose ZIP64 up front for a member past 4 GiB
        member = archive.open(info, mode="w")
        async for chunk in chunks:
            await asyncio.to_thread(member.write, chunk)
            for piece in sink.take():
                yield piece
        member.close()
        for piece in sink.take():
            yield piece
    archive.close()
    for piece in sink.take():
        yield piece
