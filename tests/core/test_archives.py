"""core.archives: every way a zip or tar can fail to read is the caller's own error, naming the member."""

from __future__ import annotations

import io
import tarfile

import pytest

from core.archives import open_archive, open_zip, shown
from tests import archives


class Refused(Exception):
    pass


def read_all(data: bytes, name: str | None = "x.tar") -> list[tuple[str, bytes]]:
    with open_archive(io.BytesIO(data), Refused, name) as archive:
        return [(m.name, archive.read(m)) for m in archive.members if not m.is_dir]


def refusal(data: bytes) -> str:
    with pytest.raises(Refused) as error:
        read_all(data)
    return str(error.value)


BIG = bytes(range(256)) * 200


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_a_truncated_tar_is_damaged_whatever_its_compression(mode) -> None:
    data = archives.tarred(("a.md", BIG), ("b.md", b"b" * 5000), mode=mode)
    assert read_all(data) == [("a.md", BIG), ("b.md", b"b" * 5000)]
    for cut in (len(data) // 3, len(data) * 2 // 3):
        assert "damaged" in refusal(data[:cut])


def test_tar_members_that_are_not_files_or_utf8_are_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("passwd.md")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    assert "'passwd.md' is a link or device" in refusal(buffer.getvalue())

    data = bytearray(archives.tarred(("cafX.md", b"x"), mode="w").replace(b"cafX.md", b"caf\xff.md"))
    checksum = 256 + sum(data[:148]) + sum(data[156:512])  # the header's checksum, its field as spaces
    data[148:156] = b"%06o\x00 " % checksum
    assert refusal(bytes(data)) == "the archive member name 'caf\\xff.md' is not UTF-8"


def test_a_tar_ending_in_a_zip_stays_a_tar_and_a_zip_behind_a_stub_is_read() -> None:
    inner = archives.zipped(("inner.md", b"inner"))
    assert [name for name, _ in read_all(archives.tarred(("a.md", b"a"), ("in.zip", inner), mode="w"))] == [
        "a.md",
        "in.zip",
    ]
    assert read_all(b"MZ" + b"\0" * 1000 + inner) == [("inner.md", b"inner")]


def test_what_is_no_archive_is_named_as_such() -> None:
    assert refusal(b"plain text, no archive") == "'x.tar' is not a zip or tar archive"
    assert refusal(b"\x1f\x8b\x08\x00garbage").startswith("'x.tar' is a damaged")
    assert refusal(b"BZh91AY&SYgarbage") == "'x.tar' is a damaged or truncated compressed archive"
    with pytest.raises(Refused, match="^the upload is not a zip archive$"):
        open_zip(io.BytesIO(b"plain"), Refused)
    zipped = archives.zipped(("a.md", b"a" * 1000))
    with pytest.raises(Refused, match="^the upload is a damaged or truncated zip archive$"):
        open_zip(io.BytesIO(zipped[: len(zipped) // 2]), Refused)


def test_names_are_shown_printable_with_bytes_and_controls_escaped() -> None:
    assert shown("Résumé.md") == "Résumé.md"
    assert shown("a\x00b\n.md") == "a\\x00b\\n.md"
    assert shown("caf\udcff.md") == "caf\\xff.md"


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_more_entries_than_allowed_are_refused_before_they_are_listed(kind):
    members = [(f"d/{i}.md", b"x") for i in range(12)]
    data = archives.zipped(*members) if kind == "zip" else archives.tarred(*members)
    with open_archive(io.BytesIO(data), Refused, "many", max_entries=12) as archive:
        assert len(archive.members) == 12
    with pytest.raises(Refused, match="holds more than 11 entries"):
        open_archive(io.BytesIO(data), Refused, "many", max_entries=11)


def test_a_zip_whose_end_record_understates_its_directory_is_refused():
    """zipfile reads the central directory by its size, whatever the count says: a count of 1 beside a
    directory of 200 entries is bounded by the directory's size."""
    data = bytearray(archives.zipped(*[(f"{i:03d}-{'n' * 200}.md", b"x") for i in range(200)]))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # entries on this disk, entries in total
    with pytest.raises(Refused, match="holds more than 10 entries"):
        open_zip(io.BytesIO(bytes(data)), Refused, "lying.zip", max_entries=10)
