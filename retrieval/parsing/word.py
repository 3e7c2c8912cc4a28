"""Word (.docx): paragraphs with heading paths, and tables as `cell | cell` rows (python-docx)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from retrieval.parsing.base import Detected, HeadingPath, Limits, Section, check_zip, one_line


def parse_docx(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    import docx
    from docx.table import Table

    check_zip(data, limits)
    document = docx.Document(io.BytesIO(data))
    headings = HeadingPath()
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
            cells.append(one_line(cell.text))
        if any(cells):
            yield " | ".join(cells)
