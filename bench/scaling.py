"""Scaling figures: sizes, index builds, search latency and recall at 1k, 10k, 100k and 1M chunks.

    .venv/bin/python bench/scaling.py             # 1k, 10k, 100k (~3-5 min on 2 busy CPUs)
    .venv/bin/python bench/scaling.py --quick     # 1k, 10k: checks the script (under a minute)
    .venv/bin/python bench/scaling.py --million   # 1k, 10k, 100k and 1M (~30-45 min, ~12 GB of disk)
    .venv/bin/python bench/scaling.py --sizes 1000,300000 [--writes]

For each size, on one fresh embedded PostgreSQL (or GPTSTORE_BENCH_DATABASE_URL as an admin URL), the chunks
of bench/retrieval.py's synthetic corpus (1,000 clustered 384-dim directions with a shared component, as
sentence embeddings have; Zipfian text) are COPYed in binary (asyncpg `copy_records_to_table`) into
`knowledge_chunk` with its HNSW and full-text GIN indexes dropped; then the GIN index, the HNSW index over
`vector(384)` exactly as the migrations define it, and a second HNSW index over the `halfvec(384)`
expression are built, with `maintenance_work_mem` sized to hold the graph and
`max_parallel_maintenance_workers` = CPUs - 1. Measured:

- bytes of the heap, TOAST, each index (`pg_relation_size`), per chunk and per million chunks;
- COPY rows/s and the build seconds of each index;
- recall@10 against the exact top 10 (numpy over every vector) and the p50/p95 of the search through each
  HNSW index the way retrieval.search reads it (VECTOR_CANDIDATES from the relaxed-order scan, re-ranked),
  over the whole table, at `hnsw.ef_search` 100 (gptstore's), 200, 400 and 800. `vector` and `halfvec` take
  turns query by query, so both see the same load, and the ratio halfvec / vector is printed per size.

`--writes` (sizes up to 100k) adds the chunk-write contenders of issue #15's first pass (through
`retrieval.writes.write_batch` and raw COPY, with the `vector`, the `halfvec` or no HNSW index), taking turns
block by block. A benchmark, not a test: nothing here asserts a time. docs/scaling.md shows runs.
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
from datetime import UTC, datetime
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
    drop_bulk_indexes,
    insert_rows,
    plan_gpts,
    progress,
    regconfig_oid,
)
from core.db import Database, create_engine
from retrieval.chunking import Chunk, chunk_document
from retrieval.jobs import WRITE_ROWS
from retrieval.parsing import parse_document
from retrieval.search import VECTOR_CANDIDATES
from retrieval.writes import COPY_COLUMNS, write_batch

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

HALFVEC_INDEX = "bench_hnsw_halfvec"
HALFVEC_DEFINITION = (
    f"CREATE INDEX {HALFVEC_INDEX} ON bench_halfvec USING hnsw "
    f"((embedding::halfvec({DIMENSIONS})) halfvec_cosine_ops) WHERE embedding_model = '{MODEL}'"
)
MAIN_HALFVEC_INDEX = f"ix_knowledge_chunk_hnsw_halfvec_{DIMENSIONS}"  # beside the vector one, same table
MAIN_HALFVEC_DEFINITION = (
    f"CREATE INDEX {MAIN_HALFVEC_INDEX} ON knowledge_chunk USING hnsw "
    f"((embedding::halfvec({DIMENSIONS})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) "
    f"WHERE embedding_model = '{MODEL}'"
)
QUERIES = 100  # timed per kind and ef_search, after WARMUP untimed ones
WARMUP = 10
EF_SEARCH = (100, 200, 400, 800)  # gptstore's (core.db.SERVER_SETTINGS), then wider
KINDS = {  # kind: (cast in the search, its HNSW index)
    "vector": (f"vector({DIMENSIONS})", HNSW_INDEX),
    "halfvec": (f"halfvec({DIMENSIONS})", MAIN_HALFVEC_INDEX),
}
WRITES_UP_TO = 100_000
TWINS = {"bench_halfvec": "halfvec", "bench_plain": None}  # copies of the table with another vector index
# Write contenders, taking turns block by block so all see the same load and alike graphs:
# label: (table, through write_batch or raw COPY, rows per transaction, durable, GIN pending list kB).
WRITE_VARIANTS = {
    "vector HNSW, durable commits (before)": ("knowledge_chunk", "ours", WRITE_ROWS, True, None),
    "vector HNSW, synchronous_commit off (now)": ("knowledge_chunk", "ours", WRITE_ROWS, False, None),
    "vector HNSW, off, 1,024 rows/transaction": ("knowledge_chunk", "ours", 1_024, False, None),
    "vector HNSW, off, GIN pending list 32 MB": ("knowledge_chunk", "ours", WRITE_ROWS, False, 32_768),
    "vector HNSW, raw binary COPY": ("knowledge_chunk", "copy", WRITE_ROWS, False, None),
    "halfvec HNSW, raw binary COPY": ("bench_halfvec", "copy", WRITE_ROWS, False, None),
    "no HNSW (deferred index), raw binary COPY": ("bench_plain", "copy", WRITE_ROWS, False, None),
}


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
                    await write_batch(
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


async def relation_sizes(raw) -> dict[str, int]:
    """Bytes: heap (main fork), TOAST (with its index), the table as a whole (heap, TOAST, maps), each HNSW
    index, the full-text GIN index and the other indexes (B-tree keys and the CJK n-gram GIN)."""
    sizes = {
        "heap": await raw.fetchval("SELECT pg_relation_size('knowledge_chunk')"),
        "toast": await raw.fetchval(
            "SELECT coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) FROM pg_class"
            " WHERE oid = 'knowledge_chunk'::regclass"
        ),
        "table": await raw.fetchval("SELECT pg_table_size('knowledge_chunk')"),
        "vector": await raw.fetchval("SELECT pg_relation_size($1::regclass)", HNSW_INDEX),
        "halfvec": await raw.fetchval("SELECT pg_relation_size($1::regclass)", MAIN_HALFVEC_INDEX),
        "gin": await raw.fetchval("SELECT pg_relation_size($1::regclass)", TSV_INDEX),
    }
    total = await raw.fetchval("SELECT pg_total_relation_size('knowledge_chunk')")
    sizes["other"] = total - sizes["table"] - sizes["vector"] - sizes["halfvec"] - sizes["gin"]
    return sizes


def search_statement(cast: str) -> str:
    """The top 10 through the HNSW index on `cast`, read as retrieval.search reads it (whole table)."""
    distance = f"embedding::{cast} <=> $1::vector({DIMENSIONS})::{cast}"
    return (
        f"WITH nearest AS MATERIALIZED (SELECT id, {distance} AS distance FROM knowledge_chunk "
        f"WHERE embedding_model = $2 ORDER BY {distance} LIMIT {VECTOR_CANDIDATES}) "
        "SELECT id FROM nearest ORDER BY distance + 0 LIMIT 10"
    )


async def measure_search(raw, queries: np.ndarray, truth: list[set]) -> dict:
    """(kind, ef_search) -> recall@10, p50 ms, p95 ms; the kinds take turns query by query, the one that
    goes first alternating, after WARMUP untimed queries each."""
    statements = {kind: search_statement(cast) for kind, (cast, _) in KINDS.items()}
    await raw.execute("SET enable_sort = off")  # the index, never an exact sort
    for kind, (_, index) in KINDS.items():
        plan = "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN {statements[kind]}", queries[0], MODEL))
        if index not in plan:
            raise RuntimeError(f"the {kind} search does not use {index}:\n{plan}")
    results = {}
    for ef in EF_SEARCH:
        await raw.execute(f"SET hnsw.ef_search = {ef}")
        for vector in queries[:WARMUP]:
            for statement in statements.values():
                await raw.fetch(statement, vector, MODEL)
        found = {kind: [] for kind in KINDS}
        times = {kind: [] for kind in KINDS}
        for n, (vector, expected) in enumerate(zip(queries, truth, strict=True)):
            order = list(KINDS) if n % 2 == 0 else list(reversed(KINDS))
            for kind in order:
                tick = time.perf_counter()
                rows = await raw.fetch(statements[kind], vector, MODEL)
                times[kind].append((time.perf_counter() - tick) * 1000)
                found[kind].append(len({r["id"] for r in rows} & expected) / 10)
        for kind in KINDS:
            results[kind, ef] = (
                float(np.mean(found[kind])),
                float(np.percentile(times[kind], 50)),
                float(np.percentile(times[kind], 95)),
            )
            recall, p50, p95 = results[kind, ef]
            progress(f"  {kind} ef_search {ef}: recall@10 {recall:.3f}, p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    await raw.execute("RESET hnsw.ef_search")
    await raw.execute("RESET enable_sort")
    return results


class RunningTop10:
    """The exact top 10 by cosine (unit vectors: the dot product) of each query, kept while the chunks
    stream past block by block, so no copy of a million vectors stays in memory."""

    def __init__(self, queries: np.ndarray):
        self.queries = queries
        self.scores = np.full((len(queries), 10), -np.inf, np.float32)
        self.ids = np.empty((len(queries), 10), dtype=object)

    def add(self, vectors: np.ndarray, ids: list[uuid.UUID]) -> None:
        scores = (vectors @ self.queries.T).T  # queries x block
        if len(ids) > 10:
            best = np.argpartition(-scores, 10, axis=1)[:, :10]
        else:
            best = np.broadcast_to(np.arange(len(ids)), (len(scores), len(ids)))
        scores = np.concatenate([self.scores, np.take_along_axis(scores, best, 1)], axis=1)
        ids_ = np.concatenate([self.ids, np.array(ids, dtype=object)[best]], axis=1)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        self.scores = np.take_along_axis(scores, top, 1)
        self.ids = np.take_along_axis(ids_, top, 1)

    def truth(self) -> list[set]:
        return [set(row) for row in self.ids]


async def load(engine, corpus: Corpus, gpts: list[Gpt], owner_id: uuid.UUID, size: int, top: RunningTop10):
    """COPY every chunk in binary with the HNSW and tsvector GIN indexes dropped, then build those two with
    maintenance_work_mem sized to the graph and parallel workers; seconds of each step."""
    timings: dict[str, float] = {}
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await insert_rows(raw, owner_id, gpts)
        config = await regconfig_oid(raw)
        definitions = await drop_bulk_indexes(raw)
        copy, records, ids, blocks, done = 0.0, [], [], [], 0
        for n, gpt in enumerate(gpts):
            clusters = gpt.clusters[corpus.rng.integers(0, len(gpt.clusters), gpt.size)]
            vectors = corpus.vectors(clusters)
            texts, _ = corpus.texts(clusters)
            ordinal = 0
            for file_id, count in gpt.files:
                for i in range(count):
                    row_id = uuid.uuid4()
                    ids.append(row_id)
                    text = texts[ordinal]
                    records.append(
                        (row_id, file_id, gpt.id, i, text, len(text) // 4, None, None, 0, len(text), MODEL,
                         vectors[ordinal], config)
                    )  # fmt: skip
                    ordinal += 1
            blocks.append(vectors)
            if len(records) >= 10_000 or n == len(gpts) - 1:
                top.add(np.concatenate(blocks), ids)
                tick = time.perf_counter()
                await raw.copy_records_to_table("knowledge_chunk", records=records, columns=COPY_COLUMNS)
                copy += time.perf_counter() - tick
                done += len(records)
                records, ids, blocks = [], [], []
                if done % 100_000 < 10_000 or done == size:
                    progress(f"  {done:,} / {size:,} chunks copied")
        timings["copy"] = copy
        # The in-memory HNSW graph needs ~2 KB per 384-dim vector (vector; ~1.2 KB halfvec); past
        # maintenance_work_mem the build slows down many times (pgvector says so in a NOTICE, shown).
        timings["work_mem_mb"] = work_mem_mb = max(256, size * 4 // 1024)
        await raw.execute(f"SET maintenance_work_mem = '{work_mem_mb}MB'")
        await raw.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        raw.add_log_listener(lambda _conn, message: progress(f"  postgres: {message.message}"))
        for name, label in ((TSV_INDEX, "gin"), (HNSW_INDEX, "vector")):
            progress(f"building {name} (maintenance_work_mem {work_mem_mb} MB)")
            tick = time.perf_counter()
            await raw.execute(definitions[name])
            timings[label] = time.perf_counter() - tick
        await raw.execute("VACUUM (ANALYZE) knowledge_chunk")
    return timings


async def measure_size(url, engine, corpus: Corpus, rng, size: int, writes: bool) -> dict:
    owner_id = uuid.uuid4()
    gpts = plan_gpts(size, rng)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(f"DROP INDEX IF EXISTS {MAIN_HALFVEC_INDEX}")
        await raw.execute("TRUNCATE knowledge_chunk, knowledge_chunk_tail")
    load_average = os.getloadavg()[0]
    queries = corpus.vectors(corpus.rng.integers(0, CLUSTERS, QUERIES))
    top = RunningTop10(queries)
    timings = await load(engine, corpus, gpts, owner_id, size, top)
    truth = top.truth()
    result: dict = {
        "load": load_average,
        "copy_rows_s": size / timings["copy"],
        "build": {"gin": timings["gin"], "vector": timings["vector"]},
        "work_mem_mb": timings["work_mem_mb"],
    }
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(f"SET maintenance_work_mem = '{timings['work_mem_mb']}MB'")
        await raw.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        progress(f"building {MAIN_HALFVEC_INDEX}")
        tick = time.perf_counter()
        await raw.execute(MAIN_HALFVEC_DEFINITION)
        result["build"]["halfvec"] = time.perf_counter() - tick
        await raw.execute("ANALYZE knowledge_chunk")
        result["sizes"] = await relation_sizes(raw)
        progress(f"  sizes {result['sizes']}, builds {result['build']}")
        result["search"] = await measure_search(raw, queries, truth)
        if writes and size <= WRITES_UP_TO:
            await raw.execute(f"DROP INDEX {MAIN_HALFVEC_INDEX}")  # the vector rows pay one HNSW index
            await make_twins(raw)
            result["writes"] = await measure_writes(url, raw, corpus, owner_id, min(2_048, size))
            result["write_rows"] = min(2_048, size)
            for table in TWINS:
                await raw.execute(f"DROP TABLE {table}")
        await raw.execute(f"DROP INDEX IF EXISTS {MAIN_HALFVEC_INDEX}")
        await raw.execute("TRUNCATE knowledge_chunk, knowledge_chunk_tail")
    return result


def report(sizes: list[int], results: dict, parse: tuple[float, float], meta: dict) -> None:
    mb = 1024 * 1024
    largest = sizes[-1]
    extrapolated = largest < 1_000_000
    tail_head = f"{'1M (extrap.)':>14}" if extrapolated else ""
    lines = ["", meta["title"], "", f"{'':<46}" + "".join(f"{s:>11,}" for s in sizes) + tail_head]

    def line(label: str, values: list[float], fmt: str, per_million: float | None = None) -> None:
        cells = "".join(f"{format(v, fmt):>11}" for v in values)
        tail = f"{format(per_million, fmt):>14}" if extrapolated and per_million is not None else ""
        lines.append(f"{label:<46}{cells}{tail}")

    def sized(key: str) -> list[float]:
        return [results[s]["sizes"][key] / mb for s in sizes]

    def million(key: str) -> float:  # linear in chunks: bytes per chunk at the largest size x 1M
        return results[largest]["sizes"][key] / largest * 1_000_000 / mb

    for key, label in (
        ("heap", "heap MB"),
        ("toast", "TOAST MB"),
        ("table", "table (heap + TOAST + maps) MB"),
        ("vector", "HNSW over vector(384) MB"),
        ("halfvec", "HNSW over halfvec(384) MB"),
        ("gin", "GIN (tsvector) MB"),
        ("other", "other indexes (B-tree, n-gram GIN) MB"),
    ):
        line(label, sized(key), ",.1f", million(key))
    disk = [sum(results[s]["sizes"][k] for k in ("table", "vector", "gin", "other")) for s in sizes]
    per_chunk = [d / s for d, s in zip(disk, sizes, strict=True)]
    line("disk, vector index only, bytes per chunk", per_chunk, ",.0f")
    line("  MB per million chunks", [d / s * 1e6 / mb for d, s in zip(disk, sizes, strict=True)], ",.0f")
    line("COPY rows/s (binary, no HNSW/GIN)", [results[s]["copy_rows_s"] for s in sizes], ",.0f")
    line("build s, GIN (tsvector)", [results[s]["build"]["gin"] for s in sizes], ",.1f")
    for kind in KINDS:
        line(f"build s, HNSW {kind}", [results[s]["build"][kind] for s in sizes], ",.1f")
    line("  maintenance_work_mem MB", [results[s]["work_mem_mb"] for s in sizes], ",.0f")
    for ef in EF_SEARCH:
        for kind in KINDS:
            values = [results[s]["search"][kind, ef] for s in sizes]
            line(f"ef_search {ef}, {kind}: recall@10", [v[0] for v in values], ".3f")
            line("  p50 ms", [v[1] for v in values], ".2f")
            line("  p95 ms", [v[2] for v in values], ".2f")
    lines += ["", "halfvec / vector, side by side in this run (same table, same queries, turns per query)"]
    sizes_ratio = [results[s]["sizes"]["halfvec"] / results[s]["sizes"]["vector"] for s in sizes]
    line("  HNSW size", sizes_ratio, ".2f")
    line("  HNSW build time", [results[s]["build"]["halfvec"] / results[s]["build"]["vector"] for s in sizes],
         ".2f")  # fmt: skip
    for ef in EF_SEARCH:
        line(f"  p50 at ef_search {ef}",
             [results[s]["search"]["halfvec", ef][1] / results[s]["search"]["vector", ef][1] for s in sizes],
             ".2f")  # fmt: skip
        line(f"  recall@10 difference at ef_search {ef}",
             [results[s]["search"]["halfvec", ef][0] - results[s]["search"]["vector", ef][0] for s in sizes],
             "+.3f")  # fmt: skip
    line("load average when the size started", [results[s]["load"] for s in sizes], ".1f")
    written = [s for s in sizes if "writes" in results[s]]
    if written:
        parse_mb_s, chunks_per_mb = parse
        lines += [
            "",
            f"chunk writes, rows/s appended to the loaded table ({results[written[-1]]['write_rows']:,} "
            "rows; "
            f"ratio: as MB/s at {chunks_per_mb:,.0f} chunks/MB / parse+chunk {parse_mb_s:.2f} MB/s) "
            f"at {', '.join(f'{s:,}' for s in written)}",
        ]
        for label in results[written[-1]]["writes"]:
            rates = [results[s]["writes"][label] for s in written]
            ratios = " ".join(f"{r / chunks_per_mb / parse_mb_s:.2f}" for r in rates)
            lines.append(f"  {label:<44}" + "".join(f"{r:>11,.0f}" for r in rates) + f"  ratio {ratios}")
    lines += ["", meta["footer"]]
    print("\n".join(lines), flush=True)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    if args.sizes:
        sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    else:
        sizes = [1_000, 10_000] + ([] if args.quick else [100_000]) + ([1_000_000] if args.million else [])
    began = datetime.now(UTC)
    load_before = os.getloadavg()
    parse = parse_and_chunk(corpus) if args.writes else (0.0, 0.0)
    results = {}
    # A bigger WAL between checkpoints: the loads write GBs, and checkpoints every 1 GB only add noise.
    options = {"max_wal_size": "8GB", "checkpoint_timeout": "30min"}
    servers_cm = bench_servers(workdir, "gptstore_bench_scaling", redis=False, postgres_options=options)
    async with servers_cm as servers:
        engine = create_engine(servers.database_url, pool_size=2)
        try:
            async with engine.connect() as conn:
                server = await conn.scalar(sa.text("SHOW server_version"))
                pgvector = await conn.scalar(
                    sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                )
                buffers = await conn.scalar(sa.text("SHOW shared_buffers"))
            for size in sizes:
                progress(f"{size:,} chunks")
                results[size] = await measure_size(
                    servers.database_url, engine, corpus, rng, size, args.writes
                )
        finally:
            await engine.dispose()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    meta = {
        "title": f"gptstore scaling benchmark, {began:%Y-%m-%d %H:%M} UTC: {os.cpu_count()} CPUs, "
        f"{memory:.0f} GB RAM, Python {platform.python_version()}, PostgreSQL {server.split()[0]} "
        f"(shared_buffers {buffers}), pgvector {pgvector}; 384-dim, m 16, ef_construction 64",
        "footer": f"total {(time.perf_counter() - started) / 60:.1f} min; load average (1, 5, 15 min) "
        f"{', '.join(f'{v:.1f}' for v in load_before)} at the start, "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} at the end (other processes on the machine "
        "skew every time; ratios side by side skew least)",
    }
    report(sizes, results, parse, meta)


started = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="1,000 and 10,000 chunks only")
    group.add_argument("--million", "--full", action="store_true", help="add 1,000,000 chunks (30-45 min)")
    group.add_argument("--sizes", help="comma-separated chunk counts, e.g. 1000,300000")
    parser.add_argument(
        "--writes", action="store_true", help=f"the write contenders at sizes up to {WRITES_UP_TO:,}"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
