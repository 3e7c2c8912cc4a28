"""Decoding uploaded bytes to text: BOMs, UTF-8, UTF-16 without a BOM, legacy 8-bit code pages."""

from __future__ import annotations

import re

from retrieval.parsing.base import CONTROL_CHARS

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Legacy 8-bit text is tried as Western European first: charset detection alone often calls short German
# or Icelandic text cp1250 (ð becomes đ).
_WESTERN_CODECS = ["cp1252", "iso8859_15", "latin_1"]
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32), 127])


def decode_or_none(data: bytes) -> str | None:
    """Text from a BOM, else UTF-8, else Western European 8-bit, else charset detection; None for binary."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    if (text := _utf16_without_bom(data[:65536], data)) is not None:
        return text
    data = data.rstrip(b"\x00")  # NUL padding at the end of old fixed-size records
    sample = data[:65536]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 can still be binary: mostly NULs and control characters.
        return text if controls <= len(sample) * 0.3 else None
    if controls > len(sample) * 0.1:  # random-looking bytes: compressed or binary data
        return None
    data = data.replace(b"\x00", b"")
    mostly = data.decode("utf-8", errors="replace")
    replaced = mostly.count("\ufffd")
    multibyte = sum(1 for char in mostly[:65536] if char > "\x7f" and char != "\ufffd")
    if multibyte >= 10 * replaced:  # UTF-8 with a few damaged bytes
        return mostly

    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_WESTERN_CODECS).best()
    if best is not None:
        codec = best.encoding
        # 0xA4 is the euro sign in ISO-8859-15 and a rarely used "¤" in cp1252.
        if codec != "iso8859_15" and b"\xa4" in data and not re.search(rb"[\x80-\x9f]", data):
            codec = "iso8859_15"
        return data.decode(codec, errors="replace")
    best = from_bytes(data).best()
    if best is not None:
        return data.decode(best.encoding, errors="replace")
    return None


def _utf16_without_bom(sample: bytes, data: bytes) -> str | None:
    zeros = sample.count(0)
    if not sample or zeros < len(sample) * 0.3:
        return None
    even = sample[0::2].count(0)
    if even >= zeros * 0.95:
        text = data.decode("utf-16-be", errors="replace")
    elif zeros - even >= zeros * 0.95:
        text = data.decode("utf-16-le", errors="replace")
    else:
        return None
    head = text[:32768]
    return text if len(CONTROL_CHARS.findall(head)) <= len(head) * 0.1 else None
