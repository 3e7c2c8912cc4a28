"""PowerPoint (.pptx): a section per slide (its number is the page), with speaker notes (python-pptx)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from retrieval.parsing.base import Detected, Limits, Section, check_zip, one_line


def parse_pptx(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    from pptx import Presentation

    check_zip(data, limits)
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
                rows = [" | ".join(one_line(cell.text) for cell in row.cells) for row in shape.table.rows]
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
