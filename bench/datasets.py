"""Search over several attached datasets: one GPT using 1, 5 and 20 datasets at 200k chunks, in one run.

    .venv/bin/python bench/datasets.py [--chunks 200000] [--queries 60]

Loads the same clustered, embedding-like chunks as bench/retrieval.py (one dataset per generated GPT),
then makes reader GPTs that attach 1, 5 or 20 of those datasets, each set holding about the same number
of chunks (so the figures compare the cost of the dataset filter, not of more data). For each it prints the
service search p50/p99, the SQL statements per search (the files, then one search over `dataset_id =
ANY(...)`: no round trip per dataset), and recall@10 against the exact top 10 over the union of the
datasets' chunks; the ratio column is p50 against the single dataset. A benchmark, not a test: nothing
here asserts a time. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from bench.retrieval import (
    SECRET,
    Capture,
    Corpus,
    KnownEmbedder,
    bulk_load,
    plan_gpts,
    progress,
    recall,
    stats,
)
from core.db import Database, create_engine
from core.settings import Settings
from retrieval.service import KnowledgeService

ATTACHED = (1, 5, 20)


def pick_sets(gpts, target: int, rng: np.random.Generator) -> dict[int, list]:
    """For each count in ATTACHED, that many datasets whose chunks add up to about `target`."""
    sets = {}
    for count in ATTACHED:
        per = target // count
        # Datasets within 40% of the share each should hold, the closest first.
        near = sorted(gpts, key=lambda g: abs(g.size - per))
        chosen = [g for g in near if abs(g.size - per) <= 0.4 * per][:count]
        if len(chosen) < count:
            chosen = near[:count]
        rng.shuffle(chosen)
        sets[count] = chosen
    return sets


async def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    gpts = plan_gpts(args.chunks, rng)
    settings = Settings(
        database_url=None, data_dir=workdir / "data", secret_key=SECRET, llm_provider="offline"
    )
    owner_id = uuid.uuid4()
    async with bench_servers(workdir, "gptstore_bench_datasets", redis=False) as servers:
        engine = create_engine(servers.database_url, pool_size=4)
        db = Database(engine)
        try:
            progress(f"loading {args.chunks:,} chunks in {len(gpts)} datasets")
            vectors, ids, _ = await bulk_load(engine, corpus, gpts, owner_id, args.chunks)
            sets = pick_sets(gpts, args.target, rng)
            readers = {count: uuid.uuid4() for count in sets}
            async with engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                for count, reader in readers.items():
                    await raw.execute(
                        "INSERT INTO gpt (id, owner_id, name, description, instructions, welcome_message,"
                        " conversation_starters, tags, top_k) VALUES ($1, $2, $3, '', '', '', '[]', '[]', 8)",
                        reader, owner_id, f"reader of {count}",
                    )  # fmt: skip
                    await raw.execute(
                        "INSERT INTO dataset (id, home_gpt_id, owner_id, text_search_config)"
                        " VALUES ($1, $1, $2, 'simple')",
                        reader,
                        owner_id,
                    )
                    await raw.executemany(
                        "INSERT INTO gpt_dataset (gpt_id, dataset_id) VALUES ($1, $2)",
                        [(reader, reader)] + [(reader, g.id) for g in sets[count]],
                    )
                await conn.commit()

            lookup: dict[str, list[float]] = {}
            queries: dict[int, list[tuple[str, list[uuid.UUID]]]] = {}
            for count, chosen in sets.items():
                rows = np.concatenate([np.arange(g.start, g.start + g.size) for g in chosen])
                own = vectors[rows]
                queries[count] = []
                for q in range(args.queries):
                    gpt = chosen[q % len(chosen)]
                    cluster = corpus.rng.choice(gpt.clusters)
                    vector = corpus.vectors(np.array([cluster]))[0]
                    text = f"q{count}-{q} " + " ".join(
                        corpus.words[corpus.rng.choice(corpus.topics[cluster], 2)]
                    )
                    lookup[text] = vector.tolist()
                    best = np.argsort(-(own @ vector), kind="stable")[:10]
                    queries[count].append((text, [ids[int(rows[i])] for i in best]))
            embedder = KnownEmbedder(lookup.__getitem__)

            results = {}
            for count, reader in readers.items():
                times, recalls = [], []
                with Capture(engine) as capture:
                    for rep in range(2):
                        for text, truth in queries[count]:
                            async with db.session_scope() as session:
                                service = KnowledgeService(session, settings, embedder=embedder)
                                tick = time.perf_counter()
                                hits = await service.search(reader, text, k=10, mode="vector")
                                elapsed = (time.perf_counter() - tick) * 1000
                            if rep:  # the first pass warms the cache
                                times.append(elapsed)
                                recalls.append(recall([h.hit.chunk_id for h in hits], truth))
                statements = capture.statements / (2 * len(queries[count]))
                chunks = sum(g.size for g in sets[count])
                results[count] = (stats(times), float(np.mean(recalls)), statements, chunks)
        finally:
            await engine.dispose()

    base = results[ATTACHED[0]][0][0]
    print(f"\nSearch over attached datasets, {args.chunks:,} chunks loaded, {os.cpu_count()} CPUs")
    print(f"{'datasets':>8} | {'chunks':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs 1':>5} | "
          f"{'SQL/search':>10} | recall@10")  # fmt: skip
    for count, ((p50, p99), rec, statements, chunks) in results.items():
        print(f"{count:>8} | {chunks:>7,} | {p50:7.2f} | {p99:7.2f} | {p50 / base:5.2f} | "
              f"{statements:10.1f} | {rec:.3f}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes on the machine skew timings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--target", type=int, default=10_000, help="chunks in each set of datasets")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    main()
