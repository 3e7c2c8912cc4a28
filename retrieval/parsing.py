"""Parsing: turn an uploaded file into text sections that carry their page number and heading path.

The format is detected from the content (magic bytes, the members of an OOXML zip, HTML and JSON
sniffing); the file name only breaks ties between text kinds. Every failure, from a damaged file to a
decompression bomb, surfaces as `ParseError` with a code and a message a user can act on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any, Literal

ErrorCode = Literal["unsupported_file", "invalid_file", "too_large"]

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
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_HTML_START = re.compile(
    r"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S
)
_HTML_TAG_START = re.compile(
    r"\s*<(?:head|body|title|script|style|iframe|h[1-6]|div|p|table|font|a|b|br|meta|link)[\s/>]", re.I
)
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)

HEADING_SEPARATOR = " > "
# Rows of a table are grouped into sections of about this many characters, each repeating the header row,
# so that a chunk of rows still says what its columns are.
ROW_BLOCK_CHARS = 1500
_PDF_STREAM_LIMIT = 75_000_000  # pypdf's default for one decompressed stream


@dataclass
class Section:
    text: str
    page: int | None = None
    heading: str | None = None


@dataclass
class ParsedDocument:
    media_type: str
    sections: list[Section]


class ParseError(Exception):
    """A file that cannot be turned into text; `code` is unsupported_file, invalid_file or too_large."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------------- detection


@dataclass
class _Detected:
    media_type: str
    text: str | None = None  # decoded text, for text kinds
    value: Any = None  # the parsed JSON value


def detect_media_type(data: bytes, filename: str) -> str:
    """The media type of a file, judged by its content; the extension only breaks ties between text kinds."""
    return _detect(data, filename).media_type


def _detect(data: bytes, filename: str) -> _Detected:
    if data[:1024].lstrip(b"\x00 \t\r\n")[:5] == b"%PDF-":
        return _Detected(PDF)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _Detected(_ooxml_kind(data))
    text = _decode_or_none(data)
    if text is None:
        raise ParseError("unsupported_file", f"{_binary_description(data)} Supported: {SUPPORTED_FORMATS}.")
    return _detect_text(text, _extension(filename))


def _ooxml_kind(data: bytes) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError("invalid_file", "The file looks like a ZIP archive but is damaged.") from exc
    with archive:
        names = set(archive.namelist())
        content_types = ""
        info = _zip_member(archive, "[Content_Types].xml")
        # Read the small manifest only when its declared size is sane; the bomb check comes later.
        if info is not None and info.file_size <= 1 << 20 and info.compress_type in _ZIP_METHODS:
            try:
                content_types = archive.read(info).decode("utf-8", errors="replace")
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise ParseError("invalid_file", "The file looks like a ZIP archive but is damaged.") from exc
    if info is None:
        raise ParseError(
            "unsupported_file", f"ZIP archives are not supported. Supported: {SUPPORTED_FORMATS}."
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


def _binary_description(data: bytes) -> str:
    import puremagic

    try:
        match = puremagic.magic_string(data[:4096])[0]
    except (puremagic.PureError, IndexError, ValueError):
        return "This is a binary file of an unknown kind."
    return f"Files of this kind ({match.name.strip()}) are not supported."


def _extension(filename: str) -> str:
    return PurePath(filename or "").suffix.lower()


def _detect_text(text: str, extension: str) -> _Detected:
    if _HTML_START.match(text):
        return _Detected(HTML, text)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return _Detected(JSON, text, json.loads(text))
        except (ValueError, RecursionError):
            pass
    by_extension = _TEXT_EXTENSIONS.get(extension)
    if by_extension == JSON:  # named .json but does not parse: still worth indexing as text
        by_extension = PLAIN
    if by_extension and extension not in _GENERIC_EXTENSIONS:
        return _Detected(by_extension, text)
    if _HTML_TAG_START.match(text):
        return _Detected(HTML, text)
    if _sniff_csv(text) is not None:
        return _Detected(CSV, text)
    if len(_MARKDOWN_HEADING.findall(text[:65536])) >= 2:
        return _Detected(MARKDOWN, text)
    return _Detected(PLAIN, text)


def _sniff_csv(text: str) -> csv.Dialect | None:
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


# ---------------------------------------------------------------------------------------------- decoding


def _decode_or_none(data: bytes) -> str | None:
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
    return text if len(_CONTROL_CHARS.findall(head)) <= len(head) * 0.1 else None


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _CONTROL_CHARS.sub("", text)  # NUL and other control characters
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", _clean(text)).strip()


# ----------------------------------------------------------------------------------------------- parsing


def parse_document(
    data: bytes,
    filename: str,
    *,
    max_uncompressed_bytes: int = 1 << 30,
    max_compression_ratio: int = 200,
) -> ParsedDocument:
    """Text sections of a file, with page numbers and heading paths for citations."""
    if len(data) <= 65536 and not data.strip(b"\x00 \t\r\n"):  # larger blank files find no text below
        raise ParseError("invalid_file", f"{filename or 'The file'} is empty.")
    media_type = None
    try:
        detected = _detect(data, filename)
        media_type = detected.media_type
        limits = _Limits(max_uncompressed_bytes, max_compression_ratio)
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
        text = _BLANK_RUNS.sub("\n\n", _clean(section.text)).strip()
        if not text:
            continue
        total += len(text)
        if total > max_uncompressed_bytes:
            raise ParseError("too_large", "The file holds more text than allowed.")
        heading = _one_line(section.heading) if section.heading else None
        cleaned.append(Section(text=text, page=section.page, heading=heading or None))
    if not cleaned:
        raise ParseError(
            "invalid_file",
            f"No text found in {filename or 'the file'}. Scanned documents and images need OCR, "
            "which is not supported.",
        )
    return ParsedDocument(media_type=detected.media_type, sections=cleaned)


_FORMAT_NAMES = {PDF: "PDF", DOCX: "Word document", PPTX: "PowerPoint presentation", XLSX: "Excel workbook"}


def _invalid(media_type: str | None, exc: Exception) -> ParseError:
    from pypdf.errors import LimitReachedError

    if isinstance(exc, LimitReachedError):
        return ParseError("too_large", "The PDF holds a stream that decompresses to more data than allowed.")
    name = _FORMAT_NAMES.get(media_type or "", "file")
    return ParseError(
        "invalid_file", f"The {name} could not be read; it may be damaged ({type(exc).__name__})."
    )


@dataclass(frozen=True)
class _Limits:
    max_uncompressed_bytes: int
    max_compression_ratio: int


_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def _check_zip(data: bytes, limits: _Limits) -> None:
    """Refuse a zip whose members would inflate beyond the limits, before any member is read.

    zipfile never returns more than a member's declared size (and fails the CRC check after it), so the
    declared sizes bound what a parser can inflate.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if any(info.compress_type not in _ZIP_METHODS for info in members):
        raise ParseError("invalid_file", "The Office file uses a compression method Office files never use.")
    total = sum(info.file_size for info in members)
    if total > limits.max_uncompressed_bytes:
        raise ParseError("too_large", f"The file would unpack to {total:,} bytes, more than allowed.")
    if total > max(len(data), 1) * limits.max_compression_ratio:
        raise ParseError(
            "too_large", "The file is compressed suspiciously well (a zip bomb?) and was refused."
        )


def _parse_pdf(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    import pypdf
    from pypdf.errors import LimitReachedError

    # pypdf caps each decompressed stream; the budget also caps all pages together, relative to the file.
    budget = min(limits.max_uncompressed_bytes, max(len(data), 1) * limits.max_compression_ratio)
    cap = min(_PDF_STREAM_LIMIT, budget)
    with pypdf.apply_configuration(
        zlib_maximum_output_length=cap,
        lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap,
        brotli_maximum_output_length=cap,
        jbig2_maximum_output_length=cap,
        array_based_stream_maximum_output_length=cap,
    ):
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # encrypted only against editing: opens without a password
            except Exception:
                opened = False
            if not opened:
                raise ParseError("invalid_file", "The PDF is encrypted; upload a copy without a password.")
        sections = []
        inflated = 0
        for number, page in enumerate(reader.pages, start=1):
            try:
                contents = page.get_contents()
                inflated += len(contents.get_data()) if contents is not None else 0
                if inflated > budget:
                    raise ParseError("too_large", "The PDF decompresses to more data than allowed.")
                text = page.extract_text()
            except (ParseError, LimitReachedError, MemoryError):
                raise
            except Exception:  # one damaged page does not cost the text of the others
                continue
            sections.append(Section(text or "", page=number))
        return sections


def _parse_docx(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    import docx
    from docx.table import Table

    _check_zip(data, limits)
    document = docx.Document(io.BytesIO(data))
    headings = _HeadingPath()
    sections: list[Section] = []
    lines: list[str] = []

    def flush() -> None:
        if lines:
            sections.append(Section("\n".join(lines), heading=headings.path()))
            lines.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.append("")
            lines.extend(_docx_table_rows(block))
            lines.append("")
            continue
        text = block.text.strip()
        level = _docx_heading_level(block.style)
        if level is not None and text:
            flush()
            headings.enter(level, text)
            lines.extend((text, ""))
        elif text:
            lines.extend((text, ""))  # a blank line between paragraphs: a preferred chunk boundary
    flush()
    return sections


def _docx_heading_level(style: Any) -> int | None:
    for _ in range(5):  # custom heading styles are based on the built-in ones
        if style is None:
            return None
        name = (style.name or "").strip()
        if name == "Title":
            return 0
        if match := re.fullmatch(r"[Hh]eading (\d)", name):
            return int(match.group(1))
        style = style.base_style
    return None


def _docx_table_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        seen: set[Any] = set()
        cells = []
        for cell in row.cells:
            if cell._tc in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(cell._tc)
            cells.append(_one_line(cell.text))
        if any(cells):
            yield " | ".join(cells)


def _parse_pptx(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    from pptx import Presentation

    _check_zip(data, limits)
    presentation = Presentation(io.BytesIO(data))
    sections = []
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        texts = [title] if title else []
        shapes = sorted(_pptx_shapes(slide.shapes), key=lambda s: (s.top or 0, s.left or 0))
        for shape in shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame and shape.text_frame.text.strip():
                texts.append(shape.text_frame.text.strip())
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [" | ".join(_one_line(cell.text) for cell in row.cells) for row in shape.table.rows]
                texts.append("\n".join(rows))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                texts.append(f"Notes: {notes}")
        sections.append(Section("\n\n".join(texts), page=number, heading=title or None))
    return sections


def _pptx_shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group
            yield from _pptx_shapes(shape.shapes)
        else:
            yield shape


def _parse_xlsx(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    import openpyxl

    _check_zip(data, limits)
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sections = []
        for sheet in workbook.worksheets:
            rows = (
                "\t".join(_cell_text(value) for value in row) for row in sheet.iter_rows(values_only=True)
            )
            sections.extend(_row_sections((row.rstrip("\t") for row in rows), heading=sheet.title))
        return sections
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return _one_line(str(value))


def _row_sections(rows: Iterable[str], heading: str | None = None) -> list[Section]:
    """Table rows grouped into sections, each starting with the header row."""
    sections: list[Section] = []
    header: str | None = None
    block: list[str] = []
    size = 0
    for row in rows:
        if not row.strip():
            continue
        if header is None:
            header, block, size = row, [row], len(row)
            continue
        if size + len(row) > ROW_BLOCK_CHARS and len(block) > 1:
            sections.append(Section("\n".join(block), heading=heading))
            block, size = [header], len(header)
        block.append(row)
        size += len(row) + 1
    if len(block) > 1 or (block and not sections):
        sections.append(Section("\n".join(block), heading=heading))
    return sections


def _parse_csv(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    text = _clean(detected.text or "")
    dialect: Any = _sniff_csv(text) or ("excel-tab" if detected.media_type == TSV else "excel")
    try:
        rows = ["\t".join(_one_line(cell) for cell in row) for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error:  # ragged quoting or a huge field: still searchable as plain text
        return [Section(text)]
    return _row_sections(rows)


def _parse_json(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    return [Section("\n".join(_flatten_json(detected.value)))]


def _flatten_json(value: Any) -> Iterator[str]:
    """`path: value` lines (`users[0].name: Ada`), so key names and values are both searchable."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict) and item:
            children = [(f"{path}.{key}" if path else str(key), child) for key, child in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list) and item:
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(item)]))
        else:
            shown = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            yield f"{path}: {shown}" if path else shown


def _parse_markdown(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    text = _clean(detected.text or "")
    lines = text.split("\n")
    front = _FRONT_MATTER.match(text)
    skip = text[: front.end()].count("\n") if front else 0
    headings = _HeadingPath()
    sections: list[Section] = []
    start, path = 0, None
    for line, level, title in _markdown_headings(lines, skip):
        sections.append(Section("\n".join(lines[start:line]), heading=path))
        headings.enter(level, title)
        start, path = line, headings.path()
    sections.append(Section("\n".join(lines[start:]), heading=path))
    return sections


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ATX_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_OR_QUOTE = re.compile(r" {0,3}(?:[-*+][ \t]|\d{1,9}[.)][ \t]|>)")


def _markdown_headings(lines: list[str], first: int = 0) -> Iterator[tuple[int, int, str]]:
    """(line, level, title) of the ATX (`## Title`) and setext (`Title` over `---`) headings.

    A line scan of CommonMark's heading and code block rules: markdown-it-py finds the same headings in
    ordinary documents but parses about 1.5 MB/s, far slower than the rest of ingestion.
    """
    fence = ""
    paragraph: int | None = None  # first line of the paragraph a setext underline would turn into a heading
    for number in range(first, len(lines)):
        line = lines[number]
        if fence:
            match = _FENCE.match(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = "" if not match.group(2).strip() else fence
            continue
        if not line.strip():
            paragraph = None
            continue
        match = _FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence, paragraph = match.group(1), None
            continue
        if match := _ATX_HEADING.match(line):
            yield number, len(match.group(1)), match.group(2) or ""
            paragraph = None
        elif paragraph is not None and (match := _SETEXT_UNDERLINE.match(line)):
            yield paragraph, 1 if match.group(1)[0] == "=" else 2, " ".join(lines[paragraph:number])
            paragraph = None
        elif _THEMATIC_BREAK.match(line):
            paragraph = None
        elif paragraph is None and (line.startswith(("    ", "\t")) or _LIST_OR_QUOTE.match(line)):
            continue  # indented code, list items and quotes never become setext headings here
        elif paragraph is None:
            paragraph = number


_HTML_DROP = ("script", "style", "nav", "noscript", "template", "svg", "canvas", "iframe", "head")
_HTML_BLOCKS = (
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "table",
    "ul", "ol", "dl", "figure", "figcaption", "form", "fieldset", "address", "details", "hr",
)  # fmt: skip
_HTML_LINES = ("li", "tr", "dt", "dd", "summary", "caption", "option")
_HEADING_MARK = re.compile(r"\x00([0-6])\x00(.*?)\x00", re.S)


def _parse_html(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    from bs4 import BeautifulSoup, CData, NavigableString
    from bs4.element import PreformattedString

    # NUL is removed from the input, so it can mark headings in the extracted text.
    soup = BeautifulSoup(_clean(detected.text or ""), "lxml")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for string in soup.find_all(string=True):
        if isinstance(string, PreformattedString) and not isinstance(string, CData):
            string.extract()  # comments, doctype, processing instructions
        elif string.find_parent(("pre", "textarea")) is None:
            # HTML collapses whitespace except in <pre>; our own line breaks are inserted afterwards.
            string.replace_with(_SPACES.sub(" ", str(string)))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in soup.find_all(_HTML_LINES):
        tag.insert_before("\n")
    for tag in soup.find_all(("td", "th")):
        if tag.find_previous_sibling(("td", "th")) is not None:
            tag.insert_before(" | ")
    for tag in soup.find_all(("h1", "h2", "h3", "h4", "h5", "h6")):
        title = _one_line(tag.get_text(" "))
        tag.replace_with(NavigableString(f"\n\n\x00{tag.name[1]}\x00{title}\x00\n\n") if title else "")
    text = soup.get_text()
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    headings = _HeadingPath()
    sections = []
    parts = _HEADING_MARK.split(text)
    sections.append(Section(parts[0]))
    for level, title, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        headings.enter(int(level), title)
        sections.append(Section(f"{title}\n\n{body}", heading=headings.path()))
    return sections


def _parse_plain(data: bytes, detected: _Detected, limits: _Limits) -> list[Section]:
    return [Section(detected.text or "")]


class _HeadingPath:
    """The current heading path: entering a level-n heading replaces every heading at level n or below."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        title = _one_line(title)
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        if title:
            self.stack.append((level, title))

    def path(self) -> str | None:
        return HEADING_SEPARATOR.join(title for _, title in self.stack) or None


class _TextParsers(dict[str, Callable[[bytes, _Detected, _Limits], list[Section]]]):
    def __missing__(self, key: str) -> Callable[[bytes, _Detected, _Limits], list[Section]]:
        return _parse_plain  # source code and other text kinds


_PARSERS = _TextParsers(
    {
        PDF: _parse_pdf,
        DOCX: _parse_docx,
        PPTX: _parse_pptx,
        XLSX: _parse_xlsx,
        HTML: _parse_html,
        MARKDOWN: _parse_markdown,
        CSV: _parse_csv,
        TSV: _parse_csv,
        JSON: _parse_json,
    }
)
