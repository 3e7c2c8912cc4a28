"""Scaling figures: index sizes, disk per chunk, recall and write rates at 1k, 10k, 100k (and 1M) chunks.

    .venv/bin/python bench/scaling.py [--full] [--quick]

For each size, on a fresh embedded PostgreSQL (or GPTSTORE_BENCH_DATABASE_URL as an admin URL): loads the
chunks of bench/retrieval.py's synthetic corpus (clustered 384-dim vectors, Zipfian text), builds the GIN and
the HNSW index over `vector` and, in its turn, over `halfvec`, and measures:

- the size of each relation (`pg_relation_size`, `pg_table_size`), per chunk;
- recall@10 of each HNSW index against the exact top 10 (numpy) over the whole table, and its p50;
- chunk writes through `retrieval.jobs._write_batch` appended to that table: the write options side by
  side (durable commits as before, `synchronous_commit = off` per transaction as now, bigger transactions,
  a `halfvec` index, no HNSW index at all as a deferred-index import would write, a larger GIN pending
  list), each as rows/s and as a ratio to parse-and-chunk of the same text in the same run.

`--quick`: 1k and 10k. `--full`: adds 1M (about an hour and ~20 GB of disk on 2 cores: the table is copied
twice). A benchmark, not a test: nothing here asserts a time. docs/scaling.md shows a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from bench.retrieval import (
    CLUSTERS,
    DIMENSIONS,
    HNSW_INDEX,
    MODEL,
    TSV_INDEX,
    Corpus,
    Gpt,
    bulk_load,
    insert_rows,
    plan_gpts,
    progress,
    regconfig_oid,
)
from core.db import Database, create_engine
from retrieval.chunking import Chunk, chunk_document
from retrieval.jobs import COPY_COLUMNS, WRITE_ROWS, _write_batch
from retrieval.parsing import parse_document
from retrieval.search import VECTOR_CANDIDATES

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

HALFVEC_INDEX = "bench_hnsw_halfvec"
HALFVEC_DEFINITION = (
    f"CREATE INDEX {HALFVEC_INDEX} ON bench_halfvec USING hnsw "
    f"((embedding::halfvec({DIMENSIONS})) halfvec_cosine_ops) WHERE embedding_model = '{MODEL}'"
)
QUERIES = 50
TWINS = {"bench_halfvec": "halfvec", "bench_plain": None}  # copies of the table with another vector index
# Write contenders, taking turns block by block so all see the same load and alike graphs:
# label: (table, through _write_batch or raw COPY, rows per transaction, durable, GIN pending list kB).
WRITE_VARIANTS = {
    "vector HNSW, durable commits (before)": ("knowledge_chunk", "ours", WRITE_ROWS, True, None),
    "vector HNSW, synchronous_commit off (now)": ("knowledge_chunk", "ours", WRITE_ROWS, False, None),
    "vector HNSW, off, 1,024 rows/transaction": ("knowledge_chunk", "ours", 1_024, False, None),
    "vector HNSW, off, GIN pending list 32 MB": ("knowledge_chunk", "ours", WRITE_ROWS, False, 32_768),
    "vector HNSW, raw binary COPY": ("knowledge_chunk", "copy", WRITE_ROWS, False, None),
    "halfvec HNSW, raw binary COPY": ("bench_halfvec", "copy", WRITE_ROWS, False, None),
    "no HNSW (deferred index), raw binary COPY": ("bench_plain", "copy", WRITE_ROWS, False, None),
}


async def relation_sizes(raw) -> dict[str, int]:
    """Bytes: the table (heap, TOAST, maps), each index we look at, and the other (B-tree) indexes."""
    table = await raw.fetchval("SELECT pg_table_size('knowledge_chunk')")
    total = await raw.fetchval("SELECT pg_total_relation_size('knowledge_chunk')")
    sizes = {"table": table}
    for label, name in (("hnsw", HNSW_INDEX), ("gin", TSV_INDEX)):
        sizes[label] = await raw.fetchval("SELECT pg_relation_size($1::regclass)", name)
    sizes["btree"] = total - table - sizes["hnsw"] - sizes["gin"]
    sizes["halfvec"] = await raw.fetchval("SELECT pg_relation_size($1::regclass)", HALFVEC_INDEX)
    return sizes


async def index_recall(
    raw, table: str, queries: np.ndarray, truth: list[set], cast: str
) -> tuple[float, float]:
    """recall@10 and p50 ms of the top 10 over the whole table through the HNSW index on `cast`, the way
    retrieval.search reads it: VECTOR_CANDIDATES from the (relaxed-order) index scan, re-ranked."""
    distance = f"embedding::{cast} <=> $1::vector({DIMENSIONS})::{cast}"
    statement = (
        f"WITH nearest AS MATERIALIZED (SELECT id, {distance} AS distance FROM {table} "
        f"WHERE embedding_model = $2 ORDER BY {distance} LIMIT {VECTOR_CANDIDATES}) "
        "SELECT id FROM nearest ORDER BY distance + 0 LIMIT 10"
    )
    found, times = [], []
    for vector, expected in zip(queries, truth, strict=True):
        async with raw.transaction():
            await raw.execute("SET LOCAL enable_sort = off")  # the index, never an exact sort
            tick = time.perf_counter()
            rows = await raw.fetch(statement, vector, MODEL)
            times.append((time.perf_counter() - tick) * 1000)
        found.append(len({r["id"] for r in rows} & expected) / 10)
    return float(np.mean(found)), float(np.percentile(times, 50))


async def make_twins(raw) -> float:
    """The loaded table copied twice: one with a halfvec HNSW index (build seconds returned), one without."""
    build = 0.0
    columns = ", ".join(COPY_COLUMNS)
    for table, kind in TWINS.items():
        await raw.execute(f"DROP TABLE IF EXISTS {table}")
        await raw.execute(f"CREATE TABLE {table} (LIKE knowledge_chunk INCLUDING ALL)")
        for (hnsw,) in await raw.fetch(  # every model's, not only the one loaded
            "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%USING hnsw%'", table
        ):
            await raw.execute(f"DROP INDEX {hnsw}")
        await raw.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM knowledge_chunk")
        if kind == "halfvec":
            tick = time.perf_counter()
            await raw.execute(HALFVEC_DEFINITION)
            build = time.perf_counter() - tick
        await raw.execute(f"VACUUM ANALYZE {table}")
    return build


async def measure_writes(url, raw, corpus, owner_id, rows: int) -> dict[str, float]:
    """rows/s of each write contender appending `rows` distinct chunks, taking turns block by block."""
    config = await regconfig_oid(raw)
    block = min(1_024, rows)
    seconds = dict.fromkeys(WRITE_VARIANTS, 0.0)
    files = {}
    for label in WRITE_VARIANTS:
        gpt = Gpt(uuid.uuid4(), rows, None, np.array([0]), [(uuid.uuid4(), 0)])
        await insert_rows(raw, owner_id, [gpt], status="in_progress")
        files[label] = (gpt.id, gpt.files[0][0])
    db = Database(create_engine(url, pool_size=1))
    for first in range(0, rows, block):
        for label, (table, how, batch, durable, pending_kb) in WRITE_VARIANTS.items():
            clusters = corpus.rng.integers(0, CLUSTERS, block)
            vectors = corpus.vectors(clusters)
            texts, _ = corpus.texts(clusters)
            chunks = [
                Chunk(text=t, token_count=len(t) // 4, page=None, heading=None, char_start=0,
                      char_end=len(t), index=first + i)
                for i, t in enumerate(texts)
            ]  # fmt: skip
            dataset_id, file_id = files[label]
            as_lists = [v.tolist() for v in vectors]  # what an embedder returns
            if pending_kb:
                await raw.execute(f"ALTER INDEX {TSV_INDEX} SET (gin_pending_list_limit = {pending_kb})")
            tick = time.perf_counter()
            for start in range(0, block, batch):
                if how == "ours":
                    await _write_batch(
                        db, file_id, dataset_id, MODEL, config, chunks[start : start + batch],
                        as_lists[start : start + batch], durable=durable,
                    )  # fmt: skip
                else:
                    records = [
                        (uuid.uuid4(), file_id, dataset_id, c.index, c.text, c.token_count, None, None,
                         c.char_start, c.char_end, MODEL, v, config)
                        for c, v in zip(chunks[start : start + batch], vectors[start : start + batch],
                                        strict=True)
                    ]  # fmt: skip
                    await raw.copy_records_to_table(table, records=records, columns=COPY_COLUMNS)
            seconds[label] += time.perf_counter() - tick
            if pending_kb:
                await raw.execute(f"ALTER INDEX {TSV_INDEX} RESET (gin_pending_list_limit)")
    await db.dispose()
    results = {label: rows // block * block / s for label, s in seconds.items()}
    for label, rate in results.items():
        progress(f"  {label}: {rate:,.0f} rows/s")
    return results


def parse_and_chunk(corpus: Corpus) -> tuple[float, float]:
    """MB/s of parse + chunk over a 1 MB markdown file (best of 3), and chunks per MB."""
    data = corpus.markdown(1_000_000).encode()
    best, chunks = float("inf"), 0
    for _ in range(3):
        tick = time.perf_counter()
        parsed = parse_document(data, "bench.md")
        chunks = len(chunk_document(parsed.sections, chunk_size=256, chunk_overlap=64))
        best = min(best, time.perf_counter() - tick)
    megabytes = len(data) / 1e6
    return megabytes / best, chunks / megabytes


async def measure_size(url, engine, corpus: Corpus, rng, size: int) -> dict:
    owner_id = uuid.uuid4()
    gpts = plan_gpts(size, rng)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("TRUNCATE knowledge_chunk")
    vectors, ids, timings = await bulk_load(engine, corpus, gpts, owner_id, size)
    result: dict = {"build": {"vector": timings.get("hnsw", 0.0), "gin": timings.get("gin", 0.0)}}
    queries = corpus.vectors(corpus.rng.integers(0, CLUSTERS, QUERIES))
    truth = [{ids[i] for i in np.argsort(-(vectors @ q))[:10]} for q in queries]
    write_rows = min(2_048, size)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(f"SET maintenance_work_mem = '{timings['work_mem_mb']}MB'")
        result["build"]["halfvec"] = await make_twins(raw)
        result["sizes"] = await relation_sizes(raw)
        result["recall"] = {
            "vector": await index_recall(raw, "knowledge_chunk", queries, truth, f"vector({DIMENSIONS})"),
            "halfvec": await index_recall(raw, "bench_halfvec", queries, truth, f"halfvec({DIMENSIONS})"),
        }
        progress(f"  sizes {result['sizes']}, builds {result['build']}, recall and p50 {result['recall']}")
        writes = await measure_writes(url, raw, corpus, owner_id, write_rows)
        for table in TWINS:
            await raw.execute(f"DROP TABLE {table}")
        await raw.execute("TRUNCATE knowledge_chunk")
    result["writes"] = writes
    result["write_rows"] = write_rows
    return result


def report(sizes: list[int], results: dict, parse_mb_s: float, chunks_per_mb: float, meta: dict) -> None:
    mb = 1024 * 1024
    head = f"{'':<44}" + "".join(f"{s:>12,}" for s in sizes) + f"{'1M (extrap.)':>14}"
    lines = ["", meta["title"], "", head]
    largest = sizes[-1]

    def line(label: str, values: list[float], fmt: str, extrapolate: float | None = None) -> None:
        cells = "".join(f"{format(v, fmt):>12}" for v in values)
        tail = f"{format(extrapolate, fmt):>14}" if extrapolate is not None else f"{'':>14}"
        lines.append(f"{label:<44}{cells}{tail}")

    def per_million(key: str) -> float:  # linear in chunks: bytes per chunk at the largest size x 1M
        return results[largest]["sizes"][key] / largest * 1_000_000 / mb

    for key, label in (
        ("table", "table (heap + TOAST) MB"),
        ("hnsw", "HNSW over vector(384) MB"),
        ("halfvec", "HNSW over halfvec(384) MB"),
        ("gin", "GIN (tsvector) MB"),
        ("btree", "B-tree indexes MB"),
    ):
        line(label, [results[s]["sizes"][key] / mb for s in sizes], ".1f", per_million(key))
    disk = [sum(v for k, v in results[s]["sizes"].items() if k != "halfvec") for s in sizes]
    line("disk per chunk, vector index, bytes", [d / s for d, s in zip(disk, sizes, strict=True)], ",.0f")
    line("  total MB", [d / mb for d in disk], ",.0f", disk[-1] / largest * 1_000_000 / mb)
    for kind in ("vector", "halfvec"):
        line(f"HNSW build s, {kind}", [results[s]["build"][kind] for s in sizes], ".1f")
    for kind in ("vector", "halfvec"):
        line(f"recall@10, {kind} HNSW (whole table)", [results[s]["recall"][kind][0] for s in sizes], ".3f")
        line(f"  p50 ms, {kind}", [results[s]["recall"][kind][1] for s in sizes], ".2f")
    appended = results[largest]["write_rows"]
    lines += [
        "",
        f"chunk writes, rows/s appended to the loaded table ({appended:,} rows; ratio: as MB/s at "
        f"{chunks_per_mb:,.0f} chunks/MB / parse+chunk {parse_mb_s:.2f} MB/s)",
    ]
    for label in results[largest]["writes"]:
        rates = [results[s]["writes"][label] for s in sizes]
        ratios = " ".join(f"{r / chunks_per_mb / parse_mb_s:.2f}" for r in rates)
        line(f"  {label}", rates, ",.0f")
        lines[-1] += f"  ratio {ratios}"
    now = results[largest]["writes"]["vector HNSW, synchronous_commit off (now)"]
    lines.append(
        f"hours per million chunks, one process: writes {1e6 / now / 3600:.2f} h (at {largest:,}), "
        f"parse + chunk {1e6 / chunks_per_mb / parse_mb_s / 3600:.2f} h"
    )
    lines += ["", meta["footer"]]
    print("\n".join(lines), flush=True)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    sizes = [1_000, 10_000] + ([] if args.quick else [100_000]) + ([1_000_000] if args.full else [])
    load_before = os.getloadavg()[0]
    parse_mb_s, chunks_per_mb = parse_and_chunk(corpus)
    progress(f"parse + chunk: {parse_mb_s:.2f} MB/s, {chunks_per_mb:,.0f} chunks/MB")
    results = {}
    async with bench_servers(workdir, "gptstore_bench_scaling", redis=False) as servers:
        engine = create_engine(servers.database_url, pool_size=2)
        try:
            async with engine.connect() as conn:
                server = await conn.scalar(sa.text("SHOW server_version"))
                pgvector = await conn.scalar(
                    sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                )
            for size in sizes:
                progress(f"{size:,} chunks")
                results[size] = await measure_size(servers.database_url, engine, corpus, rng, size)
        finally:
            await engine.dispose()
    meta = {
        "title": f"gptstore scaling benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL {server.split()[0]}, pgvector {pgvector}; 384-dim vectors, m 16, ef_construction 64",
        "footer": f"total {(time.perf_counter() - started) / 60:.1f} min; load average {load_before:.1f} at "
        f"the start, {os.getloadavg()[0]:.1f} at the end (other processes on the machine skew every time)",
    }
    report(sizes, results, parse_mb_s, chunks_per_mb, meta)


started = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 chunks only")
    parser.add_argument("--full", action="store_true", help="add 1,000,000 chunks (about an hour)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
