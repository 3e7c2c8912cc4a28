"""End-to-end offline ingestion of a folder against embedding the same chunks alone, in one run.

.venv/bin/python bench/offline_ingestion.py [--folder PATH] [--chunks 400] [--concurrency 4] [--rounds 3]

Starts an embedded PostgreSQL (or uses GPTSTORE_BENCH_DATABASE_URL, see bench/_servers.py), creates one
dataset and, per run, one file row per file, with copies of the files (default: this repository's
`retrieval/` sources, then `docs/`, until about `--chunks` chunks) in the blob store. Three sides take turns,
each round in a new random order:

- end to end: `retrieval.jobs.ingest` of every file with the offline MiniLM embedder, `--concurrency` files
  at a time as a worker runs them (core/jobs.py), from the first parse to the last commit: parse and chunk
  in the child process, embed, COPY into the indexed table;
- alone: one `embed_documents` call of the same embedder on the texts of the chunks ingestion stored;
- replay (info): end to end with the vectors the model gave those texts, returned without running it:
  what everything but the model costs (parse child, writes, PostgreSQL's HNSW and GIN upkeep).

The figure is the median of the per-round ratios (chunks/s end to end) / (chunks/s alone); target >= 0.9.
It prints the CPU time per chunk of this process (model threads, event loop) and of PostgreSQL on each
side, so the cost that ingestion adds to the model shows where it is spent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psutil
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
from retrieval.writes import prepare_in_child

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
    """Seconds to ingest `files` into a new GPT of `owner_id`, `limit` at a time; the stored chunk texts;
    the file ids (their uploads stay in the store)."""
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
        # put_file moves its file into the store: give it a copy, never the source.
        spool = storage.spool_path(upload_key(file_id))
        shutil.copyfile(path, spool)
        await storage.put_file(upload_key(file_id), spool)
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
        return seconds, list(texts), [file_id for file_id, _ in rows.files]


class ReplayEmbedder:
    """The MiniLM vectors recorded from the embedder, returned without running the model.

    Ingestion with it costs what everything but the model costs (parse child, tokenizer-free chunk
    writes, COPY, PostgreSQL's HNSW and GIN upkeep with the real vectors), on the same chunks."""

    def __init__(self, model: MiniLMEmbedder, vectors: dict[str, list[float]]) -> None:
        self.model_id, self.dimensions, self.vectors = model.model_id, model.dimensions, vectors
        self.remote = False

    async def load(self) -> None:
        return None

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vectors[text] for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


class CpuClock:
    """CPU seconds (user + system) of this process (the model's threads, the event loop, the tokenizer)
    and of the PostgreSQL server with all its backends, between `start` and `stop`."""

    def __init__(self, postgres_pid: int | None) -> None:
        self.me = psutil.Process()
        self.postgres = psutil.Process(postgres_pid) if postgres_pid else None

    def read(self) -> tuple[float, float]:
        own = self.me.cpu_times()
        server = 0.0
        if self.postgres is not None:
            for proc in [self.postgres, *self.postgres.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                server += times.user + times.system
        return own.user + own.system, server


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
    rng = random.Random(args.seed)
    async with bench_servers(workdir, "gptstore_bench_ingest", redis=False) as servers:
        settings = settings.model_copy(update={"database_url": servers.database_url})
        engine = create_engine(servers.database_url, pool_size=args.concurrency + 2)
        db = Database(engine)
        owner_id = uuid.uuid4()
        clock = CpuClock(servers.pids.get("postgres"))
        try:
            # Warm-up: the parse child's forkserver, the token tables, the HNSW index of the model; and
            # the texts of the chunks, for "alone" and the replay.
            await ingest_all(db, settings, engine, owner_id, files[:1], embedder, 1)
            _, texts, stored_ids = await ingest_all(
                db, settings, engine, owner_id, files, embedder, args.concurrency
            )
            vectors = await embedder.embed_documents(texts)
            replay = ReplayEmbedder(embedder, dict(zip(texts, vectors, strict=True)))

            async def side(name: str) -> float:
                if name == "alone":
                    started = time.perf_counter()
                    await embedder.embed_documents(texts)
                    return time.perf_counter() - started
                if name == "parse":  # the parse children alone, as ingestion starts them
                    gate = asyncio.Semaphore(args.concurrency)

                    async def parse(file_id: uuid.UUID, path: Path) -> None:
                        async with gate:
                            await prepare_in_child(settings, file_id, path.name, 256, 64)

                    started = time.perf_counter()
                    await asyncio.gather(*(parse(i, f) for i, f in zip(stored_ids, files, strict=True)))
                    return time.perf_counter() - started
                seconds, stored, _ = await ingest_all(
                    db,
                    settings,
                    engine,
                    owner_id,
                    files,
                    embedder if name == "e2e" else replay,
                    args.concurrency,
                )
                if len(stored) != len(texts):
                    raise RuntimeError(f"{name}: {len(stored)} chunks stored, expected {len(texts)}")
                return seconds

            sides = ("e2e", "alone", "replay", "parse")
            seconds: dict[str, list[float]] = {name: [] for name in sides}
            cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
            for _ in range(args.rounds):
                for name in rng.sample(sides, len(sides)):  # a new random order each round
                    own, server = clock.read()
                    seconds[name].append(await side(name))
                    own_after, server_after = clock.read()
                    cpu[name].append((own_after - own, server_after - server))
        finally:
            await engine.dispose()

    n = len(texts)
    rate = {name: [n / s for s in values] for name, values in seconds.items()}
    paired = sorted(a / b for a, b in zip(rate["e2e"], rate["alone"], strict=True))
    ratio = statistics.median(paired)
    cpus = available_cpus()
    print(
        f"offline ingestion benchmark: {len(files)} files, {megabytes:.2f} MB, {n} chunks;"
        f" {cpus} CPUs; {embedder.sessions} document sessions x batch {embedder.batch_size}"
        f" opt {embedder.graph_optimization} at nice {embedder.niceness};"
        f" {args.concurrency} files at a time; {args.rounds} round(s) in random orders;"
        f" load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    labels = {
        "e2e": "end to end",
        "alone": "embed alone",
        "replay": "end to end, recorded vectors (no model)",
        "parse": f"parse and chunk in child processes only, {args.concurrency} at a time",
    }
    print("  median chunks/s [every round]; CPU ms per chunk: this process + PostgreSQL (median); CPU use")
    for name in sides:
        own = statistics.median(c[0] for c in cpu[name]) / n * 1000
        server = statistics.median(c[1] for c in cpu[name]) / n * 1000
        busy = statistics.median(
            (c[0] + c[1]) / s / cpus for c, s in zip(cpu[name], seconds[name], strict=True)
        )
        values = " ".join(f"{v:.1f}" for v in rate[name])
        print(
            f"  {statistics.median(rate[name]):7.1f}  [{values}]  cpu {own:6.1f} + {server:5.1f} ms"
            f"  {busy:4.0%} of {cpus} CPUs  {labels[name]}"
        )
    serial = 1 / (1 / statistics.median(rate["alone"]) + 1 / statistics.median(rate["replay"]))
    print(
        f"  info: model and the rest one after the other would give {serial:.1f} chunks/s"
        f" ({serial / statistics.median(rate['alone']):.2f} of alone)"
    )
    print(
        f"end to end / embedder alone, median of paired per-round ratios = {ratio:.2f}"
        f" [{paired[0]:.2f}-{paired[-1]:.2f}]  (target >= 0.9: {'ok' if ratio >= 0.9 else 'MISS'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, action="append", help="files to ingest (repeatable)")
    parser.add_argument("--chunks", type=int, default=400, help="stop picking files past this many chunks")
    parser.add_argument("--concurrency", type=int, default=4, help="files ingested at a time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="of the random orders")
    parser.add_argument("--niceness", type=int, default=None, help="of the document threads (default ours)")
    parser.add_argument("--quick", action="store_true", help="about 60 chunks: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.rounds = 60, 1
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-ingest-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    main()
