"""Tables as text: spreadsheets (openpyxl), CSV/TSV and JSON, rows grouped under their header row."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import Any

from retrieval.parsing.base import (
    ROW_BLOCK_CHARS,
    TSV,
    Detected,
    Limits,
    Section,
    check_zip,
    clean,
    drawing_paragraphs,
    one_line,
)
from retrieval.parsing.detection import sniff_csv


def parse_xlsx(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    import openpyxl

    check_zip(data, limits)
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sections = []
        for sheet in workbook.worksheets:
            rows = (
                "\t".join(_cell_text(value) for value in row) for row in sheet.iter_rows(values_only=True)
            )
            sections.extend(row_sections((row.rstrip("\t") for row in rows), heading=sheet.title))
    finally:
        workbook.close()
    # Cells are all openpyxl's read-only mode gives; comments, text boxes and chart titles are in parts
    # of their own.
    comments, drawings = [], []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            if _XLSX_COMMENTS.fullmatch(name):
                comments += _xlsx_comments(archive.read(name))
            elif _XLSX_DRAWINGS.fullmatch(name):
                drawings += drawing_paragraphs(archive.read(name))
    if comments:
        sections.append(Section("\n".join(comments), heading="Comments"))
    if drawings:
        sections.append(Section("\n".join(drawings), heading="Drawings and charts"))
    return sections


_XLSX_COMMENTS = re.compile(r"xl/(?:comments/)?comments?\d*\.xml")  # Excel and openpyxl name them apart
_XLSX_DRAWINGS = re.compile(r"xl/(?:drawings/drawing|charts/chart)\d+\.xml")
_SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xlsx_comments(xml: bytes) -> list[str]:
    """`A1: text` of each cell comment (notes, and the copies Excel keeps of threaded comments)."""
    from lxml import etree

    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    comments = []
    for comment in root.iter(f"{_SHEET}comment"):
        text = one_line("".join(t.text or "" for t in comment.iter(f"{_SHEET}t")))
        if text:
            comments.append(f"{comment.get('ref')}: {text}")
    return comments


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return one_line(str(value))


def row_sections(rows: Iterable[str], heading: str | None = None) -> list[Section]:
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
            sections.append(Section("\n".join(block), heading=heading, header=header))
            block, size = [header], len(header)
        block.append(row)
        size += len(row) + 1
    if len(block) > 1 or (block and not sections):
        sections.append(Section("\n".join(block), heading=heading, header=header if len(block) > 1 else None))
    return sections


def parse_csv(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    text = clean(detected.text or "")
    dialect: Any = sniff_csv(text) or ("excel-tab" if detected.media_type == TSV else "excel")
    try:
        rows = ["\t".join(one_line(cell) for cell in row) for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error:  # ragged quoting or a huge field: still searchable as plain text
        return [Section(text)]
    return row_sections(rows)


def parse_json(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
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
