"""Uploaded files become text sections with page numbers and heading paths, or a clear ParseError."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib

import docx
import openpyxl
import pytest
from pptx import Presentation
from pptx.util import Inches
from pypdf import PdfWriter

from core.storable import storable
from retrieval.parsing import (
    CSV,
    DOCX,
    HTML,
    JSON,
    MARKDOWN,
    PDF,
    PLAIN,
    PPTX,
    XLSX,
    ParseError,
    detect_media_type,
    parse_document,
)
from tests import archives

DOCX_CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def make_pdf(pages: list[str], *, padding: int = 0) -> bytes:
    """A PDF with one line of Helvetica text per page; `padding` adds compressible spaces to each page."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for text in pages:
        compressor = zlib.compressobj()
        stream = compressor.compress(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET ".encode())
        block = b" " * (1 << 20)
        for _ in range(padding // len(block)):
            stream += compressor.compress(block)
        stream += compressor.flush()
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(len(objects))
    kid_refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str, owner_password: str | None = None) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    # RC4 needs no optional crypto library, so the test runs wherever pypdf does.
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Welcome to the handbook.")
    document.add_heading("Install", level=1)
    document.add_paragraph("Pick your platform.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Run the installer with sudo.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Distro", (0, 1): "Command", (1, 0): "Debian", (1, 1): "apt"}.items():
        table.cell(row, col).text = text
    document.add_heading("Windows", level=2)
    document.add_paragraph("Double-click setup.exe.")
    document.add_heading("Usage", level=1)
    document.add_paragraph("Start the server.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pptx() -> bytes:
    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text = "Revenue grew in every region."
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Numbers"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (row, col), text in {(0, 0): "Q1", (0, 1): "Q2", (1, 0): "10", (1, 1): "20"}.items():
        table.cell(row, col).text = text
    second.notes_slide.notes_text_frame.text = "Mention the new office."
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def make_xlsx(staff_rows: int = 1) -> bytes:
    workbook = openpyxl.Workbook()
    prices = workbook.active
    prices.title = "Prices"
    prices.append(["Item", "Price"])
    prices.append(["Apple", 1.5])
    prices.append(["Pear", 2])
    staff = workbook.create_sheet("Staff")
    staff.append(["Name", "Role"])
    for i in range(staff_rows):
        staff.append([f"Jón Þórsson {i}", "Engineer"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], *, zeros: tuple[str, int] | None = None) -> bytes:
    """A zip archive; `zeros` adds a member of that many zero bytes, written in blocks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if zeros is not None:
            name, size = zeros
            with archive.open(name, "w", force_zip64=True) as member:
                block = b"\0" * (1 << 20)
                for _ in range(size // len(block)):
                    member.write(block)
    return buffer.getvalue()


def texts(document) -> list[str]:
    return [section.text for section in document.sections]


# ------------------------------------------------------------------------------------------------- PDF


def test_pdf_has_one_section_per_page_with_its_page_number() -> None:
    document = parse_document(make_pdf(["Hello from page one", "Second page says goodbye"]), "report.pdf")
    assert document.media_type == PDF
    assert [(s.page, s.text) for s in document.sections] == [
        (1, "Hello from page one"),
        (2, "Second page says goodbye"),
    ]


def test_pdf_is_recognised_by_content_whatever_its_name() -> None:
    data = make_pdf(["Named like a text file"])
    assert detect_media_type(data, "notes.txt") == PDF
    assert parse_document(data, "notes.txt").sections[0].text == "Named like a text file"


def test_password_protected_pdf_is_refused_as_encrypted() -> None:
    with pytest.raises(ParseError) as error:
        parse_document(encrypt_pdf(make_pdf(["Secret"]), "s3cret"), "secret.pdf")
    assert error.value.code == "invalid_file"
    assert "encrypted" in str(error.value)


def test_pdf_restricted_only_against_editing_opens_without_password() -> None:
    data = encrypt_pdf(make_pdf(["Readable by anyone"]), "", owner_password="owner")
    assert texts(parse_document(data, "restricted.pdf")) == ["Readable by anyone"]


def test_pdf_flate_bomb_is_refused_before_it_fills_memory() -> None:
    with pytest.raises(ParseError) as error:
        parse_document(make_pdf(["boom"], padding=8 << 20), "bomb.pdf", max_uncompressed_bytes=1 << 20)
    assert error.value.code == "too_large"
    # With default limits a 200 MB stream (200 KB on disk) stops at pypdf's per-stream cap.
    with pytest.raises(ParseError) as error:
        parse_document(make_pdf(["boom"], padding=200 << 20), "bomb.pdf")
    assert error.value.code == "too_large"
    # Many pages that are each small enough still may not inflate to 200 times the file together.
    with pytest.raises(ParseError) as error:
        parse_document(make_pdf([f"page {i}" for i in range(20)], padding=3 << 20), "pages.pdf")
    assert error.value.code == "too_large"


def test_damaged_pdf_is_invalid() -> None:
    data = make_pdf(["Hello"])
    for damaged in (data[: len(data) // 2], b"%PDF-1.7\n" + os.urandom(2000)):
        with pytest.raises(ParseError) as error:
            parse_document(damaged, "damaged.pdf")
        assert error.value.code == "invalid_file"


# ------------------------------------------------------------------------------------------ Office files


def test_docx_sections_carry_heading_paths_and_tables_as_text() -> None:
    document = parse_document(make_docx(), "handbook.docx")
    assert document.media_type == DOCX
    by_heading = {section.heading: section.text for section in document.sections}
    assert list(by_heading) == [None, "Install", "Install > Linux", "Install > Windows", "Usage"]
    assert by_heading[None] == "Welcome to the handbook."
    assert "Run the installer with sudo." in by_heading["Install > Linux"]
    assert "Distro | Command\nDebian | apt" in by_heading["Install > Linux"]
    assert by_heading["Usage"].startswith("Usage")
    assert all(section.page is None for section in document.sections)


def test_docx_is_recognised_by_content_when_named_bin() -> None:
    assert detect_media_type(make_docx(), "upload.bin") == DOCX
    assert detect_media_type(make_pptx(), "upload") == PPTX
    assert detect_media_type(make_xlsx(), "data.csv") == XLSX


def test_pptx_slides_are_pages_titled_by_the_slide_title() -> None:
    document = parse_document(make_pptx(), "review.pptx")
    assert document.media_type == PPTX
    first, second = document.sections
    assert (first.page, first.heading) == (1, "Quarterly review")
    assert "Revenue grew in every region." in first.text
    assert (second.page, second.heading) == (2, "Numbers")
    assert "Q1 | Q2\n10 | 20" in second.text
    assert "Mention the new office." in second.text


def test_xlsx_sheets_become_sections_named_after_the_sheet() -> None:
    document = parse_document(make_xlsx(), "book.xlsx")
    assert document.media_type == XLSX
    assert [(s.heading, s.text) for s in document.sections] == [
        ("Prices", "Item\tPrice\nApple\t1.5\nPear\t2"),
        ("Staff", "Name\tRole\nJón Þórsson 0\tEngineer"),
    ]


def test_long_sheets_repeat_the_header_row_in_every_section() -> None:
    document = parse_document(make_xlsx(staff_rows=500), "book.xlsx")
    staff = [section for section in document.sections if section.heading == "Staff"]
    assert len(staff) > 1
    assert all(section.text.startswith("Name\tRole\n") for section in staff)
    rows = [line for section in staff for line in section.text.split("\n")[1:]]
    assert rows == [f"Jón Þórsson {i}\tEngineer" for i in range(500)]


def test_damaged_office_files_are_invalid() -> None:
    data = make_docx()
    fake = make_zip({"[Content_Types].xml": DOCX_CONTENT_TYPES, "word/document.xml": b"<not xml"})
    for damaged in (data[: len(data) // 2], fake):
        with pytest.raises(ParseError) as error:
            parse_document(damaged, "broken.docx")
        assert error.value.code == "invalid_file"


def _damaged_office_files() -> dict[str, bytes]:
    """Office files whose zip fails in the library, not in a parser: kept apart from the parse step,
    detection (at upload, and first in the parse child) must still answer a ParseError."""
    manifest = b"[Content_Types].xml"
    return {
        "encrypted": archives.encrypted(make_docx(), manifest),
        "broken-stream": archives.damaged_data(make_docx(), manifest),
        "name-not-utf8": archives.bad_utf8_name(
            archives.zipped(("[Content_Types].xml", DOCX_CONTENT_TYPES), ("word/XX.xml", b"<w/>")),
            b"word/XX.xml",
        ),
        "directory": archives.corrupt_directory(make_docx()),
    }


@pytest.mark.parametrize("case", ["encrypted", "broken-stream", "name-not-utf8", "directory"])
def test_office_files_damaged_in_their_zip_are_a_parse_error(case) -> None:
    data = _damaged_office_files()[case]
    with pytest.raises(ParseError) as error:
        detect_media_type(data, "broken.docx")
    assert error.value.code == "invalid_file"
    with pytest.raises(ParseError) as error:
        parse_document(data, "broken.docx")
    assert error.value.code == "invalid_file"


def test_zip_bomb_is_refused_by_declared_size() -> None:
    bomb = make_zip({"[Content_Types].xml": DOCX_CONTENT_TYPES}, zeros=("word/document.xml", 64 << 20))
    assert len(bomb) < 1 << 20
    with pytest.raises(ParseError) as error:
        parse_document(bomb, "bomb.docx", max_uncompressed_bytes=16 << 20)
    assert error.value.code == "too_large"


def test_zip_bomb_is_refused_by_compression_ratio() -> None:
    bomb = make_zip({"[Content_Types].xml": DOCX_CONTENT_TYPES}, zeros=("word/document.xml", 64 << 20))
    with pytest.raises(ParseError) as error:
        parse_document(bomb, "bomb.docx")  # 64 MB is under the size limit, but compressed ~1000:1
    assert error.value.code == "too_large"


# ------------------------------------------------------------------------------------------- text kinds


def test_html_keeps_heading_paths_and_drops_scripts_styles_and_navigation() -> None:
    page = b"""<!DOCTYPE html><html><head><title>Docs</title><style>p { color: red }</style></head>
    <body><nav>Home | Pricing | Login</nav>
    <h1>Guide</h1><p>Read   this
      first.</p><script>var tracking = 1;</script>
    <h2>Install</h2><ul><li>Download</li><li>Run <b>setup</b> now</li></ul>
    <h3>Linux</h3><table><tr><td>Debian</td><td>apt</td></tr></table>
    <h2>Usage</h2><p>Start it<br>and wait.</p><!-- a comment --></body></html>"""
    document = parse_document(page, "page.txt")
    assert document.media_type == HTML
    assert [(s.heading, s.text) for s in document.sections] == [
        ("Guide", "Guide\n\nRead this first."),
        ("Guide > Install", "Install\n\nDownload\nRun setup now"),
        ("Guide > Install > Linux", "Linux\n\nDebian | apt"),
        ("Guide > Usage", "Usage\n\nStart it\nand wait."),
    ]
    joined = "\n".join(texts(document))
    for hidden in ("tracking", "color", "Pricing", "a comment", "Docs"):
        assert hidden not in joined


def test_markdown_heading_paths_ignore_hashes_in_code() -> None:
    markdown = "\n".join(
        [
            "---",
            "title: front matter, not a heading",
            "---",
            "Intro with a #hashtag.",
            "",
            "# Install #",
            "",
            "```sh",
            "# a shell comment, not a heading",
            "```",
            "",
            "    # indented code, not a heading",
            "",
            "## Linux",
            "",
            "apt install",
            "",
            "Windows",
            "-------",
            "",
            "Run setup.exe",
            "",
            "***",
            "",
            "Usage",
            "=====",
            "",
            "Run it.",
        ]
    )
    document = parse_document(markdown.encode(), "README.md")
    assert document.media_type == MARKDOWN
    assert [s.heading for s in document.sections] == [
        None,
        "Install",
        "Install > Linux",
        "Install > Windows",
        "Usage",
    ]
    assert document.sections[0].text.endswith("Intro with a #hashtag.")
    assert "# a shell comment, not a heading" in document.sections[1].text
    assert document.sections[3].text.startswith("Windows\n-------")


def test_a_heading_with_nothing_under_it_joins_the_text_it_introduces() -> None:
    """A bare heading is no section (no chunk, no keyword hit citing nothing): its words go with the next
    section, under that section's heading path; nothing is dropped."""
    markdown = (
        "# Fjord Guide\n\n## Prices\n\n### Summer\n\nFerries: 50 NOK.\n\n"
        "## Empty ##\n\n## Winter\n\n40 NOK.\n\n#\n\nLast\n----\n"
    )
    assert [(s.heading, s.text) for s in parse_document(markdown.encode(), "guide.md").sections] == [
        ("Fjord Guide > Prices > Summer", "# Fjord Guide\n\n## Prices\n\n### Summer\n\nFerries: 50 NOK."),
        ("Fjord Guide > Winter", "## Empty ##\n\n## Winter\n\n40 NOK.\n\n#\n\nLast\n----"),
    ]
    page = b"<h1>Guide</h1><h2>Empty</h2><h2></h2><h2>Full</h2><p>Body.</p><h2>End</h2>"
    assert [(s.heading, s.text) for s in parse_document(page, "page.html").sections] == [
        ("Guide > Full", "Guide\n\nEmpty\n\nFull\n\nBody.\n\nEnd")
    ]
    document = docx.Document()
    document.add_heading("Install", level=1)
    document.add_heading("Linux", level=2)
    document.add_paragraph("apt install")
    buffer = io.BytesIO()
    document.save(buffer)
    assert [(s.heading, s.text) for s in parse_document(buffer.getvalue(), "a.docx").sections] == [
        ("Install > Linux", "Install\n\nLinux\n\napt install")
    ]
    # headings only: all kept, in one section; a title-only slide stays on its own page
    only = parse_document(b"# One\n\n## Two\n", "toc.md").sections
    assert [(s.heading, s.text) for s in only] == [("One > Two", "# One\n\n## Two")]
    presentation = Presentation()
    presentation.slides.add_slide(presentation.slide_layouts[5]).shapes.title.text = "Thank you"
    presentation.slides.add_slide(presentation.slide_layouts[5]).shapes.title.text = "Questions"
    buffer = io.BytesIO()
    presentation.save(buffer)
    slides = parse_document(buffer.getvalue(), "talk.pptx").sections
    assert [(s.page, s.text) for s in slides] == [(1, "Thank you"), (2, "Questions")]


def test_csv_rows_keep_their_header() -> None:
    rows = "city,country\n" + "".join(f"Town {i},Iceland\n" for i in range(300))
    document = parse_document(rows.encode(), "towns.csv")
    assert document.media_type == CSV
    assert len(document.sections) > 1
    assert all(section.text.startswith("city\tcountry\n") for section in document.sections)
    assert document.sections[0].text.split("\n")[1] == "Town 0\tIceland"


def test_csv_is_sniffed_from_content_without_extension() -> None:
    assert detect_media_type(b"name;city\nAnna;Berlin\nJon;Oslo\n", "export") == CSV
    assert detect_media_type(b"A sentence, with a comma.\nAnother line without.\n", "notes.txt") == PLAIN


def test_json_is_flattened_to_searchable_key_paths() -> None:
    data = b'{"users": [{"name": "Ada", "langs": ["en", "fr"]}], "active": true, "meta": {}}'
    document = parse_document(data, "users.txt")
    assert document.media_type == JSON
    assert document.sections[0].text == (
        "users[0].name: Ada\nusers[0].langs[0]: en\nusers[0].langs[1]: fr\nactive: true\nmeta: {}"
    )


def test_source_code_and_plain_text_are_kept_as_text() -> None:
    code = b"def greet(name):\n    # say hello\n    return f'Hello {name}'\n"
    document = parse_document(code, "greet.py")
    assert document.media_type == "text/x-python"
    assert texts(document) == [code.decode().strip()]
    assert detect_media_type(b"# Title\n\nText", "notes.md") == MARKDOWN
    assert detect_media_type(b"# just a comment line", "run.sh") == "text/x-shellscript"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Grüße aus Köln: Die Straße führt über die Brücke – Öffnungszeiten täglich.", "cp1252"),
        ("Größe", "cp1252"),
        ("Þetta er íslenskur texti með ð og þ. Ærið verkefni, sögðu þau á Akureyri.", "latin-1"),
        ("Það er gott veður í dag", "latin-1"),
        ("Þjóðhátíð kostar 20 € á mann.", "iso-8859-15"),
        ("Grüße – ÄÖÜ äöü ß", "utf-16"),
        ("Grüße – ÄÖÜ äöü ß", "utf-8-sig"),
    ],
)
def test_legacy_encodings_decode_umlauts_and_icelandic_letters(text: str, encoding: str) -> None:
    document = parse_document(text.encode(encoding), "letter.txt")
    assert texts(document) == [text]


def test_nul_bytes_are_stripped() -> None:
    assert texts(parse_document(b"Hello\x00 World\x00\x00\x00", "a.txt")) == ["Hello World"]
    assert texts(parse_document("Größe\x00 über".encode("cp1252"), "a.txt")) == ["Größe über"]


def test_empty_files_are_invalid() -> None:
    for data, name in ((b"", "empty.txt"), (b"  \n\t\n", "blank.txt"), (b"\x00\x00", "nul.txt")):
        with pytest.raises(ParseError) as error:
            parse_document(data, name)
        assert error.value.code == "invalid_file"
    with pytest.raises(ParseError, match="No text found") as error:
        parse_document(make_pdf([""]), "scan.pdf")
    assert error.value.code == "invalid_file"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + os.urandom(3000),
        gzip.compress(os.urandom(3000)),
        os.urandom(20000),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2000,  # a legacy .doc
        make_zip({"notes.txt": b"hello"}),
    ],
    ids=["png", "gzip", "random", "doc", "zip"],
)
def test_unsupported_binary_files_are_refused(data: bytes) -> None:
    with pytest.raises(ParseError) as error:
        parse_document(data, "upload.txt")
    assert error.value.code == "unsupported_file"
    assert "Supported" in error.value.message


def test_a_nul_or_control_character_between_words_separates_them() -> None:
    assert texts(parse_document(b"Ferries with\x00nul and\x1fcontrol\x00 characters", "a.txt")) == [
        "Ferries with nul and control characters"
    ]
    assert storable("with\x00nul, trailing\x00 and\x00\x00") == "with nul, trailing and"
