"""Media type detection from the content: magic bytes, the members of an OOXML zip, HTML/JSON/CSV sniffing."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import PurePath

from core.archives import ARCHIVE_ERRORS, ZIP_ENCRYPTED
from retrieval.parsing.base import (
    CSV,
    DOCX,
    HTML,
    JSON,
    MARKDOWN,
    PDF,
    PLAIN,
    PPTX,
    SUPPORTED_FORMATS,
    TSV,
    XLSX,
    ZIP_METHODS,
    Detected,
    ParseError,
)
from retrieval.parsing.encoding import decode_or_none

# Text kinds told apart by extension only: the content of a README and a notes.txt looks the same.
_TEXT_EXTENSIONS = {
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".mdown": MARKDOWN,
    ".mkd": MARKDOWN,
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".json": JSON,
    ".txt": PLAIN,
    ".text": PLAIN,
    ".log": PLAIN,
    ".rst": "text/x-rst",
    ".tex": "text/x-tex",
    ".py": "text/x-python",
    ".ipynb": JSON,
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".jsx": "text/javascript",
    ".ts": "text/x-typescript",
    ".tsx": "text/x-typescript",
    ".java": "text/x-java",
    ".kt": "text/x-kotlin",
    ".scala": "text/x-scala",
    ".c": "text/x-c",
    ".h": "text/x-c",
    ".cc": "text/x-c++",
    ".cpp": "text/x-c++",
    ".hpp": "text/x-c++",
    ".cs": "text/x-csharp",
    ".go": "text/x-go",
    ".rs": "text/x-rust",
    ".rb": "text/x-ruby",
    ".php": "text/x-php",
    ".swift": "text/x-swift",
    ".r": "text/x-r",
    ".sh": "text/x-shellscript",
    ".bash": "text/x-shellscript",
    ".ps1": "text/x-powershell",
    ".sql": "text/x-sql",
    ".css": "text/css",
    ".xml": "application/xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".ini": PLAIN,
    ".cfg": PLAIN,
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
}
# Extensions that say nothing about the kind of text, so the content may decide.
_GENERIC_EXTENSIONS = {"", ".txt", ".text", ".dat", ".bin"}

# OOXML main parts, from [Content_Types].xml, and the package folder that holds them.
_OOXML_KINDS = (
    (DOCX, ("wordprocessingml.document.main", "wordprocessingml.template.main"), "word/"),
    (PPTX, ("presentationml.presentation.main", "presentationml.slideshow.main"), "ppt/"),
    (XLSX, ("spreadsheetml.sheet.main", "spreadsheetml.template.main", "ms-excel.sheet.macroEnabled"), "xl/"),
)
_MACRO_ENABLED = ("ms-word.document.macroEnabled", "ms-powerpoint", "ms-word.template.macroEnabled")

_HTML_START = re.compile(
    r"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S
)
_HTML_TAG_START = re.compile(
    r"\s*<(?:head|body|title|script|style|iframe|h[1-6]|div|p|table|font|a|b|br|meta|link)[\s/>]", re.I
)
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)


def detect_media_type(data: bytes, filename: str) -> str:
    """The media type of a file, judged by its content; the extension only breaks ties between text kinds."""
    return detect(data, filename).media_type


def detect(data: bytes, filename: str) -> Detected:
    if data[:1024].lstrip(b"\x00 \t\r\n")[:5] == b"%PDF-":
        return Detected(PDF)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Detected(_ooxml_kind(data))
    text = decode_or_none(data)
    if text is None:
        description, media_type = _binary_kind(data)
        raise ParseError("unsupported_file", f"{description} Supported: {SUPPORTED_FORMATS}.", media_type)
    return _detect_text(text, _extension(filename))


def _ooxml_kind(data: bytes) -> str:
    # Detection runs before the parse step that maps any exception (at upload, first in the parse child):
    # whatever zipfile or a decompressor raises on a damaged zip is named here (core.archives).
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ARCHIVE_ERRORS as exc:
        raise ParseError("invalid_file", "The file looks like a ZIP archive but is damaged.") from exc
    with archive:
        names = set(archive.namelist())
        content_types = ""
        info = _zip_member(archive, "[Content_Types].xml")
        if info is not None and info.flag_bits & ZIP_ENCRYPTED:
            raise ParseError("invalid_file", "The file is encrypted (password-protected) and cannot be read.")
        # Read the small manifest only when its declared size is sane; the bomb check comes later.
        if info is not None and info.file_size <= 1 << 20 and info.compress_type in ZIP_METHODS:
            try:
                content_types = archive.read(info).decode("utf-8", errors="replace")
            except ARCHIVE_ERRORS as exc:
                raise ParseError("invalid_file", "The file looks like a ZIP archive but is damaged.") from exc
    if info is None:
        raise ParseError(
            "unsupported_file",
            f"ZIP archives are not supported. Supported: {SUPPORTED_FORMATS}.",
            "application/zip",
        )
    for media_type, markers, _folder in _OOXML_KINDS:
        if any(marker in content_types for marker in markers):
            return media_type
    if any(marker in content_types for marker in _MACRO_ENABLED):
        raise ParseError(
            "unsupported_file", "Macro-enabled Office files are not supported; save as .docx/.pptx."
        )
    for media_type, _markers, folder in _OOXML_KINDS:
        if any(name.startswith(folder) for name in names):
            return media_type
    raise ParseError(
        "unsupported_file", f"This Office format is not supported. Supported: {SUPPORTED_FORMATS}."
    )


def _zip_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return archive.getinfo(name)
    except KeyError:
        return None


def _binary_kind(data: bytes) -> tuple[str, str]:
    """What an unsupported binary file is: the sentence saying so, and its media type (puremagic's, else
    application/octet-stream)."""
    import puremagic

    try:
        match = puremagic.magic_string(data[:4096])[0]
    except (puremagic.PureError, IndexError, ValueError):
        return "This is a binary file of an unknown kind.", "application/octet-stream"
    description = f"Files of this kind ({match.name.strip()}) are not supported."
    return description, match.mime_type or "application/octet-stream"


def _extension(filename: str) -> str:
    return PurePath(filename or "").suffix.lower()


def _detect_text(text: str, extension: str) -> Detected:
    if _HTML_START.match(text):
        return Detected(HTML, text)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return Detected(JSON, text, json.loads(text))
        except (ValueError, RecursionError):
            pass
    by_extension = _TEXT_EXTENSIONS.get(extension)
    if by_extension == JSON:  # named .json but does not parse: still worth indexing as text
        by_extension = PLAIN
    if by_extension and extension not in _GENERIC_EXTENSIONS:
        return Detected(by_extension, text)
    if _HTML_TAG_START.match(text):
        return Detected(HTML, text)
    if sniff_csv(text) is not None:
        return Detected(CSV, text)
    if len(_MARKDOWN_HEADING.findall(text[:65536])) >= 2:
        return Detected(MARKDOWN, text)
    return Detected(PLAIN, text)


def sniff_csv(text: str) -> csv.Dialect | None:
    """A CSV dialect when the start of `text` is a table with the same number (>= 2) of columns per row."""
    sample = text[:32768]
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(sample) == len(text):
        complete = lines
    else:
        complete = lines[:-1]  # the last sampled line may be cut off
    if len(complete) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(complete[:50]), delimiters=",;\t|")
        rows = list(csv.reader(complete[:50], dialect))
    except csv.Error:
        return None
    widths = {len(row) for row in rows}
    if len(widths) != 1 or widths.pop() < 2:
        return None
    return dialect
