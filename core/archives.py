"""Archives users upload (file batches, GPT imports): opened, listed and read without a library failure ever
reaching the client as a 500.

`open_archive` (zip or tar, judged by content) and `open_zip` check every entry before a byte of any member
is read, and refuse the archive whole when one is unsafe or ambiguous:

- a name that is absolute, climbs with `..`, holds a backslash or a control character
  (`core.filenames.unsafe_member_name`), checked as stored: zipfile cuts a name at its first NUL, so the
  zip's original name is checked, not the cut one;
- a zip name flagged UTF-8 whose bytes are not (a tar name that is not UTF-8 likewise);
- two members (not directories) of the same name: zipfile opens the last of them by name and a tar
  overwrites the first on extraction, so which content is meant cannot be known;
- a zip member that is encrypted or uses a compression other than stored, deflate, bzip2 and lzma;
- a tar member that is neither a regular file nor a directory (links, devices, fifos);
- more entries than the caller's `max_entries` (directories included), told before they are listed: a
  zip's end record gives its entry count and the size of its central directory (bounded to
  `DIRECTORY_BYTES_PER_ENTRY` per entry, since zipfile reads the directory by size, whatever the count
  says), and a tar's listing stops there. Listing keeps every entry in memory: 50 MB of empty entries
  would otherwise be a million of them.

Every failure of zipfile, tarfile and the decompressors, whether opening, listing or reading a member (a
damaged directory, a bad CRC, a truncated stream), goes to the caller's `fail(message)`, which returns the
caller's own error: a 422 naming its form field, or a `ParseError`. Messages are clauses naming the member
(`"the archive member 'e.md' is encrypted"`), for the caller to put in its own sentence.
"""

from __future__ import annotations

import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from core.filenames import unsafe_member_name

Fail = Callable[[str], Exception]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty zip
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
ZIP_ENCRYPTED = 0x1  # general-purpose flag bit 0
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # gzip, bzip2, xz
# A central directory entry is 46 bytes plus its name, extra field and comment: 512 bytes each leaves room
# for names of 300 bytes with extra fields, and keeps a directory that lies about its count near the count.
DIRECTORY_BYTES_PER_ENTRY = 512
DEFAULT_MAX_ENTRIES = 10_000

# What zipfile, tarfile and the decompressors raise on damaged input. zlib.error and LZMAError are not
# OSErrors; zipfile says "encrypted" with a RuntimeError and "unsupported compression" with a
# NotImplementedError (a RuntimeError); a name flagged UTF-8 that is not is a UnicodeDecodeError (a
# ValueError); a huge offset in a damaged directory can overflow a seek.
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    OverflowError,
    struct.error,
    RuntimeError,
)


@dataclass(frozen=True)
class Member:
    """One entry: its name as stored (never cut at a NUL), its declared size, and the library's own entry."""

    name: str
    size: int
    is_dir: bool
    info: Any  # zipfile.ZipInfo or tarfile.TarInfo


class Archive:
    """An open archive whose entries passed the checks above; reading a member maps every failure."""

    def __init__(self, handle: zipfile.ZipFile | tarfile.TarFile, members: list[Member], fail: Fail):
        self._handle = handle
        self._fail = fail
        self.members = members
        self._by_name = {member.name: member for member in members}  # unique: duplicates were refused

    def member(self, name: str) -> Member | None:
        return self._by_name.get(name)

    def open(self, member: Member | str) -> MemberReader:
        """A reader of a member's bytes (at most its declared size)."""
        member = self._by_name[member] if isinstance(member, str) else member
        try:
            if isinstance(self._handle, zipfile.ZipFile):
                stream = self._handle.open(member.info)
            else:
                stream = self._handle.extractfile(member.info)
        except ARCHIVE_ERRORS as exc:
            raise self._fail(_damaged(member.name, exc)) from None
        if stream is None:  # tarfile has nothing to read for a directory
            raise self._fail(f"the archive member '{shown(member.name)}' is not a file")
        return MemberReader(stream, member.name, self._fail)

    def read(self, member: Member | str) -> bytes:
        """A member's bytes, whole (callers check its declared size first)."""
        with self.open(member) as reader:
            return reader.read()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemberReader:
    """A member's bytes; a bad CRC or a damaged or truncated stream goes to `fail`, naming the member."""

    def __init__(self, stream: IO[bytes], name: str, fail: Fail):
        self._stream = stream
        self._name = name
        self._fail = fail

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except ARCHIVE_ERRORS as exc:
            raise self._fail(_damaged(self._name, exc)) from None

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_archive(
    file: IO[bytes], fail: Fail, name: str | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES
) -> Archive:
    """A zip, or a tar (plain, gzip, bzip2 or xz), judged by content; `name` is the archive's file name for
    messages. A zip is what starts with a zip header; a tar is tried next, then a zip behind a stub
    (self-extracting), so a tar whose last member is a zip stays a tar. At most `max_entries` entries."""
    head = file.read(8)
    file.seek(0)
    if head.startswith(ZIP_MAGIC):
        return open_zip(file, fail, name, max_entries=max_entries)
    try:
        handle = tarfile.open(fileobj=file, mode="r:*", encoding="utf-8", errors="surrogateescape")
    except (tarfile.ReadError, tarfile.CompressionError):
        file.seek(0)
        if zipfile.is_zipfile(file):
            file.seek(0)
            return open_zip(file, fail, name, max_entries=max_entries)
        if head.startswith(COMPRESSED_MAGIC):
            raise fail(f"{_subject(name)} is a damaged or truncated compressed archive") from None
        raise fail(f"{_subject(name)} is not a zip or tar archive") from None
    except ARCHIVE_ERRORS as exc:  # a compressed stream that ends or breaks in the first header
        raise fail(f"{_subject(name)} is a damaged archive ({_reason(exc)})") from None
    try:
        members = _tar_members(handle, fail, name, max_entries)
    except BaseException:
        handle.close()
        raise
    return Archive(handle, members, fail)


def open_zip(
    file: IO[bytes], fail: Fail, name: str | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES
) -> Archive:
    """A zip archive, every entry checked (see the module's docstring); at most `max_entries` entries."""
    head = file.read(8)
    file.seek(0)
    if not zipfile.is_zipfile(file):
        what = "a damaged or truncated zip archive" if head.startswith(ZIP_MAGIC) else "not a zip archive"
        raise fail(f"{_subject(name)} is {what}")
    file.seek(0)
    try:
        # the end record (ZIP64's when there is one), as zipfile reads it before the directory
        end = zipfile._EndRecData(file)  # a private helper, unchanged since Python 2
    except ARCHIVE_ERRORS as exc:
        raise fail(f"{_subject(name)} is a damaged zip archive ({_reason(exc)})") from None
    file.seek(0)
    if end is not None and (
        end[zipfile._ECD_ENTRIES_TOTAL] > max_entries
        or end[zipfile._ECD_SIZE] > max_entries * DIRECTORY_BYTES_PER_ENTRY
    ):
        raise fail(f"{_subject(name)} holds more than {max_entries:,} entries")
    try:
        handle = zipfile.ZipFile(file)
    except UnicodeDecodeError as exc:  # the name of an entry flagged UTF-8 (bit 11) is not
        stored = shown(bytes(exc.object).decode("utf-8", "surrogateescape"))
        raise fail(f"the archive member name '{stored}' is marked as UTF-8 but is not") from None
    except ARCHIVE_ERRORS as exc:
        raise fail(f"{_subject(name)} is a damaged zip archive ({_reason(exc)})") from None
    try:
        members = _zip_members(handle, fail)
    except BaseException:
        handle.close()
        raise
    return Archive(handle, members, fail)


def _zip_members(handle: zipfile.ZipFile, fail: Fail) -> list[Member]:
    members, seen = [], set()
    for info in handle.infolist():
        name = info.orig_filename  # `filename` is cut at a NUL
        _check_name(name, fail)
        is_dir = name.endswith("/")
        if not is_dir:
            _check_unique(name, seen, fail)
        if info.flag_bits & ZIP_ENCRYPTED:
            raise fail(f"the archive member '{shown(name)}' is encrypted (password-protected)")
        if info.compress_type not in ZIP_METHODS:
            method = info.compress_type
            raise fail(f"the archive member '{shown(name)}' uses an unknown compression method ({method})")
        members.append(Member(name, info.file_size, is_dir, info))
    return members


def _tar_members(handle: tarfile.TarFile, fail: Fail, name: str | None, max_entries: int) -> list[Member]:
    members: list[Member] = []
    seen: set[str] = set()
    while (info := _next_tar_entry(handle, fail, name)) is not None:
        if len(members) >= max_entries:
            raise fail(f"{_subject(name)} holds more than {max_entries:,} entries")
        _check_name(info.name, fail)
        if not (info.isfile() or info.isdir()):
            raise fail(f"the archive member '{shown(info.name)}' is a link or device, not a file")
        if info.isfile():
            _check_unique(info.name, seen, fail)
        members.append(Member(info.name, info.size, info.isdir(), info))
    # tarfile ends its listing quietly at a header it cannot read (past the first): the block where it
    # stopped must be the end-of-archive marker (zeros) or the end of the data.
    try:
        handle.fileobj.seek(handle.offset)
        rest = handle.fileobj.read(tarfile.BLOCKSIZE)
    except ARCHIVE_ERRORS as exc:
        raise fail(f"{_subject(name)} is a damaged archive ({_reason(exc)})") from None
    if rest.strip(b"\0"):
        after = f" after the member '{shown(members[-1].name)}'" if members else ""
        raise fail(f"{_subject(name)} is a damaged archive (a header{after} cannot be read)")
    return members


def _next_tar_entry(handle: tarfile.TarFile, fail: Fail, name: str | None) -> tarfile.TarInfo | None:
    try:
        return handle.next()
    except ARCHIVE_ERRORS as exc:
        raise fail(f"{_subject(name)} is a damaged archive ({_reason(exc)})") from None


def _check_name(name: str, fail: Fail) -> None:
    if any("\udc80" <= ch <= "\udcff" for ch in name):  # bytes that were not UTF-8 (surrogateescape)
        raise fail(f"the archive member name '{shown(name)}' is not UTF-8")
    if reason := unsafe_member_name(name):
        raise fail(f"the archive member name '{shown(name)}' {reason}")


def _check_unique(name: str, seen: set[str], fail: Fail) -> None:
    if name in seen:
        raise fail(f"the archive holds two members named '{shown(name)}'")
    seen.add(name)


def _subject(name: str | None) -> str:
    return f"'{shown(name)}'" if name else "the upload"


def _damaged(name: str, exc: BaseException) -> str:
    return f"the archive member '{shown(name)}' is damaged ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def shown(name: str) -> str:
    """`name` for a message: printable characters as they are, bytes that were not UTF-8 as `\\xff`, other
    characters (controls, NUL, line breaks) escaped."""
    out = []
    for ch in name:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
