"""Uploads in storage: their keys, streaming an upload to storage (hash and size limit on the way), and the
media type judged from an upload's content."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from core.errors import TooLarge
from core.settings import Settings
from core.storage import storage_of
from retrieval.child_tasks import sniff_media_type
from retrieval.isolation import ChildLimits, run_in_child
from retrieval.parsing import EmptyDocument, ParseError, parse_document
from retrieval.parsing.detection import detect


def upload_key(file_id: uuid.UUID) -> str:
    """The storage key of an upload (core/storage.py): `files/<first two hex digits>/<id>`."""
    name = str(file_id)
    return f"files/{name[:2]}/{name}"


async def spool_upload(path: Path, chunks: AsyncIterator[bytes], limit: int) -> tuple[int, str]:
    """Stream an upload into the local file `path`; returns (bytes, sha256). Raises TooLarge past `limit`."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(
                    f"The file is larger than the limit of {limit:,} bytes per file",
                    errors=[{"field": "file", "message": "too large"}],
                    limit="max_file_bytes",
                )
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


class UploadBlobs:
    """Uploads by file id over the configured storage (`core.storage`: a directory or a bucket), for
    callers that store many files before their rows exist (file batches, `gptstore ingest`)."""

    def __init__(self, settings: Settings):
        self.storage = storage_of(settings)

    async def write_stream(
        self, file_id: uuid.UUID, chunks: AsyncIterator[bytes], limit: int, filename: str = ""
    ) -> tuple[int, str, bool]:
        """Store an upload (spooled locally for the hash and the size limit, then put); returns (bytes,
        sha256, blank: `holds_no_text`). Raises TooLarge past `limit`, storing nothing."""
        key = upload_key(file_id)
        spool = self.storage.spool_path(key)
        try:
            size, sha256 = await spool_upload(spool, chunks, limit)
            blank = await asyncio.to_thread(holds_no_text, spool, filename, size)
            await self.storage.put_file(key, spool)
        finally:
            spool.unlink(missing_ok=True)
        return size, sha256, blank

    def delete(self, file_id: uuid.UUID) -> None:
        """Remove a stored upload in the background (`Storage.delete_soon`)."""
        self.storage.delete_soon([upload_key(file_id)])


def upload_blobs(settings: Settings) -> UploadBlobs:
    return UploadBlobs(settings)


# Up to this size an upload is judged for text at once (`holds_no_text`): the bound under which
# `retrieval.parsing.parse_document` calls a file of whitespace empty, and text kinds parse in milliseconds.
BLANK_CHECK_BYTES = 65536


def holds_no_text(path: Path, filename: str, size: int) -> bool:
    """Whether an upload holds no text the ingestion job would find, judged at once: empty, nothing but
    whitespace and NULs, or a text kind (plain, Markdown, CSV, TSV, HTML, JSON) whose parse finds no text
    (a lone BOM, markup without words). Binary formats and files over `BLANK_CHECK_BYTES` are left to the
    job, which parses them in a child process."""
    if size == 0:
        return True
    return size <= BLANK_CHECK_BYTES and bytes_hold_no_text(path.read_bytes(), filename)


def bytes_hold_no_text(data: bytes, filename: str) -> bool:
    """`holds_no_text` of bytes in memory (an imported GPT's files)."""
    if len(data) > BLANK_CHECK_BYTES:
        return False
    if not data.strip(b"\x00 \t\r\n"):
        return True
    try:
        if detect(data, filename).text is None:  # PDF, Office: parsed only in a child, by the job
            return False
        parse_document(data, filename)
    except EmptyDocument:
        return True
    except ParseError:  # another fault: the job names it
        return False
    return False


SNIFF_LIMIT = 64 * 1024 * 1024
# Sniffing decodes text and may parse JSON. Up to this size that takes milliseconds and is done in a
# thread; above it, in a parse child (retrieval.isolation), and only briefly, since it holds a request.
SNIFF_IN_PROCESS_BYTES = 1024 * 1024
SNIFF_TIMEOUT_SECONDS = 10.0


async def sniff_upload(settings: Settings, path: Path, filename: str, size: int) -> str:
    """The media type judged from the content at upload (the ingestion job parses and checks it again)."""
    if size > SNIFF_LIMIT:
        return "application/octet-stream"
    if size <= SNIFF_IN_PROCESS_BYTES:
        return await asyncio.to_thread(sniff_media_type, str(path), filename)
    limits = ChildLimits.of(settings)
    limits = ChildLimits(min(limits.timeout_seconds, SNIFF_TIMEOUT_SECONDS), limits.memory_bytes)
    try:
        return await run_in_child(sniff_media_type, str(path), filename, limits=limits, what="sniff")
    except ParseError:  # over a limit: the job reports it
        return "application/octet-stream"
