"""PDF: the text of each page, with its page number (pypdf)."""

from __future__ import annotations

import io

from retrieval.parsing.base import Detected, Limits, ParseError, Section

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
