"""User file names: cleaned once at upload, carried safely in headers (RFC 6266/8187) and archives."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# POSIX NAME_MAX and the `knowledge_file.filename` column: 255 (bytes there, characters here; bytes are
# the stricter of the two).
MAX_FILENAME_BYTES = 255
MAX_EXTENSION_BYTES = 32
DEFAULT_FILENAME = "upload"

# C0 and C1 controls (CR, LF, TAB, NUL, ...), lone surrogates, line and paragraph separators, and the
# bidirectional overrides that make `evil\u202etxt.exe` display as `evilexe.txt`.
_UNSAFE_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9!#$&+\-.^_`|~ ()\[\]{}@]")  # no `"`, `\`, `%`, `;`, `,`, `=`
_RUNS = re.compile(r"_{2,}")
# RFC 8187 attr-char: what may stand unencoded in `filename*`.
_ATTR_CHARS = "!#$&+-.^_`|~"
_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_filename(name: str | None) -> str:
    """A file name safe to store and show: NFC, no controls or path separators, at most 255 UTF-8 bytes.

    The last path component is kept (browsers on Windows send `C:\\dir\\name`); an over-long name is cut in
    its stem so that the extension survives; an empty result becomes `upload`.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = _UNSAFE_CHARS.sub("", text).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if text in ("", ".", ".."):
        return DEFAULT_FILENAME
    return _cap(text, MAX_FILENAME_BYTES)


def clean_member_name(path: str | None) -> str:
    """An archive member's path as a file name that keeps its folders (`a/same.md`, so `b/same.md` stays
    apart in lists and citations): each part cleaned as `clean_filename` cleans a name, empty, `.` and `..`
    parts dropped, joined with `/`; past 255 UTF-8 bytes the leading folders go first."""
    text = _UNSAFE_CHARS.sub("", unicodedata.normalize("NFC", path or "")).replace("\\", "/")
    parts = [clean_filename(part) for part in text.split("/") if part.strip() not in ("", ".", "..")]
    while len(parts) > 1 and len("/".join(parts).encode("utf-8")) > MAX_FILENAME_BYTES:
        parts.pop(0)
    return "/".join(parts) if parts else DEFAULT_FILENAME


def title_filename(title: str | None, suffix: str, default: str) -> str:
    """A download's file name made from a title (a GPT's or a dataset's name) and `suffix` (`.zip`): the
    title's slashes and backslashes become dashes (a title is no path: "Maps of N/S America" ->
    "Maps of N-S America.zip"), then it is cleaned like an upload's name; `default` for a blank title."""
    name = re.sub(r"[/\\]+", "-", title or "").strip()
    return clean_filename(f"{name if name.strip('-') else default}{suffix}")


def _cap(text: str, max_bytes: int) -> str:
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8")) > MAX_EXTENSION_BYTES:
        stem, extension = text, ""
    suffix = f".{extension}" if extension else ""
    room = max_bytes - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
    return (stem or DEFAULT_FILENAME) + suffix


def ascii_filename(name: str) -> str:
    """The RFC 6266 `filename` fallback: accents dropped, other non-ASCII characters as `_`."""
    decomposed = unicodedata.normalize("NFKD", clean_filename(name))
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _RUNS.sub("_", _ASCII_UNSAFE.sub("_", text)).strip(" ")
    stem, dot, extension = text.rpartition(".")
    if not any(ch.isalnum() for ch in (stem if dot else text)):
        return f"download.{extension}" if dot and extension else "download"
    return text


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266 section 4.3, RFC 8187).

    Every user-chosen name that goes into a response header goes through here: the value is pure ASCII,
    without quotes, backslashes or controls, so it is a valid header whatever the name was.
    """
    cleaned = clean_filename(name)
    fallback = ascii_filename(cleaned)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != cleaned:
        value += f"; filename*=UTF-8''{quote(cleaned, safe=_ATTR_CHARS)}"
    return value


def unsafe_member_name(name: str) -> str | None:
    """Why a zip member name is unsafe to unpack (absolute, `..`, backslash, controls), or None."""
    if _UNSAFE_CHARS.search(name):
        return "contains control characters"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "climbs out of the archive with '..'"
    return None
