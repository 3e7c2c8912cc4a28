"""PowerPoint (.pptx): a section per slide (its number is the page), with speaker notes (python-pptx)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from retrieval.parsing.base import (
    Detected,
    Limits,
    Section,
    check_zip,
    coverage_warning,
    drawing_paragraphs,
    non_space,
    one_line,
    ooxml_text_size,
)

# Related parts of a slide whose text python-pptx does not read: charts and SmartArt diagram data.
_DRAWING_PARTS = ("/chart", "/diagramData")
# Slides and their speaker notes; the text of layouts and masters is placeholder prompts.
_TEXT_PARTS = re.compile(r"ppt/(?:slides/slide|notesSlides/notesSlide)\d+\.xml")


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
        for rel in slide.part.rels.values():  # charts' titles, SmartArt diagrams
            if not rel.is_external and rel.reltype.endswith(_DRAWING_PARTS):
                texts.append("\n".join(drawing_paragraphs(rel.target_part.blob)))
        if slide.has_notes_slide and (notes := _notes_text(slide.notes_slide)):
            texts.append(f"Notes: {notes}")
        sections.append(Section("\n\n".join(texts), page=number, heading=title or None))
    extracted = sum(non_space(section.text.replace(" | ", "")) for section in sections)
    if warning := coverage_warning(extracted, ooxml_text_size(data, _TEXT_PARTS), "presentation"):
        detected.warnings.append(warning)
    return sections


def _pptx_shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group
            yield from _pptx_shapes(shape.shapes)
        else:
            yield shape


def _notes_text(notes_slide: Any) -> str:
    """The speaker notes: every text shape of the notes page but its slide number, date and header/footer."""
    from pptx.enum.shapes import PP_PLACEHOLDER

    chrome = {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.HEADER, PP_PLACEHOLDER.FOOTER}
    texts = []
    for shape in _pptx_shapes(notes_slide.shapes):
        if shape.is_placeholder and shape.placeholder_format.type in chrome:
            continue
        if shape.has_text_frame and (text := shape.text_frame.text.strip()):
            texts.append(text)
    return "\n\n".join(texts)
