"""Shared parts of the parsers: media types, the parse result, errors, limits and text cleaning."""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

ErrorCode = Literal["unsupported_file", "invalid_file", "too_large", "parse_timeout", "parse_memory"]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html"
MARKDOWN = "text/markdown"
CSV = "text/csv"
TSV = "text/tab-separated-values"
JSON = "application/json"
PLAIN = "text/plain"

SUPPORTED_FORMATS = "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), HTML, Markdown, CSV, JSON and text"

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Control characters between two word characters separate them ("with\\x00nul" is two words).
_CONTROL_BETWEEN = re.compile(r"(?<=\w)[\x00-\x08\x0b\x0e-\x1f\x7f]+(?=\w)")
SURROGATES = re.compile("[\ud800-\udfff]")
BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
SPACES = re.compile(r"[ \t\r\n\f\v]+")

HEADING_SEPARATOR = " > "
# Rows of a table are grouped into sections of about this many characters, each repeating the header row,
# so that a chunk of rows still says what its columns are.
ROW_BLOCK_CHARS = 1500


@dataclass
class Section:
    text: str
    page: int | None = None
    heading: str | None = None
    # The header row of a table section: `text` starts with it, and the chunker repeats it at the top of
    # every further chunk cut from the section, so each chunk of rows says what its columns are.
    header: str | None = None


@dataclass
class ParsedDocument:
    media_type: str
    sections: list[Section]
    # Set when far less text came out than the format holds (scanned PDF pages, unread parts of a file).
    warning: str | None = None


class ParseError(Exception):
    """A file that cannot be turned into text; `code` is unsupported_file, invalid_file or too_large;
    `media_type`: what the content was found to be, when detection knows (`image/png`), for the file's
    record."""

    def __init__(self, code: ErrorCode, message: str, media_type: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.media_type = media_type


class EmptyDocument(ParseError):
    """A file that holds no text at all: blank, or a format whose parse finds none (an upload refuses
    it at once, `retrieval.uploads.holds_no_text`)."""

    def __init__(self, message: str, media_type: str | None = None) -> None:
        super().__init__("invalid_file", message, media_type)


@dataclass
class Detected:
    media_type: str
    text: str | None = None  # decoded text, for text kinds
    value: Any = None  # the parsed JSON value
    warnings: list[str] = field(default_factory=list)  # parsers add what they could not read


@dataclass(frozen=True)
class Limits:
    max_uncompressed_bytes: int
    max_compression_ratio: int


ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def check_zip(data: bytes, limits: Limits) -> None:
    """Refuse a zip whose members would inflate beyond the limits, before any member is read.

    zipfile never returns more than a member's declared size (and fails the CRC check after it), so the
    declared sizes bound what a parser can inflate.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if any(info.compress_type not in ZIP_METHODS for info in members):
        raise ParseError("invalid_file", "The Office file uses a compression method Office files never use.")
    total = sum(info.file_size for info in members)
    if total > limits.max_uncompressed_bytes:
        raise ParseError("too_large", f"The file would unpack to {total:,} bytes, more than allowed.")
    if total > max(len(data), 1) * limits.max_compression_ratio:
        raise ParseError(
            "too_large", "The file is compressed suspiciously well (a zip bomb?) and was refused."
        )


def clean(text: str) -> str:
    """Text as stored: LF line breaks; NUL and other control characters a space between two word
    characters (they separated them: "with\\x00nul" is two words) and dropped elsewhere; lone surrogates
    as U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    if CONTROL_CHARS.search(text):
        text = CONTROL_CHARS.sub("", _CONTROL_BETWEEN.sub(" ", text))
    if SURROGATES.search(text):
        text = SURROGATES.sub("\ufffd", text)
    return text


def one_line(text: str) -> str:
    return SPACES.sub(" ", clean(text)).strip()


@cache
def heading_max_chars() -> int:
    """Characters a heading keeps at most (`retrieval/data/parsing.toml`)."""
    data = tomllib.loads(resources.files("retrieval").joinpath("data/parsing.toml").read_text())
    return int(data["heading_max_chars"])


def bounded_heading(text: str) -> str:
    """A heading as a label: at most `heading_max_chars()` characters, cut at a word boundary (within the
    last fifth, else mid-word) and ended with "…" when cut."""
    limit = heading_max_chars()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip(" >") + "…"


class HeadingPath:
    """The current heading path: entering a level-n heading replaces every heading at level n or below."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        title = one_line(title)
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        if title:
            self.stack.append((level, title))

    def path(self) -> str | None:
        return HEADING_SEPARATOR.join(title for _, title in self.stack) or None


# A heading line in Markdown: ATX (`## Title ##`) or a setext underline; what is left is the title.
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")


def _bare_heading(section: Section) -> bool:
    """Whether `section` holds only its own heading (a heading with nothing under it before the next one):
    its text is its heading's last title, as plain text (HTML, Word) or as a Markdown heading line, or a
    Markdown heading with no title at all."""
    lines = section.text.split("\n")
    if len(lines) == 2 and _SETEXT_UNDERLINE.match(lines[1]):
        title = lines[0].strip()
    elif len(lines) == 1:
        atx = _ATX_HEADING.match(lines[0])
        title = (atx.group(1) or "").strip() if atx else lines[0].strip()
        if atx and not title:
            return True
    else:
        return False
    return section.heading is not None and title == section.heading.rpartition(HEADING_SEPARATOR)[2]


def attach_bare_headings(sections: list[Section]) -> list[Section]:
    """`sections` with each heading that has nothing under it joined to the section after it.

    A bare heading (`## Prices` straight before `### Summer`, an empty `<h2>`, a Word heading followed by
    another) would be a chunk of its own: a keyword hit that cites no content. Joined to the next section
    (same page, not a table block whose text must start with its header row) its words stay searchable
    with the text they introduce, under that text's heading path; a bare heading at the end joins the
    section before it. Nothing is dropped: a file of headings only keeps them all, in one section."""
    out: list[Section] = []
    pending: Section | None = None
    for section in sections:
        bare = _bare_heading(section)
        if pending is not None:
            if section.page == pending.page and section.header is None:
                section = Section(f"{pending.text}\n\n{section.text}", section.page, section.heading)
            else:
                out.append(pending)
            pending = None
        if bare:
            pending = section  # with the bare headings before it: `# A`, `## B`, then what is under B
            continue
        out.append(section)
    if pending is not None:
        last = out[-1] if out else None
        if last is not None and last.page == pending.page and last.header is None:
            out[-1] = Section(f"{last.text}\n\n{pending.text}", last.page, last.heading)
        else:
            out.append(pending)
    return out


# Extracted text below this share of what the format holds is reported (see `coverage_warning`).
MIN_TEXT_COVERAGE = 0.8


def coverage_warning(extracted: int, held: int, what: str) -> str | None:
    """A warning when `extracted` non-space characters are far below the `held` ones of the file's XML."""
    if held - extracted < 100 or extracted >= held * MIN_TEXT_COVERAGE:
        return None
    return (
        f"Only {extracted:,} of the {held:,} characters of text in this {what} could be extracted; "
        "the rest is not searchable."
    )


def ooxml_text_size(data: bytes, members: re.Pattern[str]) -> int:
    """Non-space characters in the text elements (`w:t`, `a:t`, `m:t`) of the zip members matching
    `members`, without the `mc:Fallback` copies of alternate content and the old place of moved text
    (`w:moveFrom`): what an OOXML file holds."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not members.fullmatch(name):
                continue
            root = etree.fromstring(archive.read(name), parser)
            for element in root.iter("{*}t"):
                namespace = etree.QName(element).namespace or ""
                if namespace.endswith(("/main", "/math")) and not any(
                    etree.QName(parent).localname in ("Fallback", "moveFrom")
                    for parent in element.iterancestors()
                ):
                    total += non_space(element.text or "")
    return total


def non_space(text: str) -> int:
    return len(text) - sum(map(text.count, " \t\n\r\u00a0"))


_DRAWING_PARAGRAPH = "{http://schemas.openxmlformats.org/drawingml/2006/main}p"
_DRAWING_TEXT = "{http://schemas.openxmlformats.org/drawingml/2006/main}t"


def drawing_paragraphs(xml: bytes) -> list[str]:
    """The DrawingML paragraphs (`a:p`) of a part: chart and axis titles of a chart, the text of a SmartArt
    diagram's data part, shapes of a drawing. Paragraphs inside `mc:Fallback` copies are skipped."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(xml, parser)
    paragraphs = []
    for paragraph in root.iter(_DRAWING_PARAGRAPH):
        if any(etree.QName(parent).localname == "Fallback" for parent in paragraph.iterancestors()):
            continue
        text = one_line("".join(t.text or "" for t in paragraph.iter(_DRAWING_TEXT)))
        if text:
            paragraphs.append(text)
    return paragraphs
