"""The search fuses, thresholds and cuts at `k` in the database (retrieval.fusion.score_sql): the scores are
the documented formula, the best `k` are the first `k` of a longer list, a threshold drops exactly the
hits below it, and only the hits' own text comes back."""

from __future__ import annotations

import itertools
import uuid

import pytest

from retrieval.fusion import DEFAULT_FUSION, Fusion
from retrieval.jobs import ingest
from retrieval.service import KnowledgeService

# Every section says "buffer", so a keyword search for it ranks them all and every one holds the term.
MANUAL = "# Buffers\n\n" + "\n\n".join(
    f"## Section {i}\n" + f"The buffer of stage {i} keeps {i * 3} frames. " * (2 + i % 3)
    + "Unrelated filler words about gardens, rivers and mountains. " * (22 + i)
    for i in range(1, 13)
)  # fmt: skip
QUERIES = ("buffer frames", "how many frames does stage 7 keep", "gardens and rivers", "SKU-0277")


@pytest.fixture
async def gpt_id(client, creator_headers, db, settings) -> uuid.UUID:
    gpt = (await client.post("/api/gpts", json={"name": "Fusion"}, headers=creator_headers)).json()
    response = await client.post(
        f"/api/gpts/{gpt['id']}/files",
        files={"file": ("manual.md", MANUAL.encode())},
        headers=creator_headers,
    )
    assert response.status_code == 202, response.text
    assert await ingest(db, settings, uuid.UUID(response.json()["id"])) == "completed"
    return uuid.UUID(gpt["id"])


FUSIONS = (DEFAULT_FUSION, Fusion(method="rrf"))


async def test_the_best_k_are_the_first_k_of_a_longer_list(session, settings, gpt_id):
    service = KnowledgeService(session, settings)
    for fusion, query in itertools.product(FUSIONS, QUERIES):
        long = await service.search(gpt_id, query, k=20, fusion=fusion)
        assert len(long) > 3, query
        scores = [s.hit.score for s in long]
        assert scores == sorted(scores, reverse=True)
        for k in (1, 3, 7):
            short = await service.search(gpt_id, query, k=k, fusion=fusion)
            assert [(s.hit.chunk_id, s.hit.score) for s in short] == [
                (s.hit.chunk_id, s.hit.score) for s in long[:k]
            ], (fusion.method, query, k)
            assert all(s.hit.text for s in short)


async def test_a_threshold_drops_exactly_the_hits_below_it(session, settings, gpt_id):
    service = KnowledgeService(session, settings)
    hits = await service.search(gpt_id, "how many frames does stage 7 keep", k=20)
    scores = sorted({s.hit.score for s in hits}, reverse=True)
    assert len(scores) > 3
    threshold = (scores[2] + scores[3]) / 2
    kept = await service.search(gpt_id, "how many frames does stage 7 keep", k=20, score_threshold=threshold)
    assert [s.hit.chunk_id for s in kept] == [s.hit.chunk_id for s in hits if s.hit.score >= threshold]
    assert len(kept) == 3


async def test_keyword_scores_follow_the_documented_formula(session, settings, gpt_id):
    """Keyword mode has no vector side, so each score is the formula of retrieval.fusion over the keyword
    rank alone (every hit holds the one query term)."""
    for fusion in FUSIONS:
        await _keyword_scores_follow_the_formula(KnowledgeService(session, settings), gpt_id, fusion)


async def _keyword_scores_follow_the_formula(service: KnowledgeService, gpt_id: uuid.UUID, fusion: Fusion):
    hits = await service.search(gpt_id, "buffer", k=12, mode="keyword", fusion=fusion)
    assert len(hits) == 12
    for s in hits:
        rank = s.hit.keyword_rank
        assert s.hit.vector_rank is None
        if fusion.method == "rrf":
            best = (fusion.vector_weight + fusion.keyword_weight) / (fusion.rrf_k + 1)
            expected = fusion.keyword_weight / (fusion.rrf_k + rank) / best
        else:
            expected = fusion.keyword_boost / (1 + fusion.keyword_decay * (rank - 1))
        assert s.hit.score == round(expected, 6), rank
    assert [s.hit.keyword_rank for s in hits] == list(range(1, 13))
