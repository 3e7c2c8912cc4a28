"""Hybrid search: vector kNN and full-text, fused with weighted Reciprocal Rank Fusion in one SQL round trip.

The vector part picks its strategy per query: an exact scan over the GPT's own chunks when it has few (the
HNSW graph would have to be walked far to find enough of them), the HNSW index with pgvector 0.8 iterative
scans when it has many. Custom plans (`plan_cache_mode`, see core.db) keep the planner honest per GPT.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import serialize

Mode = Literal["hybrid", "vector", "keyword"]

# Below this many chunks in a GPT the exact scan is faster than HNSW with filtering (bench/retrieval.py).
EXACT_SCAN_MAX_CHUNKS = 1_000
RRF_K = 60
# Measured on tests/data/retrieval_eval.json: the vector list carries most signal, keywords break ties
# and rescue exact terms (names, codes) that the small embedding model blurs.
VECTOR_WEIGHT = 1.0
KEYWORD_WEIGHT = 0.7
# Broad keyword queries match most chunks; ranking them all would cost hundreds of milliseconds.
KEYWORD_CANDIDATES = 1_000
TEXT_SEARCH_CONFIGS = {
    "simple", "arabic", "armenian", "basque", "catalan", "danish", "dutch", "english", "finnish", "french",
    "german", "greek", "hindi", "hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali",
    "norwegian", "portuguese", "romanian", "russian", "serbian", "spanish", "swedish", "tamil", "turkish",
    "yiddish",
}  # fmt: skip
LANGUAGE_TO_TEXT_SEARCH = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip


def text_search_config_for(language: str | None) -> str:
    """PostgreSQL full-text configuration for an ISO 639-1 language; `simple` when none fits."""
    return LANGUAGE_TO_TEXT_SEARCH.get((language or "").lower(), "simple")


def vector_index_name(model_id: str, dimensions: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")
    return f"ix_knowledge_chunk_hnsw_{dimensions}_{slug}"[:63]


async def ensure_vector_index(session: AsyncSession, model_id: str, dimensions: int) -> None:
    """Create the HNSW index of a model the migrations did not know (once; cheap when it exists)."""
    name = vector_index_name(model_id, dimensions)
    # IF NOT EXISTS does not guard two creations at once (the second fails on pg_class): take turns.
    await serialize(session, "vector-index", name)
    exists = await session.scalar(sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    if exists:
        return
    literal = model_id.replace("'", "''")
    await session.execute(
        sa.text(
            f"CREATE INDEX IF NOT EXISTS {name} ON knowledge_chunk "
            f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) "
            f"WHERE embedding_model = '{literal}'"
        )
    )


@dataclass
class Hit:
    chunk_id: uuid.UUID
    file_id: uuid.UUID
    text: str
    page: int | None
    heading: str | None
    score: float
    vector_rank: int | None
    keyword_rank: int | None


def _vector_cte(dimensions: int, exact: bool, with_files: bool) -> str:
    dims = int(dimensions)
    files = "AND file_id = ANY(:file_ids)" if with_files else ""
    distance = f"embedding::vector({dims}) <=> CAST(:query_vector AS vector({dims}))"
    if exact:
        # Materialising the GPT's rows first keeps the planner off the HNSW index: an exact scan.
        return f"""
        own AS MATERIALIZED (
            SELECT id, embedding FROM knowledge_chunk
            WHERE gpt_id = :gpt_id AND embedding_model = :model {files}
        ),
        vec AS (
            SELECT id, row_number() OVER (ORDER BY {distance}) AS rank
            FROM own ORDER BY {distance} LIMIT :candidates
        )"""
    # The iterative scan (relaxed_order) returns rows only roughly by distance, and the planner trusts the
    # index order: ranking a materialised copy by `distance + 0` forces a real sort (pgvector's recipe; the
    # `+ 0` because PostgreSQL 17+ carries the CTE's sort order out of it).
    return f"""
        nearest AS MATERIALIZED (
            SELECT id, {distance} AS distance FROM knowledge_chunk
            WHERE gpt_id = :gpt_id AND embedding_model = :model {files}
            ORDER BY {distance} LIMIT :candidates
        ),
        vec AS (
            SELECT id, row_number() OVER (ORDER BY distance + 0, id) AS rank FROM nearest
        )"""


def _keyword_cte(with_files: bool) -> str:
    files = "AND file_id = ANY(:file_ids)" if with_files else ""
    return f"""
        matches AS (
            SELECT id, tsv FROM knowledge_chunk, query
            WHERE gpt_id = :gpt_id AND embedding_model = :model AND tsv @@ query.q {files}
            LIMIT :keyword_candidates
        ),
        kw AS (
            SELECT id, row_number() OVER (ORDER BY ts_rank_cd(tsv, query.q) DESC, id) AS rank
            FROM matches, query ORDER BY rank LIMIT :candidates
        )"""


async def search_chunks(
    session: AsyncSession,
    *,
    gpt_id: uuid.UUID,
    model_id: str,
    dimensions: int,
    query_vector: np.ndarray | list[float] | None,
    query_text: str,
    text_search_config: str,
    k: int,
    chunk_total: int,
    file_ids: list[uuid.UUID] | None = None,
    mode: Mode = "hybrid",
    score_threshold: float | None = None,
) -> list[Hit]:
    """The `k` best chunks of one GPT for a query, best first, with a fused score in [0, 1]."""
    use_vector = mode in ("hybrid", "vector") and query_vector is not None
    use_keyword = mode in ("hybrid", "keyword") and bool(query_text.strip())
    if not (use_vector or use_keyword):
        return []
    with_files = file_ids is not None
    exact = chunk_total <= EXACT_SCAN_MAX_CHUNKS
    ctes = [
        "query AS (SELECT websearch_to_tsquery(CAST(CAST(:config AS text) AS regconfig), :query_text) AS q)"
    ]
    vw = VECTOR_WEIGHT if use_vector else 0.0
    kw_weight = KEYWORD_WEIGHT if use_keyword else 0.0
    if mode == "keyword":
        kw_weight = 1.0
    if use_vector:
        ctes.append(_vector_cte(dimensions, exact, with_files))
    else:
        ctes.append("vec AS (SELECT NULL::uuid AS id, NULL::bigint AS rank WHERE false)")
    if use_keyword:
        ctes.append(_keyword_cte(with_files))
    else:
        ctes.append("kw AS (SELECT NULL::uuid AS id, NULL::bigint AS rank WHERE false)")
    best = (vw + kw_weight) / (RRF_K + 1)
    sql = f"""
        WITH {", ".join(ctes)},
        fused AS (
            SELECT coalesce(vec.id, kw.id) AS id, vec.rank AS vector_rank, kw.rank AS keyword_rank,
                   (coalesce(CAST(:vw AS float8) / (CAST(:rrf_k AS float8) + vec.rank), 0)
                    + coalesce(CAST(:kww AS float8) / (CAST(:rrf_k AS float8) + kw.rank), 0))
                   / CAST(:best AS float8) AS score
            FROM vec FULL OUTER JOIN kw ON vec.id = kw.id
        )
        SELECT c.id, c.file_id, c.text, c.page, c.heading, fused.score, fused.vector_rank, fused.keyword_rank
        FROM fused JOIN knowledge_chunk c ON c.id = fused.id
        WHERE fused.score >= CAST(:threshold AS float8)
        ORDER BY fused.score DESC, c.id
        LIMIT :k
    """
    params = {
        "gpt_id": gpt_id,
        "model": model_id,
        "config": text_search_config,
        "query_text": query_text,
        "candidates": max(k * 4, 40),
        "keyword_candidates": KEYWORD_CANDIDATES,
        "vw": vw,
        "kww": kw_weight,
        "rrf_k": float(RRF_K),
        "best": best,
        "threshold": score_threshold or 0.0,
        "k": k,
    }
    if use_vector:
        params["query_vector"] = np.asarray(query_vector, dtype=np.float32)
    if with_files:
        params["file_ids"] = list(file_ids)
    if use_vector and not exact:
        # Keep the planner on the HNSW index: with a sort allowed it prefers the GPT's rows through the
        # B-tree plus a sort, an exact scan by another name, up to ~25k chunks (bench/retrieval.py).
        await session.execute(sa.text("SET LOCAL enable_sort = off"))
    try:
        rows = (await session.execute(sa.text(sql), params)).all()
    finally:
        if use_vector and not exact:
            await session.execute(sa.text("RESET enable_sort"))
    return [
        Hit(
            chunk_id=r.id,
            file_id=r.file_id,
            text=r.text,
            page=r.page,
            heading=r.heading,
            score=round(float(r.score), 6),
            vector_rank=r.vector_rank,
            keyword_rank=r.keyword_rank,
        )
        for r in rows
    ]
