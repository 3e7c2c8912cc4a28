"""End-to-end offline ingestion of a folder against embedding the same chunks alone, in one run.

.venv/bin/python bench/offline_ingestion.py [--folder PATH] [--chunks 400] [--concurrency 4] [--rounds 1]

Starts an embedded PostgreSQL (or uses GPTSTORE_BENCH_DATABASE_URL, see bench/_servers.py), creates one
knowledge base and, per round, one file row per file, with the files (default: this repository's
`retrieval/` sources, then `docs/`, until about `--chunks` chunks) in the blob store. End to end:
`retrieval.jobs.ingest` of every file with the offline MiniLM embedder, `--concurrency` files at a time as
a worker runs them (core/jobs.py), from the first parse to the last commit: parse and chunk in the child
process, embed, COPY into the indexed table. Alone: one `embed_documents` call of the same embedder on the
texts of the chunks that ingestion stored. The ratio is (chunks/s end to end) / (chunks/s alone); target
>= 0.9. Rounds alternate which side runs first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import sqlalchemy as sa

from bench._servers import bench_servers
from bench.embedding import ROOT
from bench.retrieval import SECRET, Gpt, insert_rows
from core.db import Database, create_engine
from core.settings import Settings
from core.storage import storage_of
from retrieval.chunking import chunk_and_count
from retrieval.jobs import ingest
from retrieval.onnx_embedder import MiniLMEmbedder, available_cpus
from retrieval.parsing import ParseError, parse_document
from retrieval.uploads import upload_key

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
SUFFIXES = {".py", ".md", ".txt", ".html"}


def pick_files(folders: list[Path], chunks: int) -> list[Path]:
    """Files of `folders` in name order until their chunks (256/64) reach `chunks`."""
    picked, total = [], 0
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.suffix in SUFFIXES):
        try:
            parsed = parse_document(path.read_bytes(), path.name)
        except ParseError:
            continue
        count = len(chunk_and_count(parsed.sections, chunk_size=256, chunk_overlap=64)[0])
        if count:
            picked.append(path)
            total += count
        if total >= chunks:
            break
    return picked


async def ingest_all(db: Database, settings: Settings, engine, owner_id, files: list[Path], embedder, limit):
    """Seconds to ingest `files` into a new GPT of `owner_id`, `limit` at a time; the stored chunk texts."""
    rows = Gpt(uuid.uuid4(), 1, None, np.array([0]), [(uuid.uuid4(), 0) for _ in files])
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await insert_rows(raw, owner_id, [rows], status="in_progress")
        await raw.executemany(
            "UPDATE knowledge_file SET filename = $2 WHERE id = $1",
            [(file_id, path.name) for (file_id, _), path in zip(rows.files, files, strict=True)],
        )
    storage = storage_of(settings)
    for (file_id, _), path in zip(rows.files, files, strict=True):
        await storage.put_file(upload_key(file_id), path)
    gate = asyncio.Semaphore(limit)

    async def one(file_id: uuid.UUID) -> str:
        async with gate:
            return await ingest(db, settings, file_id, embedder=embedder)

    started = time.perf_counter()
    statuses = await asyncio.gather(*(one(file_id) for file_id, _ in rows.files))
    seconds = time.perf_counter() - started
    if set(statuses) != {"completed"}:
        raise RuntimeError(f"ingestion ended {statuses}")
    async with engine.connect() as conn:
        texts = (
            await conn.execute(
                sa.text("SELECT text FROM knowledge_chunk WHERE file_id = ANY(:ids) ORDER BY file_id, ord"),
                {"ids": rows.file_ids},
            )
        ).scalars()
        return seconds, list(texts)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    files = pick_files(args.folder or [ROOT / "retrieval", ROOT / "docs"], args.chunks)
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    settings = Settings(
        database_url=None,
        data_dir=workdir / "data",
        secret_key=SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        max_file_tokens=10**9,
    )
    embedder = MiniLMEmbedder() if args.niceness is None else MiniLMEmbedder(niceness=args.niceness)
    await embedder.load()
    await embedder.embed_documents(["warm up"] * 4)
    load = os.getloadavg()[0]
    async with bench_servers(workdir, "gptstore_bench_ingest", redis=False) as servers:
        settings = settings.model_copy(update={"database_url": servers.database_url})
        engine = create_engine(servers.database_url, pool_size=args.concurrency + 2)
        db = Database(engine)
        owner_id = uuid.uuid4()
        try:
            # Warm-up: the parse child's forkserver, the token tables, the HNSW index of the model.
            await ingest_all(db, settings, engine, owner_id, files[:1], embedder, 1)
            end_to_end: list[float] = []
            alone: list[float] = []
            texts: list[str] = []
            for round_ in range(args.rounds):
                for side in ("e2e", "alone") if round_ % 2 == 0 else ("alone", "e2e"):
                    if side == "e2e":
                        seconds, texts = await ingest_all(
                            db, settings, engine, owner_id, files, embedder, args.concurrency
                        )
                        end_to_end.append(len(texts) / seconds)
                    else:
                        if not texts:
                            _, texts = await ingest_all(db, settings, engine, owner_id, files, embedder, 4)
                        started = time.perf_counter()
                        await embedder.embed_documents(texts)
                        alone.append(len(texts) / (time.perf_counter() - started))
        finally:
            await engine.dispose()

    ours, floor = statistics.median(end_to_end), statistics.median(alone)
    ratio = ours / floor
    print(
        f"offline ingestion benchmark: {len(files)} files, {megabytes:.2f} MB, {len(texts)} chunks;"
        f" {available_cpus()} CPUs; {embedder.sessions} document sessions x batch {embedder.batch_size}"
        f" at nice {embedder.niceness};"
        f" {args.concurrency} files at a time; {args.rounds} round(s); load average {load:.1f}"
    )
    print(
        f"  end to end   {ours:6.1f} chunks/s  {ours / len(texts) * megabytes * 1000:6.1f} KB/s  {end_to_end}"
    )
    print(f"  embed alone  {floor:6.1f} chunks/s  {alone}")
    print(f"end to end / embedder alone = {ratio:.2f}  (target >= 0.9: {'ok' if ratio >= 0.9 else 'MISS'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, action="append", help="files to ingest (repeatable)")
    parser.add_argument("--chunks", type=int, default=400, help="stop picking files past this many chunks")
    parser.add_argument("--concurrency", type=int, default=4, help="files ingested at a time")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--niceness", type=int, default=None, help="of the document threads (default ours)")
    parser.add_argument("--quick", action="store_true", help="about 60 chunks: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.chunks = 60
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-ingest-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    main()
