"""Optional reranking of fused search hits by a cross-encoder behind the common `/rerank` endpoint.

The shape is the one Cohere, Jina, vLLM, Infinity and llama.cpp's server share:
`POST {base_url}/rerank {"model", "query", "documents": [str], "top_n"}` answers
`{"results": [{"index", "relevance_score"}, ...]}`. Chosen by `GPTSTORE_RERANK_PROVIDER` (`none`, the
default, or `http`). A reranker only reorders: the hits keep their fused relevance score, so thresholds
mean what they meant. When it fails (timeout, HTTP error, a malformed answer), search keeps the fused
order and logs a warning; it never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import httpx

from core.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RerankError(Exception):
    """The reranker did not answer with a usable ranking."""


class Reranker(Protocol):
    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """`(index into documents, relevance score)` pairs, best first; raises `RerankError`."""
        ...


class HttpReranker:
    """A `/rerank` endpoint over HTTP; `timeout_seconds` bounds the whole call."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout_seconds: float) -> None:
        self.url = base_url.rstrip("/") + "/rerank"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_seconds = timeout_seconds

    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        body = {"model": self.model, "query": query, "documents": list(documents), "top_n": top_n}
        try:
            # A client per call: searches run on whichever event loop serves them (app, worker, CLI).
            async with (
                asyncio.timeout(self.timeout_seconds),
                httpx.AsyncClient(headers=self.headers) as client,
            ):
                response = await client.post(self.url, json=body, timeout=self.timeout_seconds)
                response.raise_for_status()
                payload = response.json()
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TimeoutError) as exc:
            raise RerankError(f"{type(exc).__name__}: {exc}") from exc
        return parse_results(payload, len(documents))


def parse_results(payload: Any, count: int) -> list[tuple[int, float]]:
    """The `(index, relevance_score)` pairs of a `/rerank` answer, best first; `RerankError` if malformed."""
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list):
        raise RerankError("the answer has no 'results' list")
    ranked: list[tuple[int, float]] = []
    seen: set[int] = set()
    for item in results:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score") if isinstance(item, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < count
            or index in seen
            or not isinstance(score, int | float)
            or isinstance(score, bool)
            or not math.isfinite(score)
        ):
            raise RerankError(f"malformed result {item!r}")
        seen.add(index)
        ranked.append((index, float(score)))
    ranked.sort(key=lambda pair: -pair[1])
    return ranked


async def rerank_hits(reranker: Reranker, query: str, hits: list[T], text_of, k: int) -> list[T]:
    """The `k` best of `hits` (fused order) in the reranker's order; hits it leaves out follow in fused
    order. On a `RerankError` the fused order, with a warning in the log."""
    if len(hits) < 2:
        return hits[:k]
    try:
        ranked = await reranker.rerank(query, [text_of(hit) for hit in hits], len(hits))
    except RerankError as exc:
        logger.warning("reranker failed, keeping the fused order: %s", exc)
        return hits[:k]
    except Exception:  # an optional stage: whatever breaks in it, the search still answers
        logger.exception("reranker failed, keeping the fused order")
        return hits[:k]
    order = [index for index, _ in ranked]
    listed = set(order)
    order += [index for index in range(len(hits)) if index not in listed]
    return [hits[index] for index in order[:k]]


def get_reranker(settings: Settings) -> Reranker | None:
    """The reranker that `settings` select, or None (`GPTSTORE_RERANK_PROVIDER=none`, the default)."""
    if settings.rerank_provider == "none" or not settings.rerank_base_url:
        return None
    api_key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
    return HttpReranker(
        settings.rerank_base_url, settings.rerank_model, api_key, settings.rerank_timeout_seconds
    )
