"""Writes that keep up: ingestion with an instant embedder against parse-and-chunk, old path vs the tail.

    .venv/bin/python bench/writes.py            # 50,000 chunks loaded, 1 MB files, ~5 min on 2 CPUs
    .venv/bin/python bench/writes.py --quick    # 10,000 chunks, 0.25 MB files, under a minute

Starts an embedded PostgreSQL (or uses GPTSTORE_BENCH_DATABASE_URL as an admin URL), runs the migrations and
loads bench/retrieval.py's synthetic corpus (clustered 384-dim vectors, Zipfian text) with its GIN and HNSW
indexes built. Then, in interleaved rounds (medians, so the machine's load falls on all alike):

- parse + chunk of a markdown file (`parse_document` + `chunk_document`), MB/s;
- `retrieval.jobs.ingest` of a file of the same size with an instant embedder (fresh clustered vectors per
  chunk, drawn before the timer starts: the issue's "constant embedder", which costs nothing), writing
  straight into the HNSW index (`vector_tail_max_rows = 0`, the path before) and through the tail (the
  default), MB/s and the ratio of each to parse + chunk;
- recall@10 of vector search (`retrieval.search.search_chunks`, the HNSW strategy) over the dataset those
  files went into, while part of it is in the tail and after the indexer moved it (exact top 10 by numpy);
- the indexer (`retrieval.indexer.index_tail`): rows/s moved into the index;
- what an exact scan over a tail costs a search: p50 of a vector search over a dataset with 1k/10k/50k
  tail rows beside its indexed ones, against the same search with no tail.

A benchmark, not a test: nothing here asserts a time. docs/performance.md shows a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from bench.retrieval import (
    CLUSTERS,
    DIMENSIONS,
    MODEL,
    SECRET,
    Corpus,
    Gpt,
    KnownEmbedder,
    bulk_load,
    insert_rows,
    plan_gpts,
    progress,
)
from core.db import Database, create_engine
from core.settings import Settings
from core.storage import storage_of
from retrieval.chunking import chunk_document
from retrieval.indexer import index_tail
from retrieval.jobs import ingest
from retrieval.parsing import parse_document
from retrieval.search import search_chunks
from retrieval.uploads import upload_key
from retrieval.writes import TAIL_COLUMNS

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

QUERIES = 40
FIRST_ORD = 10_000_000  # chunk numbers of the rows added for the tail-scan measurement
PATHS = ("old", "tail")  # into the HNSW index directly (vector_tail_max_rows = 0) / through the tail


def parse_and_chunk(data: bytes) -> float:
    tick = time.perf_counter()
    parsed = parse_document(data, "bench.md")
    chunk_document(parsed.sections, chunk_size=256, chunk_overlap=64)
    return time.perf_counter() - tick


async def add_file(
    raw, settings: Settings, dataset_id: uuid.UUID, owner_id: uuid.UUID, data: bytes
) -> uuid.UUID:
    """A file row waiting for ingestion in the dataset, and its upload in storage."""
    file_id = uuid.uuid4()
    await raw.execute(
        "INSERT INTO knowledge_file (id, dataset_id, owner_id, filename, media_type, bytes, sha256, access,"
        " status, chunks_done, chunk_count, token_count, chunk_size, chunk_overlap, attempts, pinned,"
        " dispatched) VALUES ($1, $2, $3, 'bench.md', 'text/markdown', $4, $5, 'private', 'in_progress',"
        " 0, 0, 0, 256, 64, 0, false, true)",
        file_id, dataset_id, owner_id, len(data), file_id.hex * 2,
    )  # fmt: skip
    path = storage_of(settings).root / upload_key(file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return file_id


async def measure_ingestion(db, raw, settings, corpus, owner_id, target: Gpt, size: int, rounds: int) -> dict:
    """MB/s of parse + chunk (best of 3 per round) and of ingestion on each path into `target` (vectors
    around its topics, fresh for every chunk), rounds interleaved, order alternating."""
    dataset_id, topics = target.id, target.clusters
    drawn: list[list[float]] = []  # vectors drawn before a timed ingestion: the embedder costs nothing

    def draw(count: int) -> None:
        drawn[:] = corpus.vectors(topics[corpus.rng.integers(0, len(topics), count)]).tolist()

    def vector_for(_text: str) -> list[float]:
        if not drawn:
            draw(1_000)
        return drawn.pop()

    embedder = KnownEmbedder(vector_for)
    paths = {"old": settings.model_copy(update={"vector_tail_max_rows": 0}), "tail": settings}
    seconds: dict[str, list[float]] = {"parse": [], "old": [], "tail": []}
    megabytes = chunks = 0.0
    warm = await add_file(raw, settings, dataset_id, owner_id, corpus.markdown(20_000).encode())
    await ingest(db, settings, warm, embedder=embedder)  # token tables, ORM caches
    for n in range(rounds):
        data = corpus.markdown(size).encode()
        megabytes = len(data) / 1e6
        seconds["parse"].append(min(parse_and_chunk(data) for _ in range(3)))
        for path in PATHS if n % 2 == 0 else reversed(PATHS):
            file_id = await add_file(raw, settings, dataset_id, owner_id, data)
            draw(len(data) // 200)  # more than a file's chunks (~420 bytes each)
            tick = time.perf_counter()
            status = await ingest(db, paths[path], file_id, embedder=embedder)
            seconds[path].append(time.perf_counter() - tick)
            if status != "completed":
                raise RuntimeError(f"ingestion ended {status}")
        chunks = await raw.fetchval("SELECT chunk_count FROM knowledge_file WHERE id = $1", file_id)
        progress(
            "  round {}: parse + chunk {:.2f} s, old {:.2f} s, tail {:.2f} s".format(
                n + 1, seconds["parse"][-1], seconds["old"][-1], seconds["tail"][-1]
            )
        )
    rates = {k: megabytes / statistics.median(v) for k, v in seconds.items()}
    return {"mb": megabytes, "chunks": chunks, "rates": rates}


async def dataset_vectors(raw, dataset_id) -> tuple[list[uuid.UUID], np.ndarray]:
    rows = await raw.fetch(
        "SELECT c.id, coalesce(c.embedding, t.embedding) AS v FROM knowledge_chunk c"
        " LEFT JOIN knowledge_chunk_tail t ON t.chunk_id = c.id WHERE c.dataset_id = $1",
        dataset_id,
    )
    return [r["id"] for r in rows], np.stack([r["v"].to_numpy() for r in rows]).astype(np.float32)


async def vector_search(db, dataset_id, total: int, vector, k: int = 10) -> tuple[float, list[uuid.UUID]]:
    async with db.session_scope() as session:
        tick = time.perf_counter()
        hits = await search_chunks(
            session, dataset_ids=[dataset_id], model_id=MODEL, dimensions=DIMENSIONS, query_vector=vector,
            query_text="", text_search_config="simple", k=k, chunk_total=total, mode="vector",
        )  # fmt: skip
        return (time.perf_counter() - tick) * 1000, [h.chunk_id for h in hits]


async def measure_recall(db, raw, corpus, target: Gpt) -> tuple[float, float, int]:
    """recall@10 (exact truth by numpy over every chunk of the dataset, tail included), p50 ms, tail rows;
    queries near the dataset's topics, as a GPT's users ask about what it holds."""
    dataset_id = target.id
    ids, vectors = await dataset_vectors(raw, dataset_id)
    tail = await raw.fetchval("SELECT count(*) FROM knowledge_chunk_tail WHERE dataset_id = $1", dataset_id)
    queries = corpus.vectors(target.clusters[corpus.rng.integers(0, len(target.clusters), QUERIES)])
    found, times = [], []
    for q in queries:
        truth = {ids[i] for i in np.argsort(-(vectors @ q))[:10]}
        ms, hits = await vector_search(db, dataset_id, len(ids), q)
        if len(hits) != len(set(hits)):
            raise RuntimeError("a chunk was returned twice")
        found.append(len(truth & set(hits)) / 10)
        times.append(ms)
    return float(np.mean(found)), statistics.median(times), tail


async def measure_tail_scan(db, raw, corpus, gpt: Gpt, sizes: list[int]) -> dict[int, tuple[float, float]]:
    """p50 ms of a vector search over `gpt` with 0 and then N extra tail rows, and the ratio to 0."""
    file_id = gpt.files[0][0]
    queries = corpus.vectors(gpt.clusters[corpus.rng.integers(0, len(gpt.clusters), 20)])
    config = await raw.fetchval("SELECT 'simple'::regconfig::oid")
    results = {}
    present = 0
    base = None
    for size in [0, *sizes]:
        if (
            size > present
        ):  # chunk rows with NULL embedding and their vectors in the tail, as ingestion writes
            extra = size - present
            ids = [uuid.uuid4() for _ in range(extra)]
            clusters = gpt.clusters[corpus.rng.integers(0, len(gpt.clusters), extra)]
            vectors = corpus.vectors(clusters)
            await raw.copy_records_to_table(
                "knowledge_chunk",
                records=[
                    (i, file_id, gpt.id, FIRST_ORD + present + n, "tail", 1, None, None, 0, 4, MODEL, None,
                     config)
                    for n, i in enumerate(ids)
                ],
                columns=["id", "file_id", "dataset_id", "ord", "text", "token_count", "page", "heading",
                         "char_start", "char_end", "embedding_model", "embedding", "text_search_config"],
            )  # fmt: skip
            await raw.copy_records_to_table(
                "knowledge_chunk_tail",
                records=[(i, gpt.id, file_id, MODEL, v) for i, v in zip(ids, vectors, strict=True)],
                columns=TAIL_COLUMNS,
            )
            await raw.execute("ANALYZE knowledge_chunk_tail")
            present = size
        times = []
        for rep in range(2):
            for q in queries:
                ms, _ = await vector_search(db, gpt.id, gpt.size + size, q)
                if rep:
                    times.append(ms)
        p50 = statistics.median(times)
        base = base or p50
        results[size] = (p50, p50 / base)
        progress(f"  tail of {size:,}: p50 {p50:.2f} ms ({p50 / base:.2f}x)")
    await raw.execute("DELETE FROM knowledge_chunk WHERE dataset_id = $1 AND ord >= $2", gpt.id, FIRST_ORD)
    return results


async def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    gpts = plan_gpts(args.chunks, rng)
    owner_id = uuid.uuid4()
    load_before = os.getloadavg()[0]
    async with bench_servers(workdir, "gptstore_bench_writes", redis=False) as servers:
        url = servers.database_url
        settings = Settings(
            database_url=url, data_dir=workdir / "data", secret_key=SECRET, llm_provider="offline",
            max_file_tokens=10**9,
        )  # fmt: skip
        engine = create_engine(url, pool_size=2)
        db = Database(engine)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                raw = (await conn.get_raw_connection()).driver_connection
                server = await raw.fetchval("SHOW server_version")
                pgvector = await raw.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                progress(f"loading {args.chunks:,} chunks")
                tick = time.perf_counter()
                await bulk_load(engine, corpus, gpts, owner_id, args.chunks)
                load_seconds = time.perf_counter() - tick

                target = Gpt(uuid.uuid4(), 0, None, rng.choice(CLUSTERS, 20, replace=False), [])
                await insert_rows(raw, owner_id, [target])
                progress(f"ingestion of {args.size / 1e6:.2f} MB files, {args.rounds} rounds")
                ingestion = await measure_ingestion(
                    db, raw, settings, corpus, owner_id, target, args.size, args.rounds
                )
                await raw.execute("VACUUM ANALYZE knowledge_chunk_tail")
                progress("recall@10 with the tail waiting")
                during = await measure_recall(db, raw, corpus, target)
                progress(f"  {during}")

                waiting = await raw.fetchval("SELECT count(*) FROM knowledge_chunk_tail")
                progress(f"indexer: moving {waiting:,} tail rows into the HNSW index")
                tick = time.perf_counter()
                moved = await index_tail(db, settings, yield_to_ingestion=False)
                indexer_rate = moved / (time.perf_counter() - tick)
                after = await measure_recall(db, raw, corpus, target)
                progress(f"  {moved:,} rows at {indexer_rate:,.0f} rows/s; after: {after}")

                largest = max(gpts, key=lambda g: g.size)
                progress(f"exact scan over a tail beside a {largest.size:,}-chunk dataset")
                scans = await measure_tail_scan(db, raw, corpus, largest, args.tails)
        finally:
            await engine.dispose()

    rates = ingestion["rates"]
    parse = rates["parse"]
    chunks_per_mb = ingestion["chunks"] / ingestion["mb"]
    lines = [
        "",
        f"gptstore write benchmark: {args.chunks:,} chunks loaded ({load_seconds:.0f} s, HNSW m 16, "
        f"ef_construction 64); {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{server.split()[0]}, pgvector {pgvector}",
        f"files of {ingestion['mb']:.2f} MB ({ingestion['chunks']:,} chunks), instant embedder, "
        f"{args.rounds} interleaved rounds, medians",
        "",
        f"{'':<52}{'MB/s':>8}{'chunks/s':>10}{'/ parse+chunk':>15}{'target':>9}",
    ]
    for key, label in (
        ("parse", "parse + chunk alone"),
        ("old", "ingest, straight into the HNSW index (before)"),
        ("tail", "ingest through the tail (now)"),
    ):
        ratio = rates[key] / parse
        target = "" if key == "parse" else (">= 0.5 " + ("ok" if ratio >= 0.5 else "MISS"))
        lines.append(
            f"{label:<52}{rates[key]:>8.2f}{rates[key] * chunks_per_mb:>10,.0f}{ratio:>15.2f}{target:>9}"
        )
    lines.append(f"  tail / before: {rates['tail'] / rates['old']:.2f}x")
    lines += [
        "",
        f"indexer: {moved:,} tail rows moved into the HNSW index at {indexer_rate:,.0f} rows/s",
        f"recall@10, vector search of the ingested dataset ({during[2]:,} of its chunks in the tail): "
        f"{during[0]:.3f}, p50 {during[1]:.2f} ms",
        f"recall@10 after the indexer ran (tail {after[2]:,}): {after[0]:.3f}, p50 {after[1]:.2f} ms",
        "",
        f"vector search p50 with an exact scan over a tail, beside {largest.size:,} indexed chunks:",
    ]
    for size, (p50, ratio) in scans.items():
        lines.append(f"  tail {size:>7,} rows: {p50:7.2f} ms  {ratio:5.2f}x")
    lines.append("")
    lines.append(
        f"total {(time.perf_counter() - started) / 60:.1f} min; load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other processes on the machine skew every time)"
    )
    print("\n".join(lines), flush=True)


started = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 chunks, small files, small tails")
    parser.add_argument("--chunks", type=int, default=None, help="chunks loaded first (default 50,000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--size", type=float, default=None, help="MB per file (default 1, quick 0.25)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.chunks = args.chunks or (10_000 if args.quick else 50_000)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.size = int((args.size or (0.25 if args.quick else 1.0)) * 1_000_000)
    args.tails = [1_000, 5_000] if args.quick else [1_000, 10_000, 50_000]
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
