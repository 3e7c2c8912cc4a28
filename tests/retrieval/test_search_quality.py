"""Search quality on a small labelled set: hybrid search finds what vector or keyword search alone misses.

The documents in tests/data/retrieval_eval/ are ingested by the real job code with the offline MiniLM
model; each query in tests/data/retrieval_eval.json names the document and a phrase of the chunk that
answers it. Run with `pytest -s` to see the table.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.jobs import ingest
from retrieval.service import KnowledgeService

DATA = Path(__file__).resolve().parents[1] / "data"
DOCUMENTS = DATA / "retrieval_eval"
QUERIES = json.loads((DATA / "retrieval_eval.json").read_text(encoding="utf-8"))["queries"]
MODES = ("vector", "keyword", "hybrid")
K = 5


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


@dataclass
class Scores:
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the first relevant hit
    kinds: list[str] = field(default_factory=list)

    def hit_at(self, k: int, kind: str | None = None) -> float:
        ranks = self._of(kind)
        return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)

    def mrr(self, kind: str | None = None) -> float:
        ranks = self._of(kind)
        return sum(1 / r for r in ranks if r is not None) / len(ranks)

    def _of(self, kind: str | None) -> list[int | None]:
        return [r for r, q in zip(self.ranks, self.kinds, strict=True) if kind in (None, q)]


async def evaluate(service: KnowledgeService, gpt_id: uuid.UUID, files: dict[uuid.UUID, str], mode: str):
    scores = Scores()
    misses = []
    for query in QUERIES:
        hits = await service.search(gpt_id, query["query"], k=K, mode=mode)
        phrase = _normal(query["phrase"])
        rank = next(
            (
                i
                for i, s in enumerate(hits, start=1)
                if files[s.hit.file_id] == query["document"] and phrase in _normal(s.hit.text)
            ),
            None,
        )
        scores.ranks.append(rank)
        scores.kinds.append(query["kind"])
        if rank != 1:
            misses.append((rank, query["query"]))
    return scores, misses


async def test_hybrid_beats_vector_and_keyword_search(client, creator_headers, db, settings, session):
    response = await client.post("/api/gpts", json={"name": "Eval"}, headers=creator_headers)
    gpt_id = uuid.UUID(response.json()["id"])
    files: dict[uuid.UUID, str] = {}
    for path in sorted(DOCUMENTS.iterdir()):
        upload = await client.post(
            f"/api/gpts/{gpt_id}/files",
            files={"file": (path.name, path.read_bytes())},
            headers=creator_headers,
        )
        assert upload.status_code == 202, upload.text
        file_id = uuid.UUID(upload.json()["id"])
        assert await ingest(db, settings, file_id) == "completed"
        files[file_id] = path.name

    service = KnowledgeService(session, settings)
    results = {mode: await evaluate(service, gpt_id, files, mode) for mode in MODES}
    scores = {mode: result[0] for mode, result in results.items()}

    kinds = sorted({q["kind"] for q in QUERIES})
    print(f"\n{len(QUERIES)} queries over {len(files)} documents, k={K}")
    print(
        f"{'mode':8} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR':>6}  "
        + "  ".join(f"MRR {k}" for k in kinds)
    )
    for mode, s in scores.items():
        per_kind = "  ".join(f"{s.mrr(k):>{len(k) + 4}.3f}" for k in kinds)
        print(f"{mode:8} {s.hit_at(1):6.3f} {s.hit_at(3):6.3f} {s.hit_at(5):6.3f} {s.mrr():6.3f}  {per_kind}")
    for mode, (_, misses) in results.items():
        for rank, text in misses:
            print(f"  {mode:8} rank {rank}: {text}")

    vector, keyword, hybrid = scores["vector"], scores["keyword"], scores["hybrid"]
    for k in (1, 3, 5):
        assert hybrid.hit_at(k) >= max(vector.hit_at(k), keyword.hit_at(k)), k
    assert hybrid.mrr() > vector.mrr()
    assert hybrid.mrr() > keyword.mrr()
