"""The bytes of a file batch: multipart parts streamed one by one into blob storage, or the members of one
zip/tar archive unpacked into it, never a whole request in memory (docs/ingestion.md).

Multipart form: repeated `file` parts, or one `archive` part (zip, tar, tar.gz/bz2/xz), plus the text
fields `access` and `license`. Archives are opened, listed and read by `core.archives`, as GPT imports are
(unsafe or duplicate member names, encrypted or damaged members: a 422 naming `archive` and the member),
with the zip-bomb guards of knowledge files: the declared sizes of all members at most
`max_uncompressed_bytes` and at most `max_compression_ratio` times the archive; each member at most
`max_file_bytes`; directories and `__MACOSX/` metadata are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from core.archives import Archive, Member, open_archive, shown
from core.errors import BadRequest, Invalid, TooLarge
from core.filenames import clean_filename, clean_member_name
from core.forms import MULTIPART_HEADER_BYTES
from core.settings import Settings
from core.storable import check_text
from retrieval.uploads import UploadBlobs

FIELDS = ("file", "archive", "access", "license")
MAX_TEXT_FIELD_BYTES = 1000
MAX_PART_HEADERS = 8  # the multipart parser's default count of headers in a part
READ_SIZE = 1024 * 1024
SKIPPED_PREFIXES = ("__MACOSX/",)
# Archives inside the archive are not unpacked (docs/limits.md: one level); they are named in `skipped`.
NESTED_ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".tbz", ".tbz2", ".bz2", ".txz", ".xz", ".7z", ".rar", ".zst",
)  # fmt: skip
# What `core.archives.open_archive` reads; a form's file of such a name is unpacked as a batch.
UNPACKED_ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".tgz", ".tar.gz", ".tbz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz",
)  # fmt: skip


@dataclass
class StagedFile:
    """One file of a batch, already in blob storage under `id`."""

    id: uuid.UUID
    filename: str
    bytes: int
    sha256: str
    blank: bool = False  # holds no text (`retrieval.uploads.holds_no_text`): skipped as `empty`


@dataclass
class StagedBatch:
    files: list[StagedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    archive: str | None = None  # the archive part's filename, when the files came in one
    # Members not staged: `[{"filename", "reason"}]` (an archive inside the archive: `nested_archive`).
    skipped: list[dict[str, str]] = field(default_factory=list)


def _invalid(message: str, field_name: str = "file") -> Invalid:
    return Invalid(message, field=field_name)


def _too_many(settings: Settings, field_name: str = "file") -> Invalid:
    return Invalid(
        f"A batch holds at most {settings.max_files_per_batch:,} files",
        field=field_name,
        limit="max_files_per_batch",
    )


async def stage_batch(
    stream: AsyncIterator[bytes], boundary: bytes, settings: Settings, blobs: UploadBlobs
) -> StagedBatch:
    """Stream a batch request into blob storage; on any refusal every stored part is removed again."""
    staged = StagedBatch()
    with removed_on_failure(staged, blobs):
        await _read_parts(stream, boundary, settings, blobs, staged)
        _require_files(staged)
    return staged


@contextlib.contextmanager
def removed_on_failure(staged: StagedBatch, blobs: UploadBlobs) -> Iterator[None]:
    """Remove every file staged so far from blob storage when the block raises (a refusal, a broken
    request, a failed insert): a refused batch leaves no bytes behind."""
    try:
        yield
    except BaseException:
        for item in staged.files:
            blobs.delete(item.id)
        raise


def is_unpacked_archive(filename: str | None) -> bool:
    """Whether a file of this name is an archive that a batch unpacks (zip or tar, plain or compressed):
    a form's file of such a name becomes a batch of its members (`stage_archive`)."""
    return (filename or "").lower().endswith(UNPACKED_ARCHIVE_SUFFIXES)


async def stage_archive(
    content: AsyncIterator[bytes],
    filename: str,
    fields: dict[str, str],
    settings: Settings,
    blobs: UploadBlobs,
) -> StagedBatch:
    """One archive sent as a form's file (not as a batch request's `archive` part), staged as such a
    batch with the form's `fields` (access, license); on any refusal every stored member is removed."""
    staged = StagedBatch(fields=dict(fields), archive=clean_filename(filename))
    with removed_on_failure(staged, blobs):
        await _stage_archive(content, staged.archive, settings, blobs, staged)
        _require_files(staged)
    return staged


def _require_files(staged: StagedBatch) -> None:
    """A 422 for a batch without a file to add: an archive of archives, an empty archive, no parts."""
    if not staged.files and staged.archive is not None and staged.skipped:
        names = ", ".join(shown(item["filename"]) for item in staged.skipped[:5])
        raise _invalid(
            f"The archive '{shown(staged.archive)}' holds only archives ({names}), which are not "
            "unpacked; upload their files instead",
            "archive",
        )
    if not staged.files and staged.archive is not None:
        raise _invalid(f"The archive '{shown(staged.archive)}' holds no files", "archive")
    if not staged.files:
        raise _invalid("Send the files as multipart parts named 'file', or one zip/tar part named 'archive'")


async def _read_parts(
    stream: AsyncIterator[bytes], boundary: bytes, settings: Settings, blobs: UploadBlobs, staged: StagedBatch
) -> None:
    events = _events(stream, boundary, settings.max_files_per_batch + len(FIELDS))
    archives = 0
    async for segment in events:
        body = _body(events)
        name = segment.name
        if not name:
            raise _invalid("A part of the form has no name: send the files as parts named 'file'", "form")
        if name not in FIELDS:
            raise _invalid(f"Unknown form field '{name}'", name if isinstance(name, str) else "form")
        if name in ("access", "license"):
            data = b""
            async for piece in body:
                data += piece
                if len(data) > MAX_TEXT_FIELD_BYTES:
                    raise _invalid(f"{name} is longer than {MAX_TEXT_FIELD_BYTES} bytes", name)
            try:
                staged.fields[name] = check_text(data.decode(segment.charset or "utf-8"), name)
            except (UnicodeDecodeError, LookupError):
                raise _invalid(f"{name} is not UTF-8 text", name) from None
            continue
        if name == "archive":
            archives += 1
            if archives > 1:
                raise _invalid("Send one archive per batch", "archive")
            if staged.files:
                raise _invalid("Send one archive, or files, not both", "archive")
            staged.archive = segment.filename or "archive"
            await _stage_archive(body, segment.filename or "archive", settings, blobs, staged)
            continue
        if archives:
            raise _invalid("Send one archive, or files, not both", "archive")
        if len(staged.files) >= settings.max_files_per_batch:
            raise _too_many(settings)
        staged.files.append(await _store(blobs, body, segment.filename, settings))


async def _store(
    blobs: UploadBlobs,
    content: AsyncIterator[bytes],
    filename: str | None,
    settings: Settings,
    *,
    folders: bool = False,
) -> StagedFile:
    file_id = uuid.uuid4()
    name = clean_member_name(filename) if folders else clean_filename(filename)  # folders: archive members
    size, sha256, blank = await blobs.write_stream(file_id, content, settings.max_file_bytes, name)
    return StagedFile(file_id, name, size, sha256, blank)


async def _events(
    stream: AsyncIterator[bytes], boundary: bytes, max_parts: int
) -> AsyncIterator[MultipartSegment | bytes | None]:
    """The parser's events: a segment (a part's headers), its bytes, then None at the part's end."""
    try:
        with PushMultipartParser(
            boundary,
            max_header_size=MULTIPART_HEADER_BYTES,
            max_header_count=MAX_PART_HEADERS,
            max_segment_count=max_parts,
        ) as parser:
            async for chunk in stream:
                for event in parser.parse(chunk):
                    yield event
                if parser.closed:
                    break
            if not parser.closed:
                for event in parser.parse(b""):
                    yield event
    except ParserLimitReached as exc:
        raise _limit_reached(str(exc), max_parts) from None
    except ParserError as exc:
        # The parser's message holds Python reprs of the bytes it choked on: the cause is said in words.
        cause = (
            "the headers of a part are not UTF-8 (a file name in another encoding?)"
            if isinstance(exc.__cause__ or exc.__context__, UnicodeDecodeError) or "decode" in str(exc)
            else "it is cut off or damaged"
        )
        raise _invalid(f"The form is not valid multipart/form-data: {cause}", "form") from None


def _limit_reached(reason: str, max_parts: int) -> Invalid:
    """The parser's limit by its cause; the parser tells its limits apart only by their message."""
    if "header length" in reason:
        return Invalid(
            f"A header of a part is longer than {MULTIPART_HEADER_BYTES:,} bytes (a file name that long?)",
            field="form",
            limit="max_part_header_bytes",
        )
    if "header count" in reason:
        return Invalid(
            f"A part has more than {MAX_PART_HEADERS} headers", field="form", limit="max_part_headers"
        )
    if "segment count" in reason:
        return Invalid(
            f"A batch holds at most {max_parts - len(FIELDS):,} files (the form has more than {max_parts:,}"
            " parts)",
            field="file",
            limit="max_files_per_batch",
        )
    return Invalid(f"The form is over a limit of the multipart parser: {reason}", field="form")


async def _body(events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for event in events:
        if event is None:
            return
        if isinstance(event, MultipartSegment):  # the parser never does this; guard the invariant
            raise BadRequest("Invalid multipart/form-data: a part has no end")
        if event:
            yield bytes(event)


# Archives -----------------------------------------------------------------------------------------------


async def _stage_archive(
    body: AsyncIterator[bytes], filename: str, settings: Settings, blobs: UploadBlobs, staged: StagedBatch
) -> None:
    """Spool the archive to a temporary file, check every member first, then store the members."""
    limit = settings.max_file_bytes
    spool_dir = settings.data_dir / "tmp"
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        size = 0
        async for piece in body:
            size += len(piece)
            if size > limit:
                raise TooLarge(
                    f"The archive is larger than the limit of {limit:,} bytes",
                    errors=[{"field": "archive", "message": "too large"}],
                    limit="max_file_bytes",
                )
            await asyncio.to_thread(spool.write, piece)
        spool.seek(0)
        # entries, directories and resource forks (`__MACOSX/._name`) included: a few per file at most
        entries = 4 * settings.max_files_per_batch + 100
        opened = await asyncio.to_thread(open_archive, spool, _archive_failure, filename, max_entries=entries)
        with opened as archive:
            members = [
                member
                for member in archive.members
                if not member.is_dir and not member.name.startswith(SKIPPED_PREFIXES)
            ]
            _check_members(members, size, settings)
            for member in members:
                name = clean_member_name(member.name)
                if name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
                    staged.skipped.append({"filename": name, "reason": "nested_archive"})
                    continue
                content = _member_chunks(archive, member)
                staged.files.append(await _store(blobs, content, member.name, settings, folders=True))


def _archive_failure(message: str) -> Invalid:
    """What `core.archives` found wrong with the archive, as a 422 naming the `archive` field."""
    return _invalid(message[:1].upper() + message[1:], "archive")


def _check_members(members: list[Member], size: int, settings: Settings) -> None:
    if len(members) > settings.max_files_per_batch:
        raise _too_many(settings, "archive")
    total = sum(member.size for member in members)
    if total > settings.max_uncompressed_bytes:
        raise TooLarge(
            f"The archive would unpack to {total:,} bytes, more than {settings.max_uncompressed_bytes:,}",
            errors=[{"field": "archive", "message": "unpacks too large"}],
            limit="max_uncompressed_bytes",
        )
    if total > max(size, 1) * settings.max_compression_ratio:
        raise TooLarge(
            "The archive is compressed suspiciously well (a zip bomb?) and was refused",
            errors=[{"field": "archive", "message": "compression ratio too high"}],
            limit="max_compression_ratio",
        )
    for member in members:
        if member.size > settings.max_file_bytes:
            raise TooLarge(
                f"The archive member '{shown(member.name)}' is larger than the limit of"
                f" {settings.max_file_bytes:,} bytes",
                errors=[{"field": "archive", "message": "member too large"}],
                limit="max_file_bytes",
            )


async def _member_chunks(archive: Archive, member: Member) -> AsyncIterator[bytes]:
    """A member's bytes; a damaged member (bad CRC, truncated stream) is a 422 naming it."""
    reader = await asyncio.to_thread(archive.open, member)
    with reader:
        while piece := await asyncio.to_thread(reader.read, READ_SIZE):
            yield piece
