"""Decoding uploaded bytes to text: BOMs, UTF-8, UTF-16 without a BOM, legacy 8-bit code pages."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter

# A byte of a word: not a control, space or ASCII punctuation (legacy code pages put letters above 0x7f).
_WORD_BYTE = rb"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
_NUL_BETWEEN = re.compile(rb"(?<=" + _WORD_BYTE + rb")\x00+(?=" + _WORD_BYTE + rb")")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Code pages chardet may choose from: today's web and Windows code pages, ISO-8859-*, and DOS code pages
# (cp866 Russian, cp437/850 Western). Mac, EBCDIC and rare regional code pages are left out: on short text
# they win by chance ("Größe" read as MacIceland). Measured in bench/encodings.py.
_ERAS = ("MODERN_WEB", "LEGACY_ISO", "DOS")
# Codecs a detector names whose superset decodes the same text and more (vendor extensions).
_SUPERSETS = {"euc_kr": "cp949", "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932"}
# Unicode categories that text hardly holds: controls, surrogates, private use, unassigned.
_UNLIKELY_IN_TEXT = {"Cc", "Cs", "Co", "Cn"}
_CANDIDATES = 6  # chardet's guesses compared on short text
# a word with an ASCII letter and a Greek, Cyrillic, Hebrew or Arabic letter
_SCRIPT_LETTER = "\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff"
_MIXED_SCRIPT_WORD = re.compile(
    f"[A-Za-z][^\\W\\d_]*[{_SCRIPT_LETTER}]|[{_SCRIPT_LETTER}][^\\W\\d_]*[A-Za-z]"
)
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32), 127])


def decode_or_none(data: bytes) -> str | None:
    """Text from a BOM, else UTF-16 or UTF-8, else the legacy code page chardet detects; None for binary."""
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
    # A NUL between two word characters separated them (as `parsing.base.clean` keeps it); else dropped.
    data = _NUL_BETWEEN.sub(b" ", data).replace(b"\x00", b"")
    mostly = data.decode("utf-8", errors="replace")
    replaced = mostly.count("\ufffd")
    multibyte = sum(1 for char in mostly[:65536] if char > "\x7f" and char != "\ufffd")
    if multibyte >= 10 * replaced:  # UTF-8 with a few damaged bytes
        return mostly

    return _decode_legacy(data)


def _decode_legacy(data: bytes) -> str | None:
    """Legacy 8-bit or multi-byte text in the code page chardet finds likeliest; None when it finds binary."""
    import chardet

    eras = chardet.EncodingEra(0)
    for era in _ERAS:
        eras |= chardet.EncodingEra[era]
    results = chardet.detect_all(data, encoding_era=eras, compat_names=False)
    result = results[0] if results else {"encoding": None}
    codec = result["encoding"]
    if codec is None:
        # chardet names binary formats (image/png, application/gzip); text always gets a code page.
        if not str(result.get("mime_type") or "text/").startswith("text/"):
            return None
        codec = "cp1252"
    texts = []
    for candidate in [codec] + [r["encoding"] for r in results[1:_CANDIDATES] if r["encoding"]]:
        name = codecs.lookup(candidate).name.replace("-", "_")
        texts.append(data.decode(_SUPERSETS.get(name, name), errors="replace"))
    # On short text chardet's top guesses are close; a code page that puts Greek or Cyrillic letters inside
    # a Latin word ("Cafй", "ZaΏσ") is mojibake (UTS #39 mixed-script detection), so the likeliest
    # candidate without such words wins.
    return next((text for text in texts if not _MIXED_SCRIPT_WORD.search(text)), texts[0])


def _utf16_without_bom(sample: bytes, data: bytes) -> str | None:
    """UTF-16 text without a BOM: the NUL high bytes of its ASCII characters (spaces, digits, line breaks)
    all sit at even (big-endian) or all at odd (little-endian) offsets, and it decodes to printable text.

    Text in other scripts has fewer NULs (Polish, Russian or Greek with spaces: 10-20% of the bytes), so 5%
    suffices; legacy 8-bit text holds no NULs, and binary data holds them at both parities or decodes to
    unassigned and control characters. CJK text without a single ASCII character is not recognised.
    """
    zeros = sample.count(0)
    if not sample or zeros < len(sample) * 0.05:
        return None
    even = sample[0::2].count(0)
    if even >= zeros * 0.95:
        codec = "utf-16-be"
    elif zeros - even >= zeros * 0.95:
        codec = "utf-16-le"
    else:
        return None
    # The high bytes of a script take a few values (0x00 for ASCII, 0x04 for Cyrillic, ...), while 8-bit
    # text read two bytes at a time has its letters there.
    high = sample[0::2] if codec == "utf-16-be" else sample[1::2]
    if sum(count for _, count in Counter(high).most_common(4)) < len(high) * 0.9:
        return None
    head = sample[: len(sample) // 2 * 2].decode(codec, errors="replace")
    unlikely = sum(1 for char in head if unicodedata.category(char) in _UNLIKELY_IN_TEXT)
    if unlikely - head.count("\n") - head.count("\t") - head.count("\r") > len(head) * 0.05:
        return None
    return data.decode(codec, errors="replace")
