"""No parser silently drops text: every element kind of each format is indexed, or the file says so."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import docx
import openpyxl
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from pptx import Presentation
from pptx.util import Inches

from retrieval.chunking import chunk_document
from retrieval.jobs import ingest
from retrieval.parsing import parse_document
from tests.retrieval.test_files import create_gpt, upload
from tests.retrieval.test_parsing import make_pdf

DATA = Path(__file__).resolve().parents[1] / "data"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
BODY_XML = (
    f"<w:body {W} "
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml">'
    # an inline content control and a hyperlink inside one paragraph
    '<w:p><w:r><w:t xml:space="preserve">Signed by </w:t></w:r>'
    "<w:sdt><w:sdtPr><w:alias w:val='Signer'/></w:sdtPr><w:sdtContent><w:r><w:t>Mira Holt</w:t></w:r>"
    "</w:sdtContent></w:sdt>"
    '<w:r><w:t xml:space="preserve"> see </w:t></w:r><w:hyperlink w:anchor="x"><w:r><w:t>appendix B</w:t>'
    "</w:r></w:hyperlink></w:p>"
    # a field: the result is text, the code is not
    '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DATE \\@ "yyyy" </w:instrText>'
    '</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>Fiscal year 2031</w:t></w:r>'
    '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    # a deleted revision is not text of the document
    "<w:p><w:r><w:t>Kept words.</w:t></w:r><w:del w:id='1' w:author='a'><w:r><w:delText>Removed words."
    "</w:delText></w:r></w:del></w:p>"
    # moved text: read at its new place only
    "<w:p><w:moveFrom w:id='2' w:author='a'><w:r><w:t>Moved sentence.</w:t></w:r></w:moveFrom></w:p>"
    "<w:p><w:moveTo w:id='3' w:author='a'><w:r><w:t>Moved sentence.</w:t></w:r></w:moveTo></w:p>"
    # a text box, as Word writes it: a DrawingML choice and a VML fallback holding the same text
    "<w:p><w:r><mc:AlternateContent><mc:Choice Requires='wps'><w:drawing><wps:txbx><w:txbxContent>"
    "<w:p><w:r><w:t>Boxed safety note</w:t></w:r></w:p></w:txbxContent></wps:txbx></w:drawing></mc:Choice>"
    "<mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>Boxed safety note</w:t></w:r>"
    "</w:p></w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"
    "</w:body>"
)
FOOTNOTES_XML = (
    f'<w:footnotes {W}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
    '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>Source: the 2030 harbour survey.</w:t></w:r></w:p>'
    "</w:footnote></w:footnotes>"
)


def all_text(data: bytes, name: str) -> str:
    return "\n".join(section.text for section in parse_document(data, name).sections)


def test_handed_docx_indexes_its_nested_table_and_content_control() -> None:
    document = parse_document((DATA / "docx-nested-table-and-content-control.docx").read_bytes(), "c.docx")
    text = "\n".join(section.text for section in document.sections)
    assert "Night shift rate | 97 EUR per hour" in text
    assert "Weekend rate | 112 EUR per hour" in text
    assert "Client name: Harbor Lantern Logistics" in text
    assert text.index("Annex rates") < text.index("Night shift rate") < text.index("Client name")
    assert document.warning is None


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Harbour rules", level=1)
    section = document.sections[0]
    section.header.paragraphs[0].text = "Harbour Authority internal"
    section.footer.paragraphs[0].text = "Printed copies are not controlled"
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Berth and crane"
    table.cell(0, 2).text = "Fee"
    table.cell(1, 0).text = "B4"
    table.cell(1, 1).text = "Crane 2"
    inner = table.cell(1, 2).add_table(rows=1, cols=2)
    inner.cell(0, 0).text = "Pilotage"
    inner.cell(0, 1).text = "310 EUR"
    paragraph = document.add_paragraph("Mooring lines are checked daily.")
    document.add_comment(paragraph.runs, text="Ask the night watch too", author="QA")
    body = document.element.body
    sect_pr = body[-1]
    for child in parse_xml(BODY_XML):
        sect_pr.addprevious(child)
    footnotes = Part(
        PackURI("/word/footnotes.xml"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",
        FOOTNOTES_XML.encode(),
        document.part.package,
    )
    document.part.relate_to(footnotes, RT.FOOTNOTES)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_reads_every_kind_of_text_once() -> None:
    document = parse_document(make_docx(), "rules.docx")
    text = "\n".join(section.text for section in document.sections)
    headings = {section.heading for section in document.sections}
    assert "Berth and crane | Fee" in text  # a merged cell is stated once
    assert "B4 | Crane 2 |" in text and "Pilotage | 310 EUR" in text  # the nested table follows its row
    assert "Signed by Mira Holt see appendix B" in text  # inline content control, hyperlink
    assert "Fiscal year 2031" in text and "DATE" not in text  # field result, not its code
    assert "Kept words." in text and "Removed words" not in text
    assert text.count("Moved sentence.") == 1
    assert text.count("Boxed safety note") == 1  # the text box, without its fallback copy
    assert "Harbour Authority internal" in text and "Printed copies are not controlled" in text
    assert "Source: the 2030 harbour survey." in text
    assert "Ask the night watch too" in text
    assert {"Harbour rules", "Header", "Footer", "Footnotes", "Comments"} <= headings
    assert document.warning is None


def test_pptx_reads_groups_tables_and_speaker_notes() -> None:
    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Quarterly review"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(3), Inches(1)).text_frame.text = "Outer group box"
    nested = group.shapes.add_group_shape()
    nested.shapes.add_textbox(Inches(1), Inches(3), Inches(3), Inches(1)).text_frame.text = "Inner group box"
    table = slide.shapes.add_table(2, 2, Inches(5), Inches(2), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Revenue"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "4.2 M"
    slide.notes_slide.notes_text_frame.text = "Mention the delayed ferry contract."
    out = io.BytesIO()
    presentation.save(out)
    document = parse_document(out.getvalue(), "review.pptx")
    text = document.sections[0].text
    for expected in ("Outer group box", "Inner group box", "Region | Revenue", "North | 4.2 M"):
        assert expected in text
    assert "Notes: Mention the delayed ferry contract." in text
    assert document.sections[0].page == 1 and document.warning is None


CHART_XML = (
    '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><c:chart><c:title><c:tx><c:rich>'
    "<a:bodyPr/><a:p><a:r><a:t>Cargo handled per month</a:t></a:r></a:p></c:rich></c:tx></c:title>"
    "</c:chart></c:chartSpace>"
)


def test_docx_reads_the_titles_of_its_charts_in_place() -> None:
    document = docx.Document()
    document.add_paragraph("Before the chart.")
    chart = Part(
        PackURI("/word/charts/chart1.xml"),
        "application/vnd.openxmlformats-officedocument.drawingml.chart+xml",
        CHART_XML.encode(),
        document.part.package,
    )
    rel_id = document.part.relate_to(chart, RT.CHART)
    drawing = parse_xml(
        f"<w:p {W} xmlns:wp='http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing' "
        "xmlns:a='http://schemas.openxmlformats.org/drawingml/2006/main' "
        "xmlns:c='http://schemas.openxmlformats.org/drawingml/2006/chart' "
        "xmlns:r='http://schemas.openxmlformats.org/officeDocument/2006/relationships'>"
        "<w:r><w:drawing><wp:inline><a:graphic><a:graphicData "
        "uri='http://schemas.openxmlformats.org/drawingml/2006/chart'>"
        f"<c:chart r:id='{rel_id}'/></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    document.element.body[-1].addprevious(drawing)
    document.add_paragraph("After the chart.")
    out = io.BytesIO()
    document.save(out)
    text = all_text(out.getvalue(), "chart.docx")
    assert text.index("Before the chart.") < text.index("Cargo handled per month") < text.index("After")


def docx_importing(blob: bytes, content_type: str, name: str) -> bytes:
    document = docx.Document()
    document.add_paragraph("Cover letter.")
    part = Part(PackURI(f"/word/{name}"), content_type, blob, document.part.package)
    rel_id = document.part.relate_to(part, RT.A_F_CHUNK)
    chunk = parse_xml(
        f"<w:altChunk {W} xmlns:r='http://schemas.openxmlformats.org/officeDocument/2006/relationships' "
        f"r:id='{rel_id}'/>"
    )
    document.element.body[-1].addprevious(chunk)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_reads_imported_html_and_says_when_it_cannot() -> None:
    html = b"<html><head><title>x</title></head><body><p>Imported tide table</p></body></html>"
    document = parse_document(docx_importing(html, "text/html", "chunk.html"), "letter.docx")
    assert "Imported tide table" in document.sections[0].text and document.warning is None
    rtf = b"{\\rtf1\\ansi Imported tide table}"
    document = parse_document(docx_importing(rtf, "application/rtf", "chunk.rtf"), "letter.docx")
    assert document.warning is not None and "not read" in document.warning


def test_pptx_reads_chart_titles() -> None:
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[6])
    data = CategoryChartData()
    data.categories = ["May", "June"]
    data.add_series("Tonnes", (120, 140))
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1), Inches(6), Inches(4), data
    )
    frame.chart.has_title = True
    frame.chart.chart_title.text_frame.text = "Cargo handled per month"
    out = io.BytesIO()
    presentation.save(out)
    assert "Cargo handled per month" in all_text(out.getvalue(), "cargo.pptx")


def test_xlsx_reads_cell_comments_and_chart_titles() -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.comments import Comment

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Month", "Tonnes"])
    sheet.append(["May", 120])
    sheet["B2"].comment = Comment("Estimated, the scale was broken", "QA")
    chart = BarChart()
    chart.title = "Cargo handled per month"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=2), titles_from_data=True)
    sheet.add_chart(chart, "D2")
    out = io.BytesIO()
    workbook.save(out)
    text = all_text(out.getvalue(), "cargo.xlsx")
    assert "B2: Estimated, the scale was broken" in text
    assert "Cargo handled per month" in text


def test_pdf_reads_comments_and_form_fields() -> None:
    from pypdf import PdfReader, PdfWriter
    from pypdf.annotations import FreeText
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Inspection report of the quay."]))))
    writer.add_annotation(0, FreeText(text="Check the fenders again", rect=(50, 550, 250, 600)))
    field = writer._add_object(
        DictionaryObject(
            {
                NameObject("/FT"): NameObject("/Tx"),
                NameObject("/T"): TextStringObject("Inspector"),
                NameObject("/V"): TextStringObject("Oda Lien"),
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Widget"),
                NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (50, 500, 250, 520)]),
            }
        )
    )
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([field])}
    )
    out = io.BytesIO()
    writer.write(out)
    document = parse_document(out.getvalue(), "inspection.pdf")
    assert "Comment: Check the fenders again" in document.sections[0].text
    assert document.sections[-1].heading == "Form fields"
    assert "Inspector: Oda Lien" in document.sections[-1].text


def test_xlsx_reads_every_sheet_and_states_merged_cells_once() -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "Fees"
    first.append(["Service", "Price"])
    first.append(["Towage", "900"])
    first.merge_cells("A3:B3")
    first["A3"] = "Prices exclude VAT"
    hidden = workbook.create_sheet("Contacts")
    hidden.sheet_state = "hidden"
    hidden.append(["Name", "Phone"])
    hidden.append(["Harbour master", "555-0101"])
    out = io.BytesIO()
    workbook.save(out)
    document = parse_document(out.getvalue(), "fees.xlsx")
    by_sheet = {section.heading: section.text for section in document.sections}
    assert by_sheet["Fees"].count("Prices exclude VAT") == 1
    assert "Harbour master\t555-0101" in by_sheet["Contacts"]


def test_html_keeps_tables_and_collapsed_details() -> None:
    page = (
        b"<html><body><h1>Ferry</h1><table><tr><th>Route</th><th>Time</th></tr>"
        b"<tr><td>Hellesylt</td><td>10:00</td></tr></table>"
        b"<details><summary>Luggage</summary><p>Bicycles travel free.</p></details></body></html>"
    )
    text = all_text(page, "ferry.html")
    assert "Route | Time" in text and "Hellesylt | 10:00" in text
    assert "Luggage" in text and "Bicycles travel free." in text


def test_pdf_pages_without_text_are_reported() -> None:
    document = parse_document(make_pdf(["The harbour opens at six in the morning.", "", ""]), "scan.pdf")
    assert [section.page for section in document.sections] == [1]
    assert document.warning is not None and "Pages 2, 3 hold no text layer" in document.warning
    assert "their text is not searchable" in document.warning
    one = parse_document(make_pdf(["The harbour opens at six in the morning.", ""]), "scan.pdf")
    warning = one.warning or ""  # one page is one page: it said "Pages 2 hold ...; their text ..."
    assert warning.startswith("Page 2 holds no text layer") and "; its text is not searchable." in warning


def test_every_chunk_of_a_csv_carries_its_header_row() -> None:
    rows = "vessel;flag;tonnage\n" + "".join(f"Vessel {i};Norway;{i * 113}\n" for i in range(400))
    document = parse_document(rows.encode(), "vessels.csv")
    for size, overlap in ((64, 16), (256, 64), (800, 400)):
        chunks = chunk_document(document.sections, chunk_size=size, chunk_overlap=overlap)
        if size < 800:  # row sections (about 1,500 characters) are cut into several chunks
            assert len(chunks) > len(document.sections)
        assert all(chunk.text.startswith("vessel\tflag\ttonnage\n") for chunk in chunks)
        assert all(chunk.token_count <= size for chunk in chunks)
        body = "\n".join(chunk.text for chunk in chunks)
        assert all(f"Vessel {i}\tNorway\t{i * 113}" in body for i in range(400))


def test_every_chunk_of_a_spreadsheet_carries_its_header_row() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Crew member", "Certificate", "Expires"])
    for i in range(300):
        sheet.append([f"Sailor {i}", "STCW basic safety", f"2031-0{i % 9 + 1}-01"])
    out = io.BytesIO()
    workbook.save(out)
    chunks = chunk_document(
        parse_document(out.getvalue(), "crew.xlsx").sections, chunk_size=100, chunk_overlap=20
    )
    assert len(chunks) > 5
    assert all(chunk.text.startswith("Crew member\tCertificate\tExpires\n") for chunk in chunks)


async def test_ingested_docx_is_searchable_and_a_scan_says_so(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers)
    handed = (DATA / "docx-nested-table-and-content-control.docx").read_bytes()
    contract = (await upload(client, creator_headers, gpt_id, "contract.docx", handed)).json()
    scan = make_pdf(["Harbour opening hours are posted at the gate.", "", "", ""])
    scanned = (await upload(client, creator_headers, gpt_id, "scan.pdf", scan)).json()
    for file in (contract, scanned):
        assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"
    url = f"/api/gpts/{gpt_id}/files"
    files = {f["filename"]: f for f in (await client.get(url, headers=creator_headers)).json()["data"]}
    assert files["contract.docx"]["warning"] is None
    assert "Pages 2, 3, 4" in files["scan.pdf"]["warning"]
    for query, expected in (("weekend rate", "112 EUR per hour"), ("client name", "Harbor Lantern")):
        response = await client.post(
            f"/api/gpts/{gpt_id}/search", json={"query": query, "mode": "keyword"}, headers=creator_headers
        )
        assert any(expected in hit["text"] for hit in response.json()["data"]), response.text
