"""Malformed archives for tests, built in memory: a valid zip or tar with some bytes patched."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"
# offsets inside a local / central header: flags, method, name length, name
LOCAL_AT = {"flags": 6, "method": 8, "name_length": 26, "name": 30}
CENTRAL_AT = {"flags": 8, "method": 10, "name_length": 28, "name": 46}


def zipped(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": two members of one name are wanted here
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def tarred(*members: tuple[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _headers(data: bytearray, name: bytes) -> list[tuple[int, dict[str, int]]]:
    """Where the local and central headers of the member `name` start."""
    found = []
    for signature, at in ((LOCAL, LOCAL_AT), (CENTRAL, CENTRAL_AT)):
        start = data.find(signature)
        while start != -1:
            length = int.from_bytes(data[start + at["name_length"] : start + at["name_length"] + 2], "little")
            if data[start + at["name"] : start + at["name"] + length] == name:
                found.append((start, at))
            start = data.find(signature, start + 1)
    assert len(found) == 2, f"{name!r} is not a member"
    return found


def with_flag(data: bytes, name: bytes, bit: int) -> bytes:
    """The zip with general-purpose flag `bit` of the member `name` set in both of its headers."""
    patched = bytearray(data)
    for start, at in _headers(patched, name):
        flags = int.from_bytes(patched[start + at["flags"] : start + at["flags"] + 2], "little") | 1 << bit
        patched[start + at["flags"] : start + at["flags"] + 2] = flags.to_bytes(2, "little")
    return bytes(patched)


def with_method(data: bytes, name: bytes, method: int) -> bytes:
    patched = bytearray(data)
    for start, at in _headers(patched, name):
        patched[start + at["method"] : start + at["method"] + 2] = method.to_bytes(2, "little")
    return bytes(patched)


def renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    """The zip with a member's name bytes replaced (same length) in both headers."""
    assert len(old) == len(new) and data.count(old) == 2
    return data.replace(old, new)


def encrypted(data: bytes, name: bytes) -> bytes:
    return with_flag(data, name, 0)


def bad_utf8_name(data: bytes, name: bytes) -> bytes:
    """The member `name` (which must hold `XX`) renamed to hold `\\xff\\xfe`, and flagged UTF-8 (bit 11)."""
    return with_flag(
        renamed(data, name, name.replace(b"XX", b"\xff\xfe")), name.replace(b"XX", b"\xff\xfe"), 11
    )


def corrupt_directory(data: bytes) -> bytes:
    """A zip whose central directory entries lost their signature (`is_zipfile` still says yes)."""
    return data.replace(CENTRAL, b"PK\x01\x03")


def damaged_data(data: bytes, name: bytes, skip: int = 2) -> bytes:
    """The zip with bytes of the member `name`'s data flipped: a broken stream, or (stored) a bad CRC."""
    patched = bytearray(data)
    start, at = _headers(patched, name)[0]
    extra = int.from_bytes(patched[start + 28 : start + 30], "little")
    first = start + at["name"] + len(name) + extra
    for offset in range(first + skip, first + skip + 10):
        patched[offset] ^= 0x55
    return bytes(patched)


def damaged_tar_header(data: bytes, index: int) -> bytes:
    """A plain tar whose `index`th header (counting from 0, each member's data a whole number of blocks
    before it) has a broken checksum: tarfile stops its listing there without a word."""
    archive = tarfile.open(fileobj=io.BytesIO(data))
    offset = archive.getmembers()[index].offset
    patched = bytearray(data)
    patched[offset + 100] ^= 0x01  # the mode field, covered by the checksum
    return bytes(patched)
