"""Ingestion end to end: uploads over HTTP, the real job code, real PostgreSQL+pgvector and Redis.

Most tests run in the rolled-back test transaction. Those that run ingestion next to HTTP requests use
`live`: an app on committed transactions (the test connection cannot serve two sessions at once), whose
rows are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import re
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import docx
import numpy as np
import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pptx import Presentation
from saq.job import Status

from core.cli import main
from core.db import Database, create_engine
from core.jobs import create_queue
from core.models import User
from core.redis import create_redis
from core.settings import get_settings
from retrieval import search as search_module
from retrieval.embedding import EmbeddingError, MiniLMEmbedder, get_embedder
from retrieval.indexer import index_tail
from retrieval.jobs import BATCH, ingest, resume_stale
from retrieval.models import Dataset, KnowledgeChunk, KnowledgeFile
from retrieval.parsing import DOCX, PDF, PPTX, XLSX
from retrieval.reindex import chunks_to_reindex, reindex
from retrieval.scheduling import enqueue_ingestion
from retrieval.search import vector_index_name
from retrieval.writes import COPY_COLUMNS
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.retrieval.test_parsing import encrypt_pdf, make_pdf

MINILM = MiniLMEmbedder.model_id
FJORDS = (
    "# Fjord trips\n\n## Geiranger\n\n"
    "The Geirangerfjord ferry runs from May to September, four times a day.\n\n"
    "## Nærøyfjord\n\nKayak rentals in Gudvangen open at 9 am and cost 600 NOK for half a day.\n"
)
SMALL_CHUNKS = {"chunk_size": 100, "chunk_overlap": 10}


def harbour_log(entries: int, place: str = "harbour") -> bytes:
    """Markdown with one entry of about 75 tokens per heading: one chunk each at a chunk size of 100."""
    weather = ["calm", "windy", "foggy", "stormy", "bright"]
    parts = [f"# The {place} log\n\nKept by the {place} master, one entry a day.\n"]
    for i in range(entries):
        parts.append(
            f"## Entry {i}\n\nOn day {i} the {place} was {weather[i % 5]}. The pilot boat went out "
            f"{i % 7 + 1} times and {i * 3 % 50 + 2} ships moored at the quay. The master noted a tide of "
            f"{i % 9 + 1}.{i % 10} metres and ordered {i % 4 + 1} tonnes of ice for the fish market. "
            f"Entry {i} closes with remark number {i * 7 + 3} of the lighthouse keeper.\n"
        )
    return "\n".join(parts).encode()


# Embedders -------------------------------------------------------------------------------------------


class FakeEmbedder:
    """Deterministic bag-of-words vectors: instant, and texts sharing words get similar vectors."""

    dimensions = 384
    remote = False

    def __init__(self, model_id: str = "fake-a") -> None:
        self.model_id = model_id
        self.batches = 0

    async def load(self) -> None:
        pass

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches += 1
        return [self._vector(text) for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def _vector(self, text: str) -> list[float]:
        vector = np.full(self.dimensions, 1e-3, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            vector[int(hashlib.blake2b(word.encode(), digest_size=4).hexdigest(), 16) % self.dimensions] += 1
        return (vector / np.linalg.norm(vector)).tolist()


class WorkerDied(BaseException):
    """Stands for the worker process dying mid-job: nothing in the job code may catch it."""


class DyingEmbedder(FakeEmbedder):
    """Embeds `batches` batches, then the process "dies".

    Each batch takes `delay` seconds, one batch at a time like a real model on busy cores (ingestion asks
    for the next batch while it writes one): ingestion then commits after every batch (it writes at least
    once a second), so the crash leaves committed progress behind.
    """

    def __init__(self, batches: int, model_id: str = "fake-a", delay: float = 0.0) -> None:
        super().__init__(model_id)
        self.left = batches
        self.delay = delay
        self.busy = asyncio.Lock()

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        async with self.busy:
            if self.left == 0:
                raise WorkerDied
            self.left -= 1
            await asyncio.sleep(self.delay)
            return await super().embed_documents(texts)


class PausingEmbedder(FakeEmbedder):
    """Stops before its second batch until `release` is set; `paused` tells that it got there.

    One batch at a time, like a model: ingestion asks for the next batch while it writes the last one.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.paused = asyncio.Event()
        self.release = asyncio.Event()
        self.delay = delay
        self.busy = asyncio.Lock()

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        async with self.busy:
            if self.batches == 1:
                self.paused.set()
                await self.release.wait()
            await asyncio.sleep(self.delay)
            return await super().embed_documents(texts)


# HTTP helpers ----------------------------------------------------------------------------------------


async def create_gpt(client, headers, **retrieval) -> str:
    response = await client.post("/api/gpts", json={"name": "Harbour Guide"}, headers=headers)
    assert response.status_code == 201, response.text
    gpt_id = response.json()["id"]
    if retrieval:
        patched = await client.patch(f"/api/gpts/{gpt_id}", json={"retrieval": retrieval}, headers=headers)
        assert patched.status_code == 200, patched.text
    return gpt_id


async def upload(client, headers, gpt_id, name: str, content: bytes) -> uuid.UUID:
    response = await client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, headers=headers
    )
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def file_state(client, headers, gpt_id, file_id) -> dict:
    response = await client.get(f"/api/gpts/{gpt_id}/files/{file_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def search(client, headers, gpt_id, query: str, **options) -> list[dict]:
    body = {"query": query, **{k: v for k, v in options.items() if v is not None}}
    response = await client.post(f"/api/gpts/{gpt_id}/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _chunk_column(session, file_id, column) -> list:
    """One column of the file's chunks, in chunk order."""
    query = sa.select(column).where(KnowledgeChunk.file_id == file_id).order_by(KnowledgeChunk.ord)
    return list(await session.scalars(query))


async def chunk_ords(session, file_id) -> list[int]:
    return await _chunk_column(session, file_id, KnowledgeChunk.ord)


async def chunk_texts(session, file_id) -> list[str]:
    """The file's chunk texts in chunk order."""
    return await _chunk_column(session, file_id, KnowledgeChunk.text)


# Formats ---------------------------------------------------------------------------------------------


def office(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def museum_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Tickets", level=1)
    document.add_paragraph("Adults pay 14 euros; children under twelve enter free.")
    document.add_heading("Opening hours", level=1)
    document.add_paragraph("The museum opens at 10 am on Sundays and closes at 6 pm.")
    return office(document)


def pricing_pptx() -> bytes:
    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Welcome"
    first.placeholders[1].text = "Agenda: introductions and the roadmap for next year."
    second = presentation.slides.add_slide(presentation.slide_layouts[1])
    second.shapes.title.text = "Pricing"
    second.placeholders[1].text = "The premium tier costs 49 euros per month."
    return office(presentation)


def stock_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Suppliers"
    sheet.append(["Supplier", "City"])
    sheet.append(["Nordic Rope Works", "Bergen"])
    inventory = workbook.create_sheet("Inventory")
    inventory.append(["Item", "Count", "Shelf"])
    inventory.append(["Storm lantern", 17, "B4"])
    inventory.append(["Life jacket", 40, "A1"])
    return office(workbook)


PARKING_HTML = (
    b"<!doctype html><html><head><title>Guide</title><script>var x = 1;</script></head><body>"
    b"<h1>Visitor guide</h1><h2>Food</h2><p>The cafe serves waffles until 4 pm.</p>"
    b"<h2>Parking</h2><p>Parking is free after 6 pm in the north garage.</p></body></html>"
)
PRICES_CSV = b"product,price,season\nkayak,600 NOK,summer\ncanoe,450 NOK,summer\nsnowshoes,200 NOK,winter\n"
HARBOUR_JSON = json.dumps(
    {"harbour": {"name": "Nordhavn", "berths": 42, "contact": {"email": "pier@nordhavn.example"}}}
).encode()
RETRY_PY = b'''"""Retry helpers."""

import time


def retry_with_backoff(call, attempts=5, base_delay=0.5):
    """Call `call` until it succeeds, doubling the delay after every failure."""
    for attempt in range(attempts):
        try:
            return call()
        except ConnectionError:
            time.sleep(base_delay * 2**attempt)
    raise TimeoutError("gave up after exponential backoff")
'''
BAKERY_CP1252 = (
    "Öffnungszeiten der Bäckerei Müller: Montag bis Freitag von 7 bis 18 Uhr. Die Brötchen kosten "
    "45 Cent, ein Laib Roggenbrot kostet 3,20 €. Grüße aus der Hauptstraße!"
).encode("cp1252")


@dataclass
class Format:
    filename: str
    content: bytes
    media_type: str
    query: str
    phrase: str
    page: int | None = None
    heading: str | None = None


FORMATS = [
    Format("guide.docx", museum_docx(), DOCX, "when does the museum open on Sunday", "opens at 10 am",
           heading="Opening hours"),
    Format("deck.pptx", pricing_pptx(), PPTX, "premium tier price per month", "49 euros",
           page=2, heading="Pricing"),
    Format("stock.xlsx", stock_xlsx(), XLSX, "how many storm lanterns", "Storm lantern\t17",
           heading="Inventory"),
    Format("manual.pdf", make_pdf(["Chapter one is about safety", "Replace the filter every 3 months"]),
           PDF, "how often to replace the water filter", "every 3 months", page=2),
    Format("visit.html", PARKING_HTML, "text/html", "is parking free in the evening", "north garage",
           heading="Visitor guide > Parking"),
    Format("prices.csv", PRICES_CSV, "text/csv", "snowshoes price", "snowshoes\t200 NOK"),
    Format("harbour.json", HARBOUR_JSON, "application/json", "harbour contact email",
           "harbour.contact.email: pier@nordhavn.example"),
    Format("retry.py", RETRY_PY, "text/x-python", "retry with exponential backoff", "def retry_with_backoff"),
    Format("notizen.txt", BAKERY_CP1252, "text/plain", "Öffnungszeiten Bäckerei", "Bäckerei Müller"),
    Format("fjords.md", FJORDS.encode(), "text/markdown", "kayak rental price", "600 NOK",
           heading="Fjord trips > Nærøyfjord"),
]  # fmt: skip


@pytest.mark.parametrize("case", FORMATS, ids=[f.filename for f in FORMATS])
async def test_every_format_is_ingested_and_found_with_its_page_and_heading(
    case: Format, client, creator_headers, db, settings
):
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, case.filename, case.content)
    assert await ingest(db, settings, file_id) == "completed"

    file = await file_state(client, creator_headers, gpt_id, file_id)
    assert file["status"] == "completed" and file["last_error"] is None
    assert file["media_type"] == case.media_type
    assert file["chunk_count"] > 0 and file["token_count"] > 0
    assert file["progress"] == {"chunks_done": file["chunk_count"], "chunks_total": file["chunk_count"]}

    best = (await search(client, creator_headers, gpt_id, case.query))[0]
    assert case.phrase in best["text"]
    assert (best["filename"], best["page"], best["heading"]) == (case.filename, case.page, case.heading)


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buffer.getvalue()


UNREADABLE = [
    ("truncated.pdf", make_pdf(["Hello there"])[:200], "invalid_file", "damaged"),
    ("truncated.docx", museum_docx()[:3000], "invalid_file", "damaged"),
    ("secret.pdf", encrypt_pdf(make_pdf(["Secret"]), "s3cret"), "invalid_file", "encrypted"),
    ("scan.pdf", make_pdf([""]), "invalid_file", "No text found"),
    ("blob.bin", random.Random(7).randbytes(4096), "unsupported_file", "Supported: PDF"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + random.Random(8).randbytes(2048), "unsupported_file",
     "Portable Network Graphics"),
    ("archive.zip", zip_archive(), "unsupported_file", "ZIP archives are not supported"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("filename", "content", "code", "reason"), UNREADABLE, ids=[u[0] for u in UNREADABLE]
)
async def test_unreadable_files_fail_with_a_reason(
    filename, content, code, reason, client, creator_headers, db, settings, session
):
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, filename, content)
    assert await ingest(db, settings, file_id) == "failed"

    file = await file_state(client, creator_headers, gpt_id, file_id)
    assert file["status"] == "failed" and file["chunk_count"] == 0
    assert file["last_error"]["code"] == code
    assert reason in file["last_error"]["message"]
    assert await chunk_ords(session, file_id) == []


async def test_an_upload_without_text_is_refused_naming_the_file_and_nothing_is_stored(
    client, creator_headers, settings, session, creator
):
    dataset = Dataset(owner_id=creator.id, name="Harbour notes")
    session.add(dataset)
    await session.commit()
    gpt_id = await create_gpt(client, creator_headers)
    blanks = [
        ("empty.txt", b""),
        ("blank.md", b" \n\t\r\n"),
        ("bom.txt", b"\xef\xbb\xbf\n"),
        ("bare.html", b"<p> </p>"),
    ]
    for url in (f"/api/gpts/{gpt_id}", f"/api/datasets/{dataset.id}"):
        for name, content in blanks:
            response = await client.post(
                f"{url}/files", files={"file": (name, content)}, headers=creator_headers
            )
            assert response.status_code == 422, (url, name, response.text)
            assert response.json()["errors"][0]["field"] == "file" and f"'{name}' is empty" in response.text
        assert (await client.get(f"{url}/files", headers=creator_headers)).json()["data"] == []
    assert not [p for p in (settings.data_dir / "files").rglob("*") if p.is_file()]


async def test_file_over_the_token_limit_fails_as_too_large(client, creator_headers, db, settings, session):
    settings.max_file_tokens = 20
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())
    assert await ingest(db, settings, file_id) == "failed"
    error = (await file_state(client, creator_headers, gpt_id, file_id))["last_error"]
    assert error["code"] == "too_large"
    assert "the limit is 20" in error["message"]
    assert await chunk_ords(session, file_id) == []


# Crashes and resumption ------------------------------------------------------------------------------


async def test_a_file_whose_job_a_dead_worker_holds_is_queued_again_under_a_free_key(
    client, creator_headers, db, settings, session, redis
):
    """A worker killed after taking the job, before the run counted its attempt, leaves the job "active"
    in SAQ for good: the resume must not enqueue under that key (SAQ would ignore it, the file would wait
    forever: seen in the kill -9 test)."""
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(5))
    queue = create_queue(redis)
    await enqueue_ingestion(queue, file_id, 0)
    taken = await queue.job(f"ingest:{file_id}:0")
    await taken.update(status=Status.ACTIVE)  # the dead worker's
    stale = sa.func.now() - sa.text("interval '10 minutes'")
    touch = sa.update(KnowledgeFile).where(KnowledgeFile.id == file_id)
    await session.execute(touch.values(updated_at=stale, dispatched=True, attempts=0))
    await session.commit()

    assert await resume_stale(db, settings, queue) == 1
    resumed = await queue.job(f"ingest:{file_id}:0:1")
    assert resumed is not None and resumed.status == Status.QUEUED
    assert resumed.kwargs == {"file_id": str(file_id)}
    # A lease later the resumed job still waits: it keeps its key, and runs once.
    await session.execute(touch.values(updated_at=stale))
    await session.commit()
    assert await resume_stale(db, settings, queue) == 1
    assert await queue.job(f"ingest:{file_id}:0:2") is None
    assert (await queue.job(f"ingest:{file_id}:0:1")).status == Status.QUEUED


async def test_ingestion_resumes_after_the_worker_died(client, creator_headers, db, settings, session, redis):
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(100))

    with pytest.raises(WorkerDied):
        await ingest(db, settings, file_id, embedder=DyingEmbedder(batches=2, delay=1.05))
    crashed = await file_state(client, creator_headers, gpt_id, file_id)
    total = crashed["progress"]["chunks_total"]
    assert total > 3 * BATCH
    assert crashed["status"] == "in_progress"
    # The first batch was written a second in; the second, embedded while the first was written, is
    # written too unless that write took over a second (a loaded machine): either way, whole batches.
    committed = crashed["progress"]["chunks_done"]
    assert committed in (BATCH, 2 * BATCH)
    assert await chunk_ords(session, file_id) == list(range(committed))

    # The cron job finds the file once it has made no progress for a while, and queues it again.
    queue = create_queue(redis)
    await session.execute(
        sa.update(KnowledgeFile)
        .where(KnowledgeFile.id == file_id)
        .values(updated_at=sa.func.now() - sa.text("interval '10 minutes'"))
    )
    await session.commit()
    assert await resume_stale(db, settings, queue) == 1
    job = await queue.job(f"ingest:{file_id}:1")
    assert job is not None and job.function == "retrieval.ingest_file"
    assert job.kwargs == {"file_id": str(file_id)}
    assert await resume_stale(db, settings, queue) == 0  # touched: not queued twice

    embedder = FakeEmbedder()
    assert await ingest(db, settings, file_id, embedder=embedder, redis=redis) == "completed"
    assert embedder.batches == -(-(total - committed) // BATCH)  # only what the crash left undone
    done = await file_state(client, creator_headers, gpt_id, file_id)
    assert done["status"] == "completed"
    assert done["chunk_count"] == done["progress"]["chunks_total"] == done["progress"]["chunks_done"] == total
    session.expire_all()
    assert await chunk_ords(session, file_id) == list(range(total))
    texts = list(
        await session.scalars(sa.select(KnowledgeChunk.text).where(KnowledgeChunk.file_id == file_id))
    )
    assert len(set(texts)) == total


class FailingEmbedder(FakeEmbedder):
    """Embeds one batch, then the provider refuses for good."""

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if self.batches:
            raise EmbeddingError("the provider refused the key", permanent=True)
        return await super().embed_documents(texts)


async def test_a_provider_failure_mid_file_fails_it_without_half_its_chunks(
    client, creator_headers, db, settings, session
):
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(100))
    assert await ingest(db, settings, file_id, embedder=FailingEmbedder()) == "failed"
    state = await file_state(client, creator_headers, gpt_id, file_id)
    assert state["last_error"]["code"] == "server_error"
    assert "refused the key" in state["last_error"]["message"]
    assert await chunk_ords(session, file_id) == []


# Concurrency: an app on committed transactions -------------------------------------------------------


async def test_deleting_a_file_stops_its_ingestion(live, settings):
    gpt_id = await create_gpt(live.client, live.headers, **SMALL_CHUNKS)
    file_id = await upload(live.client, live.headers, gpt_id, "log.md", harbour_log(100))
    embedder = PausingEmbedder(delay=1.05)  # a model's pace: each batch is committed on its own
    running = asyncio.create_task(ingest(live.db, settings, file_id, embedder=embedder))
    await asyncio.wait_for(embedder.paused.wait(), 30)
    for _ in range(300):  # the first batch is written while the second is embedded
        async with live.db.session_scope() as session:
            if await chunk_ords(session, file_id):
                break
        await asyncio.sleep(0.1)
    async with live.db.session_scope() as session:
        assert len(await chunk_ords(session, file_id)) == BATCH  # the first batch is in

    deleted = await live.client.delete(f"/api/gpts/{gpt_id}/files/{file_id}", headers=live.headers)
    assert deleted.status_code == 204
    embedder.release.set()
    assert await asyncio.wait_for(running, 30) in ("cancelled", "deleted")

    async with live.db.session_scope() as session:
        assert await chunk_ords(session, file_id) == []
        assert await session.get(KnowledgeFile, file_id) is None
    missing = await live.client.get(f"/api/gpts/{gpt_id}/files/{file_id}", headers=live.headers)
    assert missing.status_code == 404


def server_sent_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in re.split(r"\r?\n\r?\n", body.strip()):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_progress_is_streamed_until_done(live, settings):
    gpt_id = await create_gpt(live.client, live.headers, **SMALL_CHUNKS)
    file_id = await upload(live.client, live.headers, gpt_id, "log.md", harbour_log(100))
    url = f"/api/gpts/{gpt_id}/files/{file_id}/events"
    # Each batch outlasts the stream's 0.5 s poll twice over, so a loaded machine still shows progress.
    embedder = PausingEmbedder(delay=1.0)
    embedder.release.set()
    running = asyncio.create_task(ingest(live.db, settings, file_id, embedder=embedder))
    response = await asyncio.wait_for(live.client.get(url, headers=live.headers), 60)
    assert await running == "completed"

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = server_sent_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "done" and set(names[:-1]) == {"progress"}
    assert len(events) >= 3  # the worker's progress shows between start and end
    done = [data["progress"]["chunks_done"] for _, data in events]
    assert done == sorted(done)
    final = events[-1][1]
    assert final["status"] == "completed"
    assert final["chunk_count"] == final["progress"]["chunks_total"] == done[-1] > 3 * BATCH

    again = server_sent_events((await live.client.get(url, headers=live.headers)).text)
    assert [name for name, _ in again] == ["done"]


# Filtered search -------------------------------------------------------------------------------------


async def test_search_stays_inside_its_gpt_and_file_ids_narrow_it(client, creator_headers, db, settings):
    kayaks = "# Rentals\n\nKayak rentals in Gudvangen cost 600 NOK for half a day.\n"
    ferries = "# Ferries\n\nThe Geirangerfjord ferry runs four times a day from May to September.\n"
    gpts: dict[str, tuple[str, list[uuid.UUID]]] = {}
    for name, extra in (("a", ""), ("b", "Kayak rentals in Gudvangen are also cheap in winter.\n")):
        gpt_id = await create_gpt(client, creator_headers)
        files = [
            await upload(client, creator_headers, gpt_id, "kayaks.md", (kayaks + extra).encode()),
            await upload(client, creator_headers, gpt_id, "ferries.md", (ferries + extra).encode()),
        ]
        for file_id in files:
            assert await ingest(db, settings, file_id) == "completed"
        gpts[name] = (gpt_id, files)
    (a, a_files), (_, b_files) = gpts["a"], gpts["b"]

    for mode in ("hybrid", "vector", "keyword"):
        found = await search(client, creator_headers, a, "kayak rentals Gudvangen", mode=mode, k=10)
        assert found and {uuid.UUID(h["file_id"]) for h in found} <= set(a_files), mode
    narrowed = await search(client, creator_headers, a, "kayak rentals", file_ids=[str(a_files[1])], k=10)
    assert narrowed and {h["filename"] for h in narrowed} == {"ferries.md"}
    # Another GPT's file ids find nothing rather than that GPT's chunks.
    assert await search(client, creator_headers, a, "kayak rentals", file_ids=[str(b_files[0])]) == []


@pytest.mark.parametrize("strategy", ["exact", "hnsw"])
async def test_small_gpt_gets_its_full_top_k_among_many_chunks_of_others(
    strategy, client, creator_headers, db, settings, session, monkeypatch
):
    monkeypatch.setattr(search_module, "EXACT_SCAN_MAX_CHUNKS", 10**9 if strategy == "exact" else 0)
    small = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    small_file = await upload(client, creator_headers, small, "log.md", harbour_log(15))
    assert await ingest(db, settings, small_file) == "completed"
    await index_tail(db, settings, yield_to_ingestion=False)  # into the HNSW graph (retrieval.indexer)
    rows = (
        await session.execute(
            sa.select(KnowledgeChunk.id, KnowledgeChunk.embedding).where(
                KnowledgeChunk.dataset_id == uuid.UUID(small)
            )
        )
    ).all()
    own = {str(row.id): row.embedding.to_numpy() for row in rows}
    assert len(own) > 10

    # Another GPT holds 3,000 near copies of the same chunks, written by the ingestion's COPY path: for any
    # query, hundreds of its chunks are nearer than the small GPT's own.
    big = await create_gpt(client, creator_headers)
    big_file = await upload(client, creator_headers, big, "other.md", harbour_log(1, place="port"))
    assert await ingest(db, settings, big_file) == "completed"
    texts = list(
        await session.scalars(sa.select(KnowledgeChunk.text).where(KnowledgeChunk.file_id == small_file))
    )
    config = await session.scalar(sa.text("SELECT 'simple'::regconfig::oid"))
    noise = np.random.default_rng(3)
    copies = 3000
    records = []
    for n in range(copies):
        vector = rows[n % len(rows)].embedding.to_numpy() + noise.normal(0, 0.02, 384).astype(np.float32)
        text = texts[n % len(texts)]
        records.append(
            (uuid.uuid4(), big_file, uuid.UUID(big), 1000 + n, text, 80, None, None, 0, len(text), MINILM,
             vector / np.linalg.norm(vector), config)
        )  # fmt: skip
    raw = await (await session.connection()).get_raw_connection()
    await raw.driver_connection.copy_records_to_table(
        "knowledge_chunk", records=records, columns=COPY_COLUMNS
    )
    await session.execute(
        sa.update(KnowledgeFile).where(KnowledgeFile.id == big_file).values(chunks_done=copies + 1)
    )
    query = "on which day was the harbour foggy"
    query_vector = np.asarray(await get_embedder(settings).embed_query(query), dtype=np.float32)
    if strategy == "hnsw":
        # A small GPT's rows are cheaper to read through a b-tree or a scan; take those away, so the vector
        # search walks the HNSW graph past thousands of the other GPT's nearer neighbours, as it does for
        # a big GPT in a big table: what pgvector's iterative scan is for. Rolled back with the test.
        await session.execute(sa.text("DROP INDEX ix_knowledge_chunk_dataset_model"))
        await session.execute(
            sa.text("ALTER TABLE knowledge_chunk DROP CONSTRAINT uq_knowledge_chunk_file_ord")
        )
        await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = await session.scalars(
            sa.text(
                "EXPLAIN SELECT id FROM knowledge_chunk WHERE dataset_id = :gpt_id"
                " AND embedding_model = :model"
                " ORDER BY embedding::vector(384) <=> CAST(:q AS vector(384)) LIMIT 40"
            ),
            {"gpt_id": uuid.UUID(small), "model": MINILM, "q": query_vector},
        )
        assert vector_index_name(MINILM, 384) in "\n".join(plan)
    await session.commit()

    k = 10
    similarity = {chunk_id: float(np.dot(vector, query_vector)) for chunk_id, vector in own.items()}
    hits = await search(client, creator_headers, small, query, mode="vector", k=k)
    found = [similarity[h["chunk_id"]] for h in hits]  # KeyError: a chunk of the other GPT
    assert len(found) == k
    assert found == sorted(found, reverse=True)  # ranked by true distance
    if strategy == "exact":
        assert found == sorted(similarity.values(), reverse=True)[:k]
    else:
        # A graph walk cut short (here after one tuple; pgvector's memory bound or an unreachable node do
        # the same) finds few of the GPT's chunks: the search runs again as an exact scan.
        await session.execute(sa.text("SET LOCAL hnsw.max_scan_tuples = 1"))
        hits = await search(client, creator_headers, small, query, mode="vector", k=k)
        assert [similarity[h["chunk_id"]] for h in hits] == sorted(similarity.values(), reverse=True)[:k]
    for mode, text in (("hybrid", query), ("keyword", "ships moored at the quay")):
        hits = await search(client, creator_headers, small, text, mode=mode, k=k)
        assert len(hits) == k and {h["chunk_id"] for h in hits} <= set(own), mode


# Re-embedding after a model change -------------------------------------------------------------------


async def test_reindex_moves_knowledge_to_the_current_model(client, creator_headers, db, settings, session):
    gpts = []
    for _ in range(2):
        gpt_id = await create_gpt(client, creator_headers)
        file_id = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())
        assert await ingest(db, settings, file_id, embedder=FakeEmbedder("fake-a")) == "completed"
        gpts.append((gpt_id, file_id))
    (first, first_file), (second, second_file) = gpts
    # Chunks of another model are invisible to search with the current one.
    assert await search(client, creator_headers, first, "kayak rental price") == []
    pending = await chunks_to_reindex(db, MINILM, uuid.UUID(first))
    assert pending > 0

    reported: list[int] = []
    done = await reindex(db, settings, dataset_id=uuid.UUID(first), progress=reported.append)
    assert done == pending == sum(reported)
    session.expire_all()
    models = dict(
        (
            await session.execute(
                sa.select(KnowledgeChunk.dataset_id, KnowledgeChunk.embedding_model)
                .where(KnowledgeChunk.dataset_id.in_([uuid.UUID(first), uuid.UUID(second)]))
                .distinct()
            )
        ).all()
    )
    assert models == {uuid.UUID(first): MINILM, uuid.UUID(second): "fake-a"}
    assert (await session.get(KnowledgeFile, first_file)).embedding_model == MINILM
    assert (await session.get(KnowledgeFile, second_file)).embedding_model == "fake-a"
    best = (await search(client, creator_headers, first, "kayak rental price"))[0]
    assert "600 NOK" in best["text"] and best["heading"] == "Fjord trips > Nærøyfjord"

    assert await reindex(db, settings, dataset_id=uuid.UUID(first)) == 0
    assert await reindex(db, settings) == pending  # the rest: the second GPT
    assert await search(client, creator_headers, second, "kayak rental price")


async def test_interrupted_reindex_continues_where_it_stopped(client, creator_headers, db, settings, session):
    gpt_id = await create_gpt(client, creator_headers, **SMALL_CHUNKS)
    file_id = await upload(client, creator_headers, gpt_id, "log.md", harbour_log(100))
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder("fake-a")) == "completed"
    total = (await file_state(client, creator_headers, gpt_id, file_id))["chunk_count"]

    with pytest.raises(WorkerDied):
        await reindex(db, settings, embedder=DyingEmbedder(batches=1, model_id="fake-b"), batch_size=BATCH)
    assert await chunks_to_reindex(db, "fake-b") == total - BATCH
    session.expire_all()
    assert (await session.get(KnowledgeFile, file_id)).embedding_model == "fake-a"  # not all of it yet

    embedder = FakeEmbedder("fake-b")
    assert await reindex(db, settings, embedder=embedder, batch_size=BATCH) == total - BATCH
    assert embedder.batches == -(-(total - BATCH) // BATCH)
    session.expire_all()
    assert (await session.get(KnowledgeFile, file_id)).embedding_model == "fake-b"
    assert await chunks_to_reindex(db, "fake-b") == 0
    index = vector_index_name("fake-b", 384)
    assert await session.scalar(sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": index})


def test_reindex_command_shows_progress_and_re_embeds(database_url, server_urls, settings, monkeypatch):
    """`gptstore reindex --gpt ID` after the model changed from a fake one to MiniLM."""

    async def prepare() -> tuple[uuid.UUID, str]:
        db, redis = Database(create_engine(database_url, pool_size=2)), create_redis(server_urls[1])
        try:
            async with db.session_scope() as session:
                user = await create_user(session, settings, plan="plus")
            headers = auth_headers(user, settings)
            async with app_client_for(settings, db=db, redis=redis) as client:
                gpt_id = await create_gpt(client, headers)
                file_id = await upload(client, headers, gpt_id, "fjords.md", FJORDS.encode())
            assert await ingest(db, settings, file_id, embedder=FakeEmbedder("fake-a")) == "completed"
            return user.id, gpt_id
        finally:
            await redis.aclose()
            await db.dispose()

    async def models_then_clean_up(user_id: uuid.UUID) -> set[str]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                files = sa.select(KnowledgeFile.id).where(KnowledgeFile.owner_id == user_id)
                models = set(
                    await conn.scalars(
                        sa.select(KnowledgeFile.embedding_model)
                        .where(KnowledgeFile.id.in_(files))
                        .union(
                            sa.select(KnowledgeChunk.embedding_model).where(KnowledgeChunk.file_id.in_(files))
                        )
                    )
                )
                await conn.execute(sa.delete(User).where(User.id == user_id))
            return models
        finally:
            await engine.dispose()

    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    user_id, gpt_id = run(prepare())
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GPTSTORE_EMBEDDING_PROVIDER", "minilm")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["reindex", "--gpt", gpt_id])
        again = CliRunner().invoke(main, ["reindex", "--gpt", gpt_id])
    finally:
        get_settings.cache_clear()
        models = run(models_then_clean_up(user_id))
        loop.close()
    assert result.exit_code == 0, result.output
    assert f"Re-embedding with {MINILM}" in result.output
    assert f"re-embedded: dataset {gpt_id} now uses {MINILM}" in result.output
    assert again.exit_code == 0 and "Nothing to re-embed" in again.output
    assert models == {MINILM}
