"""Word (.docx): the body XML walked in document order, then headers, footers, footnotes and comments.

python-docx's `iter_inner_content()` sees only top-level paragraphs and tables: a table nested in a cell, a
block content control (`w:sdt`), a text box or a footnote would be lost. So the WordprocessingML is walked
here (ECMA-376 Part 1, section 17): paragraphs, tables (nested ones as rows of their own after the row that
holds them), content controls, custom XML and smart tags, text boxes (`w:txbxContent`; of an
`mc:AlternateContent` only the chosen branch, so a text box is not read twice), hyperlinks, field results
(not field codes), math text, the text of charts and SmartArt diagrams (from their parts, in place),
and HTML imported whole (`w:altChunk`). Deleted revisions (`w:delText`) and the old place of moved text
(`w:moveFrom`) are not indexed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from retrieval.parsing.base import (
    Detected,
    HeadingPath,
    Limits,
    Section,
    check_zip,
    coverage_warning,
    drawing_paragraphs,
    non_space,
    one_line,
    ooxml_text_size,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_M = "{http://schemas.openxmlformats.org/officeDocument/2006/math}"
# Parts beside the body, by relationship type, and the heading their text is filed under.
_OTHER_PARTS = (
    ("/header", "Header"),
    ("/footer", "Footer"),
    ("/footnotes", "Footnotes"),
    ("/endnotes", "Endnotes"),
    ("/comments", "Comments"),
)
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# Elements in a drawing that point at a chart part or a SmartArt data part, and their id attribute.
_DRAWING_REFERENCES = {
    "{http://schemas.openxmlformats.org/drawingml/2006/chart}chart": f"{_R}id",
    "{http://schemas.openxmlformats.org/drawingml/2006/diagram}relIds": f"{_R}dm",
}
_TEXT_PARTS = re.compile(r"word/(?:document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml")
# Inline elements that stand for characters.
_CHARACTERS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}
# Elements whose content is no visible text: properties, deleted text, field codes.
_SKIPPED = {
    f"{_W}{name}"
    for name in ("pPr", "rPr", "tblPr", "trPr", "tcPr", "sdtPr", "sdtEndPr", "sectPr", "tblGrid")
    + ("delText", "instrText", "delInstrText", "moveFrom")
}


def parse_docx(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    import docx

    check_zip(data, limits)
    document = docx.Document(io.BytesIO(data))
    levels = _heading_levels(document)
    walker = _Walker(levels, _related_blobs(document.part))
    walker.blocks(document.element.body)
    walker.flush()
    seen: set[str] = set()
    for rel in list(document.part.rels.values()):
        if rel.is_external:
            continue
        for suffix, heading in _OTHER_PARTS:
            part = rel.target_part
            if rel.reltype.endswith(suffix) and str(part.partname) not in seen:
                seen.add(str(part.partname))
                walker.part(_part_element(part), heading)
    detected.warnings.extend(walker.warnings)
    extracted = sum(non_space(section.text.replace(" | ", "")) for section in walker.sections)
    if warning := coverage_warning(extracted, ooxml_text_size(data, _TEXT_PARTS), "Word document"):
        detected.warnings.append(warning)
    return walker.sections


def _part_element(part: Any) -> Any:
    from docx.oxml.parser import parse_xml

    element = getattr(part, "element", None)
    return element if element is not None else parse_xml(part.blob)


def _heading_levels(document: Any) -> dict[str, int]:
    """Heading level of each paragraph style id (Title is 0, Heading n is n)."""
    from docx.enum.style import WD_STYLE_TYPE

    levels = {}
    for style in document.styles:
        if style.type == WD_STYLE_TYPE.PARAGRAPH and (level := _heading_level(style)) is not None:
            levels[style.style_id] = level
    return levels


def _heading_level(style: Any) -> int | None:
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


class _Walker:
    """Collects sections from block-level WordprocessingML, a new section at each heading."""

    def __init__(self, levels: dict[str, int], related: dict[str, bytes] | None = None) -> None:
        self.levels = levels
        self.related = related or {}
        self.warnings: list[str] = []
        self.headings = HeadingPath()
        self.sections: list[Section] = []
        self.lines: list[str] = []
        self.heading: str | None = None

    def flush(self) -> None:
        if self.lines:
            self.sections.append(Section("\n".join(self.lines), heading=self.heading))
            self.lines = []

    def part(self, element: Any, heading: str) -> None:
        """A header, footer, footnotes, endnotes or comments part, in a section of its own."""
        self.flush()
        self.heading = heading
        self.blocks(element)
        self.flush()

    def blocks(self, parent: Any) -> None:
        for child in parent:
            tag = child.tag
            if tag == f"{_W}p":
                self.paragraph(child)
            elif tag == f"{_W}tbl":
                self.lines.append("")
                self.lines.extend(self.table_rows(child))
                self.lines.append("")
            elif tag in _SKIPPED:
                continue
            elif tag == f"{_MC}AlternateContent":
                self.blocks(_chosen(child))
            elif tag == f"{_W}altChunk":
                imported = _imported_text(self.related.get(child.get(f"{_R}id") or ""))
                if imported is None:
                    self.warnings.append("The document imports content (RTF or Word) that is not read.")
                else:
                    self.lines.extend((imported, ""))
            else:  # w:sdt/w:sdtContent, w:customXml, w:footnote, w:comment, w:hdr, w:body ...
                self.blocks(child)

    def paragraph(self, p: Any) -> None:
        boxes: list[Any] = []
        text = "".join(_inline_text(p, boxes, self.related)).strip()
        level = self.levels.get(_style_id(p) or "")
        if text and level is not None:
            self.flush()
            self.headings.enter(level, text)
            self.heading = self.headings.path()
        if text:
            self.lines.extend((text, ""))  # a blank line between paragraphs: a preferred chunk boundary
        for box in boxes:
            if isinstance(box, str):  # a chart's or diagram's text
                self.lines.extend((box, ""))
            else:
                self.blocks(box)

    def table_rows(self, table: Any) -> Iterator[str]:
        """`cell | cell` lines; a table nested in a cell follows as rows of its own after its row.

        A merged cell is one `w:tc` (horizontal: `w:gridSpan`; vertical: empty `w:vMerge` continuations),
        so its text is stated once, in the row where the merge starts.
        """
        for row in _children(table, "tr"):
            cells, nested = [], []
            for cell in _children(row, "tc"):
                inner = _Walker(self.levels, self.related)
                inner.warnings = self.warnings
                for child in cell:
                    if child.tag == f"{_W}tbl":
                        nested.append(child)
                    elif child.tag != f"{_W}tcPr":
                        inner.blocks([child])
                inner.flush()
                cells.append(one_line(" ".join(section.text for section in inner.sections)))
            if any(cells):
                yield " | ".join(cells)
            for child in nested:
                yield from self.table_rows(child)


def _children(parent: Any, name: str) -> Iterator[Any]:
    """Children named `name`, also inside content controls, custom XML and chosen alternate content."""
    for child in parent:
        if child.tag == f"{_W}{name}":
            yield child
        elif child.tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"):
            yield from _children(child, name)
        elif child.tag == f"{_MC}AlternateContent":
            yield from _children(_chosen(child), name)


def _chosen(alternate: Any) -> Any:
    """The branch of an `mc:AlternateContent` a consumer shows: the first `mc:Choice`, else the fallback."""
    for child in alternate:
        if child.tag in (f"{_MC}Choice", f"{_MC}Fallback"):
            return child
    return []


def _style_id(p: Any) -> str | None:
    style = p.find(f"{_W}pPr/{_W}pStyle")
    return style.get(f"{_W}val") if style is not None else None


def _inline_text(parent: Any, boxes: list[Any], related: dict[str, bytes]) -> Iterator[str]:
    """The characters of runs, hyperlinks, fields and inline content controls; text boxes, charts and
    SmartArt diagrams go to `boxes` (as an element to walk, or as text)."""
    for child in parent:
        tag = child.tag
        if tag in (f"{_W}t", f"{_M}t"):
            yield child.text or ""
        elif tag in _CHARACTERS:
            yield _CHARACTERS[tag]
        elif tag in _SKIPPED:
            continue
        elif tag == f"{_W}txbxContent":
            boxes.append(child)
        elif tag == f"{_MC}AlternateContent":
            yield from _inline_text(_chosen(child), boxes, related)
        elif tag in _DRAWING_REFERENCES:
            blob = related.get(child.get(_DRAWING_REFERENCES[tag]) or "")
            if blob and (paragraphs := drawing_paragraphs(blob)):
                boxes.append("\n".join(paragraphs))
        elif isinstance(tag, str):  # not a comment or processing instruction
            yield from _inline_text(child, boxes, related)


def _related_blobs(part: Any) -> dict[str, bytes]:
    """Chart, SmartArt data and imported (`w:altChunk`) parts of the document by relationship id."""
    return {
        rel_id: rel.target_part.blob
        for rel_id, rel in part.rels.items()
        if not rel.is_external and rel.reltype.endswith(("/chart", "/diagramData", "/aFChunk"))
    }


def _imported_text(blob: bytes | None) -> str | None:
    """The text of a part imported whole with `w:altChunk`, as tools that write DOCX from HTML leave it:
    HTML, XHTML or MHT (a MIME archive of HTML). None for other kinds (RTF, an embedded DOCX)."""
    import email
    from email.message import Message

    from bs4 import BeautifulSoup

    if not blob:
        return ""
    if blob.lstrip()[:5].lower() in (b"mime-", b"from:", b"conte"):
        message: Message = email.message_from_bytes(blob)
        for part in message.walk():
            if part.get_content_type() in ("text/html", "text/plain"):
                payload = part.get_payload(decode=True)
                blob = payload if isinstance(payload, bytes) else b""
                break
        else:
            return None
    if blob.lstrip()[:1] != b"<":
        return None
    soup = BeautifulSoup(blob, "lxml")
    for tag in soup.find_all(("script", "style", "head")):
        tag.decompose()
    return soup.get_text("\n")
