"""Query embedding latency while documents are embedded: p50 during a large `embed_documents` / p50 idle.

.venv/bin/python bench/embedding_queries.py [--queries 60] [--chunks 256] [--quick]

Both sides use the same embedder instance (`MiniLMEmbedder` with its defaults: one single-threaded session
per core for documents and one for queries). Idle: `--queries` short queries one after another. Busy: the
same queries, one every 20 ms, while one `embed_documents` call embeds `--chunks` chunks of this
repository's sources (bench/embedding.py's chunks); it is cancelled once the queries are done. The idle and
busy passes take turns twice, so a change in the host's load touches both. Target: busy p50 <= 2x idle p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedding import ROOT, folder_chunks
from retrieval.onnx_embedder import MiniLMEmbedder, available_cpus

QUERIES = [
    "how do I reset my password",
    "refund policy for annual plans",
    "which file formats can I upload",
    "embedding model dimensions",
    "search a knowledge base by keyword",
    "cancel a running ingestion",
    "what does the store rank by",
    "rate limits per minute",
]


async def latencies(embedder: MiniLMEmbedder, queries: list[str], pause: float) -> list[float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        await embedder.embed_query(query)
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(pause)
    return samples


async def run(args: argparse.Namespace) -> None:
    texts = folder_chunks([ROOT / "retrieval", ROOT / "docs"], args.chunks)
    while len(texts) < args.chunks:  # a small folder: repeat it
        texts += texts[: args.chunks - len(texts)]
    queries = [QUERIES[i % len(QUERIES)] + f" {i}" for i in range(args.queries)]
    embedder = MiniLMEmbedder() if args.niceness is None else MiniLMEmbedder(niceness=args.niceness)
    await embedder.load()
    await embedder.embed_documents(texts[:4])
    await latencies(embedder, queries[:5], 0)  # warm-up
    print(
        f"query latency under document load: {len(queries)} queries, {len(texts)} chunks,"
        f" {available_cpus()} CPUs, {embedder.sessions} document sessions (nice {embedder.niceness})"
        " + 1 query session"
    )

    idle: list[float] = []
    busy: list[float] = []
    documents_done = 0
    for _ in range(2):
        idle += await latencies(embedder, queries, 0.02)
        documents = asyncio.ensure_future(embedder.embed_documents(texts))
        await asyncio.sleep(0.5)  # every session busy
        busy += await latencies(embedder, queries, 0.02)
        if documents.done():
            documents_done += 1
        documents.cancel()
        try:
            await documents
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(0.5)  # the batches already running finish

    idle_p50, busy_p50 = statistics.median(idle), statistics.median(busy)
    ratio = busy_p50 / idle_p50
    q = statistics.quantiles
    print(f"  idle:   p50 {idle_p50 * 1000:6.2f} ms  p90 {q(idle, n=10)[-1] * 1000:6.2f} ms")
    print(f"  busy:   p50 {busy_p50 * 1000:6.2f} ms  p90 {q(busy, n=10)[-1] * 1000:6.2f} ms")
    print(f"busy p50 / idle p50 = {ratio:.2f}  (target <= 2: {'ok' if ratio <= 2 else 'MISS'})")
    if documents_done:
        print(f"  note: the document run ended before the queries {documents_done} time(s): raise --chunks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--niceness", type=int, default=None, help="of the document threads (default ours)")
    parser.add_argument("--quick", action="store_true", help="20 queries: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.queries = 20
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
