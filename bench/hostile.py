"""Hostile inputs against the parse child: time, the child's peak RSS and the server's RSS growth, next to a
normal file of about the same size.

.venv/bin/python bench/hostile.py [--timeout 60] [--memory-mb 2048] [--only docx,text]

Each input goes through `retrieval.writes.prepare_in_child` (what ingestion runs: parse, word bound, chunk)
under the given limits (the defaults of `GPTSTORE_PARSE_TIMEOUT_SECONDS` / `GPTSTORE_PARSE_MEMORY_MB` unless
set). Peak RSS is sampled every 20 ms with psutil: the child's (it is forked from a forkserver, so
`RUSAGE_CHILDREN` does not see it) and this process's growth over its start. Inputs are written to a temp
dir and removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
import uuid
import zipfile
import zlib
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings
from core.storage import storage_of
from retrieval.isolation import running_pids
from retrieval.parsing import ParseError
from retrieval.uploads import upload_key
from retrieval.writes import prepare_in_child

ROOT = Path(__file__).resolve().parent.parent
NORMAL_PPTX_MAX_BYTES = 4 << 20
INFLATING_DOCX = ROOT / "tests" / "data" / "inflating-157mb-xml.docx"
WORDS = (
    "harbour ferry fjord glacier marmot alpine ticket refund invoice policy garden weather river "
    "mountain village bakery museum opening hours price children adult evening station platform"
).split()


def prose(rng: random.Random, size: int) -> str:
    out, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 20))).capitalize() + ".\n\n"
        out.append(line)
        total += len(line)
    return "".join(out)


def random_words(rng: random.Random, count: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randrange(3, 9))) for _ in range(count)]


def replace_member(source: bytes, name: str, data: bytes) -> bytes:
    original = zipfile.ZipFile(io.BytesIO(source))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in original.infolist():
            target.writestr(info.filename, data if info.filename == name else original.read(info))
    return buffer.getvalue()


def office_bytes(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def normal_docx(rng: random.Random, size: int) -> bytes:
    import docx

    def document_of(paragraphs: int) -> bytes:
        document = docx.Document()
        for _ in range(paragraphs):
            document.add_paragraph(prose(rng, 300).strip())
        return office_bytes(document)

    sample = len(document_of(400))
    return document_of(max(1, round(400 * size / sample)))


def pptx_with_slide(xml_text_bytes: int, rng: random.Random) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Prices"
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(4))
    box.text_frame.text = "placeholder"
    data = office_bytes(deck)
    if not xml_text_bytes:
        return data
    slide_xml = zipfile.ZipFile(io.BytesIO(data)).read("ppt/slides/slide1.xml").decode()
    runs = []
    total = 0
    while total < xml_text_bytes:
        words = " ".join(random_words(rng, 12))
        runs.append(f"<a:p><a:r><a:t>{words}</a:t></a:r></a:p>")
        total += len(runs[-1])
    bloated = slide_xml.replace("<a:p><a:r><a:t>placeholder</a:t></a:r></a:p>", "".join(runs), 1)
    return replace_member(data, "ppt/slides/slide1.xml", bloated.encode())


def normal_pptx(rng: random.Random, size: int) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    def deck_of(slides: int) -> bytes:
        deck = Presentation()
        for _ in range(slides):
            slide = deck.slides.add_slide(deck.slide_layouts[5])
            slide.shapes.title.text = " ".join(rng.choice(WORDS) for _ in range(4))
            box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(4))
            box.text_frame.text = prose(rng, 800)
        return office_bytes(deck)

    # python-pptx adds a slide in time linear in the deck: a 30 MB deck of text slides takes many minutes
    # to build, so the normal deck stops at NORMAL_PPTX_MAX_BYTES.
    sample = len(deck_of(50))
    return deck_of(max(1, round(50 * min(size, NORMAL_PPTX_MAX_BYTES) / sample)))


def xlsx(rng: random.Random, rows: int, numbers: bool) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Stock")
    sheet.append(["sku", "name", "count", "price"])
    for i in range(rows):
        if numbers:
            sheet.append([rng.randrange(10**9), rng.random(), rng.randrange(10**6), rng.random()])
        else:
            sheet.append([f"SKU-{i}", " ".join(rng.choice(WORDS) for _ in range(3)), i % 97, i * 0.25])
    return office_bytes(workbook)


def pdf(streams: list[bytes]) -> bytes:
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", font]
    kids = []
    for stream in streams:
        header = b"<< /Length %d /Filter /FlateDecode >>" % len(stream)
        objects.append(header + b"\nstream\n" + stream + b"\nendstream")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
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


def page_stream(text: str) -> bytes:
    lines = text.split("\n")[:60]
    lines = [f"BT /F1 10 Tf 40 {760 - 12 * i} Td ({line}) Tj ET" for i, line in enumerate(lines)]
    return zlib.compress(" ".join(lines).encode())


def pdf_bomb(inflated: int) -> bytes:
    compressor = zlib.compressobj(9)
    block = b"BT /F1 12 Tf 72 720 Td (harbour ferry fjord) Tj ET " * 20000
    stream = b"".join(compressor.compress(block) for _ in range(inflated // len(block))) + compressor.flush()
    return pdf([stream])


def normal_pdf(rng: random.Random, size: int) -> bytes:
    streams, total = [], 0
    while total < size:
        streams.append(page_stream(prose(rng, 3000)))
        total += len(streams[-1]) + 200
    return pdf(streams)


def deep_html(depth: int) -> bytes:
    nested = b"<div><span>level</span>" * depth + b"</div>" * depth
    return b"<!doctype html><html><body>" + nested + b"</body></html>"


def normal_html(rng: random.Random, size: int) -> bytes:
    parts, total = ["<!doctype html><html><body>"], 0
    while total < size:
        part = f"<h2>{rng.choice(WORDS)}</h2><p>{prose(rng, 600)}</p>"
        parts.append(part)
        total += len(part)
    return ("".join(parts) + "</body></html>").encode()


def inputs(rng: random.Random) -> list[tuple[str, str, str, callable]]:
    """(group, label, filename, make) in pairs: the hostile input, then a normal file of about its size."""
    docx_hostile = INFLATING_DOCX.read_bytes
    return [
        ("docx", "inflating-157mb-xml.docx (1.26 MB)", "handbook.docx", docx_hostile),
        ("docx", "normal DOCX, same size", "normal.docx", lambda: normal_docx(rng, len(docx_hostile()))),
        ("text", "200 MB text", "big.txt", lambda: prose(rng, 200 << 20).encode()),
        ("text", "8 MB text (under 2M tokens)", "normal.txt", lambda: prose(rng, 8 << 20).encode()),
        ("pdf", "PDF flate bomb (200 MB stream)", "bomb.pdf", lambda: pdf_bomb(200 << 20)),
        ("pdf", "normal PDF, same size", "normal.pdf", None),  # sized from the bomb below
        ("xlsx", "XLSX, 1M rows of random numbers", "numbers.xlsx", lambda: xlsx(rng, 1_000_000, True)),
        ("xlsx", "normal XLSX, 60k rows", "stock.xlsx", lambda: xlsx(rng, 60_000, False)),
        ("pptx", "PPTX, one slide of 60 MB XML", "bloated.pptx", lambda: pptx_with_slide(60 << 20, rng)),
        ("pptx", "normal PPTX, same size (at most 4 MB)", "normal.pptx", None),
        ("html", "HTML nested 100,000 deep", "deep.html", lambda: deep_html(100_000)),
        ("html", "normal HTML, same size", "normal.html", None),
    ]


async def measure(settings: Settings, file_id: uuid.UUID, filename: str) -> tuple[str, float, int, int]:
    me = psutil.Process()
    start_rss = me.memory_info().rss
    peaks = {"child": 0, "parent": 0}

    async def sample() -> None:
        while True:
            peaks["parent"] = max(peaks["parent"], me.memory_info().rss - start_rss)
            for pid in running_pids():
                try:
                    peaks["child"] = max(peaks["child"], psutil.Process(pid).memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        prepared = await prepare_in_child(settings, file_id, filename, 256, 64)
        outcome = f"ok: {len(prepared.chunks):,} chunks, {prepared.token_count:,} tokens"
    except ParseError as exc:
        outcome = f"{exc.code}: {str(exc)[:70]}"
    finally:
        elapsed = time.perf_counter() - started
        sampler.cancel()
    return outcome, elapsed, peaks["child"], peaks["parent"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=None, help="seconds (default: the setting's)")
    parser.add_argument("--memory-mb", type=int, default=None, help="MB (default: the setting's)")
    parser.add_argument("--only", default="", help="comma-separated groups: docx,text,pdf,xlsx,pptx,html")
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="gptstore-hostile-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        if args.timeout is not None:
            settings.parse_timeout_seconds = args.timeout
        if args.memory_mb is not None:
            settings.parse_memory_mb = args.memory_mb
        print(
            f"limits: {settings.parse_timeout_seconds:g} s, {settings.parse_memory_mb} MB; "
            f"max tokens {settings.max_file_tokens:,}"
        )
        print(f"{'input':42} {'bytes':>12} {'time s':>8} {'child MB':>9} {'server +MB':>10}  outcome")
        only = {group for group in args.only.split(",") if group}
        previous_size = 0
        for group, label, filename, make in inputs(rng):
            if only and group not in only:
                continue
            if make is None:  # a normal file as large as the hostile one before it
                make = {
                    "pdf": lambda size: normal_pdf(rng, size),
                    "pptx": lambda size: normal_pptx(rng, size),
                    "html": lambda size: normal_html(rng, size),
                }[group]
                data = make(previous_size)
            else:
                data = make()
            previous_size = len(data)
            file_id = uuid.uuid4()
            path = storage_of(settings).root / upload_key(file_id)  # the local default storage
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            del data
            outcome, elapsed, child, parent = await measure(settings, file_id, filename)
            path.unlink()
            print(
                f"{label:42} {previous_size:>12,} {elapsed:>8.2f} {child / 2**20:>9.0f} "
                f"{parent / 2**20:>10.0f}  {outcome}",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
