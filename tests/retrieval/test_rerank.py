"""The optional `/rerank` provider: it reorders hybrid hits through the search endpoint, and a reranker
that fails, hangs or answers nonsense leaves the fused order (never a 500)."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from core.settings import Settings
from retrieval.rerank import RerankError, parse_results
from tests.asgi import app_client_for
from tests.retrieval.test_relevance import ZLIB_MANUAL, new_gpt, search, upload

QUERY = "compression level between 0 and 9"


@pytest.fixture
def rerank_settings(settings, fake_openai):
    return settings.model_copy(
        update={
            "rerank_provider": "http",
            "rerank_base_url": fake_openai.base_url,
            "rerank_model": "scripted-reranker",
            "rerank_candidates": 20,
            "rerank_timeout_seconds": 1.0,
        }
    )


@pytest.fixture
async def rerank_client(rerank_settings, db, redis):
    async with app_client_for(rerank_settings, db=db, redis=redis) as client:
        yield client


@pytest.fixture
async def manual(client, creator_headers, db, settings):
    """A GPT with the zlib manual, and the fused ranking of all its chunks for QUERY (no reranker)."""
    gpt_id = await new_gpt(client, creator_headers)
    await upload(client, creator_headers, db, settings, gpt_id, "zlib.md", ZLIB_MANUAL.encode())
    fused = await search(client, creator_headers, gpt_id, query=QUERY, k=20)
    assert "deflateInit" in fused[0]["text"]
    return gpt_id, fused


async def test_the_reranker_orders_the_hits_and_the_scores_stay(
    rerank_client, creator_headers, fake_openai, manual
):
    gpt_id, fused = manual
    fake_openai.script_rerank({"crc32": 0.98, "Return codes": 0.6})
    hits = await search(rerank_client, creator_headers, gpt_id, query=QUERY, k=3)
    assert "crc32" in hits[0]["heading"] and "Return codes" in hits[1]["heading"]
    assert len(hits) == 3
    by_id = {h["chunk_id"]: h["score"] for h in fused}
    assert all(by_id[h["chunk_id"]] == h["score"] for h in hits)  # the fused relevance score is kept
    (request,) = fake_openai.rerank_requests
    assert request["model"] == "scripted-reranker" and request["query"] == QUERY
    assert len(request["documents"]) == request["top_n"] == len(fused) <= 20
    assert any("deflateInit" in d for d in request["documents"])


@pytest.mark.parametrize("failure", ["http 500", "timeout"])
async def test_a_failing_reranker_leaves_the_fused_order(
    rerank_client, creator_headers, fake_openai, manual, caplog, failure
):
    gpt_id, fused = manual
    if failure == "timeout":
        fake_openai.script_rerank({"crc32": 0.98}, delay=3.0)
    else:
        fake_openai.fail_next(500)
    with caplog.at_level(logging.WARNING, logger="retrieval.rerank"):
        hits = await search(rerank_client, creator_headers, gpt_id, query=QUERY, k=4)
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in fused[:4]]
    assert any("reranker failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/v1", "not a url", "http://[::1"])
async def test_an_unreachable_reranker_leaves_the_fused_order(
    rerank_settings, db, redis, creator_headers, manual, caplog, base_url
):
    gpt_id, fused = manual
    settings = rerank_settings.model_copy(update={"rerank_base_url": base_url})
    with caplog.at_level(logging.WARNING, logger="retrieval.rerank"):
        async with app_client_for(settings, db=db, redis=redis) as client:
            hits = await search(client, creator_headers, gpt_id, query=QUERY, k=4)
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in fused[:4]]
    assert any("reranker failed" in r.getMessage() for r in caplog.records)


async def test_keyword_and_vector_modes_are_not_reranked(rerank_client, creator_headers, fake_openai, manual):
    gpt_id, _ = manual
    for mode in ("keyword", "vector"):
        await search(rerank_client, creator_headers, gpt_id, query=QUERY, k=4, mode=mode)
    assert fake_openai.rerank_requests == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"results": "no"},
        {"results": [{"index": 7, "relevance_score": 0.5}]},
        {"results": [{"index": 0, "relevance_score": "high"}]},
        {"results": [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}]},
        {"results": [{"index": True, "relevance_score": 0.5}]},
        {"results": [{"index": 1, "relevance_score": float("nan")}]},
        [],
    ],
)
def test_a_malformed_rerank_answer_is_refused(payload):
    with pytest.raises(RerankError):
        parse_results(payload, 3)


def test_results_are_read_best_first():
    payload = {"results": [{"index": 2, "relevance_score": 0.1}, {"index": 0, "relevance_score": 0.9}]}
    assert parse_results(payload, 3) == [(0, 0.9), (2, 0.1)]


def test_the_http_provider_needs_a_base_url():
    with pytest.raises(ValidationError, match="GPTSTORE_RERANK_BASE_URL"):
        Settings(rerank_provider="http")
