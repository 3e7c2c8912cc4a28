"""Parsing: turn an uploaded file into text sections that carry their page number and heading path.

The format is detected from the content (magic bytes, the members of an OOXML zip, HTML and JSON
sniffing); the file name only breaks ties between text kinds. Every failure, from a damaged file to a
decompression bomb, surfaces as `ParseError` with a code and a message a user can act on.

One module per format family; this module holds the public names and `parse_document`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from retrieval.parsing.base import (
    BLANK_RUNS,
    CSV,
    DOCX,
    HEADING_SEPARATOR,
    HTML,
    JSON,
    MARKDOWN,
    PDF,
    PLAIN,
    PPTX,
    ROW_BLOCK_CHARS,
    SUPPORTED_FORMATS,
    TSV,
    XLSX,
    Detected,
    EmptyDocument,
    ErrorCode,
    Limits,
    ParsedDocument,
    ParseError,
    Section,
    attach_bare_headings,
    bounded_heading,
    clean,
    one_line,
)
from retrieval.parsing.detection import detect, detect_media_type
from retrieval.parsing.markup import parse_html, parse_markdown
from retrieval.parsing.pdf import parse_pdf
from retrieval.parsing.slides import parse_pptx
from retrieval.parsing.tables import parse_csv, parse_json, parse_xlsx
from retrieval.parsing.word import parse_docx

__all__ = [
    "CSV",
    "DOCX",
    "HEADING_SEPARATOR",
    "HTML",
    "JSON",
    "MARKDOWN",
    "PDF",
    "PLAIN",
    "PPTX",
    "ROW_BLOCK_CHARS",
    "SUPPORTED_FORMATS",
    "TSV",
    "XLSX",
    "EmptyDocument",
    "ErrorCode",
    "ParseError",
    "ParsedDocument",
    "Section",
    "detect_media_type",
    "parse_document",
]


def parse_document(
    data: bytes,
    filename: str,
    *,
    max_uncompressed_bytes: int = 1 << 30,
    max_compression_ratio: int = 200,
) -> ParsedDocument:
    """Text sections of a file, with page numbers and heading paths for citations."""
    if len(data) <= 65536 and not data.strip(b"\x00 \t\r\n"):  # larger blank files find no text below
        raise EmptyDocument(f"{filename or 'The file'} is empty.")
    media_type = None
    try:
        detected = detect(data, filename)
        media_type = detected.media_type
        limits = Limits(max_uncompressed_bytes, max_compression_ratio)
        sections = _PARSERS[media_type](data, detected, limits)
    except ParseError:
        raise
    except MemoryError as exc:
        raise ParseError("too_large", "The file needs too much memory to read.") from exc
    except Exception as exc:  # parsers raise anything from KeyError to lxml errors on damaged files
        raise _invalid(media_type, exc) from exc
    cleaned = []
    total = 0
    for section in sections:
        text = BLANK_RUNS.sub("\n\n", clean(section.text)).strip()
        if not text:
            continue
        total += len(text)
        if total > max_uncompressed_bytes:
            raise ParseError("too_large", "The file holds more text than allowed.")
        heading = one_line(section.heading) if section.heading else None
        header = clean(section.header).strip() if section.header else None
        if header and not text.startswith(header):
            header = None
        cleaned.append(Section(text=text, page=section.page, heading=heading or None, header=header or None))
    # Bounded after bare headings are found: those compare the heading with the section's whole title.
    cleaned = [
        replace(s, heading=bounded_heading(s.heading)) if s.heading else s
        for s in attach_bare_headings(cleaned)
    ]
    if not cleaned:
        raise EmptyDocument(
            f"No text found in {filename or 'the file'}. Scanned documents and images need OCR, "
            "which is not supported.",
        )
    warning = " ".join(dict.fromkeys(detected.warnings)) or None
    return ParsedDocument(media_type=detected.media_type, sections=cleaned, warning=warning)


_FORMAT_NAMES = {PDF: "PDF", DOCX: "Word document", PPTX: "PowerPoint presentation", XLSX: "Excel workbook"}


def _invalid(media_type: str | None, exc: Exception) -> ParseError:
    from pypdf.errors import LimitReachedError

    if isinstance(exc, LimitReachedError):
        return ParseError("too_large", "The PDF holds a stream that decompresses to more data than allowed.")
    name = _FORMAT_NAMES.get(media_type or "", "file")
    return ParseError(
        "invalid_file", f"The {name} could not be read; it may be damaged ({type(exc).__name__})."
    )


def parse_plain(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    return [Section(detected.text or "")]


class _TextParsers(dict[str, Callable[[bytes, Detected, Limits], list[Section]]]):
    def __missing__(self, key: str) -> Callable[[bytes, Detected, Limits], list[Section]]:
        return parse_plain  # source code and other text kinds


_PARSERS = _TextParsers(
    {
        PDF: parse_pdf,
        DOCX: parse_docx,
        PPTX: parse_pptx,
        XLSX: parse_xlsx,
        HTML: parse_html,
        MARKDOWN: parse_markdown,
        CSV: parse_csv,
        TSV: parse_csv,
        JSON: parse_json,
    }
)
