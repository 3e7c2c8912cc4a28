"""PDF: the text of each page, with its page number (pypdf)."""

from __future__ import annotations

import io
from typing import Any

from retrieval.parsing.base import Detected, Limits, ParseError, Section

# A page with fewer characters than this is taken as without a text layer (a scan, a full-page image).
_MIN_PAGE_TEXT = 20
_PDF_STREAM_LIMIT = 75_000_000  # pypdf's default for one decompressed stream


def parse_pdf(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
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
        blank, unreadable = [], []
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
                unreadable.append(number)
                continue
            if len((text or "").strip()) < _MIN_PAGE_TEXT:
                blank.append(number)
            notes = _annotation_texts(page)
            sections.append(Section("\n\n".join([text or "", *notes]), page=number))
        if fields := _form_fields(reader):
            sections.append(Section("\n".join(fields), heading="Form fields"))
        if unreadable:
            detected.warnings.append(
                f"{_pages(unreadable, 'is', 'are')} damaged; {_its(unreadable)} text is not searchable."
            )
        if blank and len(blank) < len(reader.pages):
            detected.warnings.append(
                f"{_pages(blank, 'holds', 'hold')} no text layer (scanned pages need OCR, which is not"
                f" supported); {_its(blank)} text is not searchable."
            )
        return sections


def _pages(numbers: list[int], one: str, many: str) -> str:
    """`Page 2 is` / `Pages 2, 3 are` (`one`, `many`: the verb's two forms), at most 10 numbers shown."""
    shown = ", ".join(map(str, numbers[:10])) + (
        f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    )
    return f"Page {shown} {one}" if len(numbers) == 1 else f"Pages {shown} {many}"


def _its(numbers: list[int]) -> str:
    return "its" if len(numbers) == 1 else "their"


# Annotations whose /Contents is text a reader wrote (ISO 32000-1, 12.5.6): sticky notes, text boxes, and
# comments on highlighted or struck-out text. Links, widgets and stamps hold no such text.
_NOTE_ANNOTATIONS = {"/Text", "/FreeText", "/Highlight", "/Underline", "/StrikeOut", "/Squiggly", "/Caret"}


def _annotation_texts(page: Any) -> list[str]:
    """The comments on a page: page text extraction reads only the content stream, not annotations."""
    notes = []
    for annotation in page.get("/Annots") or []:
        try:
            annotation = annotation.get_object()
            text = str(annotation.get("/Contents") or "").strip()
            if annotation.get("/Subtype") in _NOTE_ANNOTATIONS and text:
                notes.append(f"Comment: {text}")
        except Exception:  # a damaged annotation does not cost the page
            continue
    return notes


def _form_fields(reader: Any) -> list[str]:
    """`name: value` of the filled text fields of an AcroForm: their values live in widget annotations,
    which page text extraction does not read."""
    try:
        fields = reader.get_form_text_fields() or {}
    except Exception:
        return []
    return [f"{name}: {value}" for name, value in fields.items() if isinstance(value, str) and value.strip()]
