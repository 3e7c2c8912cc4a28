"""Hybrid search: vector kNN and full-text candidates in one SQL round trip, fused there by the score of
`retrieval.fusion` (only the best `k` rows, with their text, come back).

Each list takes a fixed window of candidates (`VECTOR_CANDIDATES`, `KEYWORD_CANDIDATES`), whatever `k` is:
a chunk ranked 30th by one signal and 1st by the other must still be seen. The vector part picks its
strategy per query: an exact scan over the datasets' chunks when they have few (the HNSW graph would have to
be walked far to find enough of them), the HNSW index with pgvector 0.8 iterative scans when it has many.
Either way the vectors not yet in the index (the tail, retrieval.indexer) are scanned exactly beside it.
Custom plans (`plan_cache_mode`, see core.db) keep the planner honest per GPT.
Several datasets are one filter (`dataset_id = ANY(:dataset_ids)`), never one round trip each.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.concurrency import serialize
from core.db import plans_without_sorts
from retrieval.fusion import DEFAULT_FUSION, Fusion, identifiers_in, score_sql
from retrieval.ngrams import NGRAM_RUN, bigrams, glued_tsqueries, ngram_tsquery, separate_scripts
from retrieval.terms import content_words

Mode = Literal["hybrid", "vector", "keyword"]

# Below this many chunks in a GPT the exact scan is faster than HNSW with filtering (bench/retrieval.py).
EXACT_SCAN_MAX_CHUNKS = 1_000
# Candidate windows of the two lists, independent of k (bench/quality.py: recall@10 stops growing past
# about 50 on every set; 100 leaves room for `k` up to 50).
VECTOR_CANDIDATES = 100
KEYWORD_CANDIDATES = 100
# Broad keyword queries match most chunks; ranking them all would cost hundreds of milliseconds.
KEYWORD_MATCHES = 1_000
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
    """PostgreSQL full-text configuration for a language tag (`pt`, `pt-BR`, `sr-Latn-RS`: its ISO 639-1
    language, the first subtag, picks it; BCP 47); `simple` when none fits."""
    primary = (language or "").split("-", 1)[0].lower()
    return LANGUAGE_TO_TEXT_SEARCH.get(primary, "simple")


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


# Keep the planner on the HNSW index: with a sort allowed it prefers the GPT's rows through the B-tree plus
# a sort, an exact scan by another name, up to ~25k chunks (bench/retrieval.py). The setting is local to
# the transaction, and turned off by a column of a statement that runs anyway (the scope's, in
# retrieval.knowledge_search) rather than a `SET LOCAL` of its own. The exact strategy plans the same with
# sorts off: it has no index to use instead of its sorts.
SORTS_OFF = "set_config('enable_sort', 'off', true)"
SORTS_BACK_ON_VALUE = "set_config('enable_sort', 'on', true)"
# As a WHERE clause of the search statement's last SELECT: an uncorrelated sub-select is an init plan, run
# once as the statement starts executing (a "One-Time Filter"), whatever number of rows follows: after
# this statement was planned with sorts off, and instead of a `RESET` round trip after it.
SORTS_BACK_ON = f"WHERE (SELECT {SORTS_BACK_ON_VALUE}) IS NOT NULL"


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
    """The `vec` list: the chunks nearest the query among the indexed rows *and* the tail of vectors not
    yet in the index (retrieval.indexer), scanned exactly; one statement, so one snapshot: the indexer
    moves a vector in one transaction, and a chunk is seen exactly once, in the tail or in the index."""
    dims = int(dimensions)
    files = "AND file_id = ANY(:file_ids)" if with_files else ""
    scope = f"dataset_id = ANY(:dataset_ids) AND embedding_model = :model {files}"
    distance = f"embedding::vector({dims}) <=> CAST(:query_vector AS vector({dims}))"
    if exact:
        # Materialising the GPT's rows first keeps the planner off the HNSW index: an exact scan.
        return f"""
        own AS MATERIALIZED (
            SELECT id, embedding FROM knowledge_chunk WHERE {scope} AND embedding IS NOT NULL
            UNION ALL
            SELECT chunk_id, embedding FROM knowledge_chunk_tail WHERE {scope}
        ),
        vec AS (
            SELECT id, row_number() OVER (ORDER BY {distance}) AS rank, 1 - ({distance}) AS similarity
            FROM own ORDER BY {distance} LIMIT :vector_candidates
        )"""
    # The iterative scan (relaxed_order) returns rows only roughly by distance, and the planner trusts the
    # index order: ranking a materialised copy by `distance + 0` forces a real sort (pgvector's recipe; the
    # `+ 0` because PostgreSQL 17+ carries the CTE's sort order out of it).
    return f"""
        nearest AS MATERIALIZED (
            SELECT id, {distance} AS distance FROM knowledge_chunk
            WHERE {scope} AND embedding IS NOT NULL
            ORDER BY {distance} LIMIT :vector_candidates
        ),
        tail AS MATERIALIZED (
            SELECT chunk_id AS id, {distance} AS distance FROM knowledge_chunk_tail WHERE {scope}
            ORDER BY {distance} LIMIT :vector_candidates
        ),
        vec AS (
            SELECT id, row_number() OVER (ORDER BY distance + 0, id) AS rank, 1 - distance AS similarity
            FROM (SELECT id, distance FROM nearest UNION ALL SELECT id, distance FROM tail) AS found
            ORDER BY distance + 0, id LIMIT :vector_candidates
        )"""


# The share of the query's content words (and of its CJK character pairs) that a chunk holds; a word may
# also stand glued to CJK, Hangul or Thai text, where only `tsv_ngram` has it (retrieval.ngrams).
_COVERAGE = """(
    (SELECT count(*) FROM unnest(CAST(:words AS text[])) w
     WHERE c.tsv @@ websearch_to_tsquery(CAST(CAST(:config AS text) AS regconfig), w)
        OR c.tsv_ngram @@ websearch_to_tsquery('simple', w))
  + (SELECT count(*) FROM unnest(CAST(:grams AS text[])) g WHERE c.tsv_ngram @@ to_tsquery('simple', g))
)::float8 / greatest(cardinality(CAST(:words AS text[])) + cardinality(CAST(:grams AS text[])), 1)"""


def _keyword_cte(with_files: bool, with_ngrams: bool, glued_every: bool, glued_some: bool) -> str:
    """Chunks holding every query term first (`all_terms`), then those holding some, by ts_rank_cd.

    `glued_every`, `glued_some`: the query has Latin words or identifiers, which are also looked up among
    the runs that `tsv_ngram` holds glued to CJK, Hangul or Thai text (`query.glue_q`, `query.glue_any_q`:
    retrieval.ngrams.glued_tsqueries)."""
    files = "AND file_id = ANY(:file_ids)" if with_files else ""
    every, some = "tsv @@ query.q", "tsv @@ query.any_q"
    rank = "ts_rank_cd(tsv, query.any_q)"
    if glued_every:
        every = f"{every} OR tsv_ngram @@ query.glue_q"
    if glued_some:
        some = f"{some} OR tsv_ngram @@ query.glue_any_q"
        rank += " + ts_rank_cd(tsv_ngram, query.glue_any_q)"
    if with_ngrams:
        every = f"{every} OR (query.ngram_phrase AND tsv_ngram @@ query.ngram_q)"
        some = f"{some} OR tsv_ngram @@ query.ngram_q"
        rank += " + ts_rank_cd(tsv_ngram, query.ngram_q)"
    every, some = f"({every})", f"({some})"
    where = f"WHERE dataset_id = ANY(:dataset_ids) AND embedding_model = :model {files}"
    return f"""
        matches AS (
            (SELECT id FROM knowledge_chunk, query {where} AND {every} LIMIT :keyword_matches)
            UNION
            (SELECT id FROM knowledge_chunk, query {where} AND {some} LIMIT :keyword_matches)
        ),
        scored AS (
            SELECT c.id, {every} AS all_terms, {rank} AS rank_cd, {_COVERAGE} AS coverage
            FROM matches JOIN knowledge_chunk c ON c.id = matches.id, query
        ),
        kw AS (
            SELECT id, all_terms, coverage,
                   row_number() OVER (ORDER BY all_terms DESC, coverage DESC, rank_cd DESC, id) AS rank
            FROM scored ORDER BY rank LIMIT :keyword_candidates
        )"""


@lru_cache(maxsize=256)
def _statement(sql: str) -> sa.TextClause:
    """The search statement of one SQL text, parsed for its parameters once: the text takes a few dozen
    shapes (strategy, mode, which query parts exist), and parsing its ~3 KB took ~0.2 ms per search."""
    return sa.text(sql)


async def search_chunks(
    session: AsyncSession,
    *,
    dataset_ids: list[uuid.UUID],
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
    fusion: Fusion = DEFAULT_FUSION,
    sorts_off: bool = False,
    force_exact: bool = False,
) -> list[Hit]:
    """The `k` best chunks of some datasets (all in one query) for a query, best first, with a relevance
    score in [0, 1].

    The score is `retrieval.fusion`'s: it does not depend on the other hits, so `score_threshold` drops
    the same kind of passage for every query. `mode` "vector" or "keyword" ranks by one signal alone.

    `sorts_off`: the caller's previous statement in this transaction selected `SORTS_OFF` (so this
    statement is planned with sorts off whatever the strategy). Otherwise an HNSW-strategy search turns
    them off itself first (one round trip more). Either way the search statement turns them back on as it
    runs (`SORTS_BACK_ON`), so no `RESET` follows it and later statements of the transaction plan as usual.
    A session whose connection plans without sorts (`core.db.plans_without_sorts`) needs neither.

    An HNSW-strategy search whose graph walk came back with fewer candidates than the scope holds (up to
    `VECTOR_CANDIDATES`) runs again as an exact scan (`force_exact`): pgvector's iterative scan ends at
    `hnsw.max_scan_tuples` or its memory bound, and a chunk whose neighbours are all near copies of other
    GPTs' chunks can be out of the walk's reach; the scope's own top k are never missing.
    """
    use_vector = mode in ("hybrid", "vector") and query_vector is not None
    use_keyword = mode in ("hybrid", "keyword") and bool(query_text.strip())
    if not (use_vector or use_keyword):
        if sorts_off:
            await session.execute(sa.text(f"SELECT {SORTS_BACK_ON_VALUE}"))
        return []
    with_files = file_ids is not None
    without_sorts = plans_without_sorts(session)  # the connection's own setting: nothing to turn off or on
    exact = force_exact or chunk_total <= EXACT_SCAN_MAX_CHUNKS or not use_vector
    # `JP-7070です` is `JP-7070 です`: the identifier is a word of its own, as the index holds it.
    query_text = separate_scripts(query_text)
    ngram_query = ngram_tsquery(query_text)
    # `q`: every term (websearch_to_tsquery is a conjunction), or an identifier alone, so "what colour is
    # SKU-0277" finds the row that never says "colour". `any_q`: any content word, for the partial matches.
    identifiers = " or ".join(f'"{i}"' for i in identifiers_in(query_text) if '"' not in i)
    content = " or ".join(f'"{w}"' for w in content_words(query_text))
    config = "CAST(CAST(:config AS text) AS regconfig)"
    text_query = f"websearch_to_tsquery({config}, :query_text)"
    if identifiers:
        text_query += f" || websearch_to_tsquery({config}, :identifiers)"
    any_query = f"websearch_to_tsquery({config}, :content) || {text_query}" if content else text_query
    glue_query, glue_any_query, glue_params = glued_tsqueries(query_text, identifiers, ngram_query)
    ctes = [
        f"query AS (SELECT {text_query} AS q, {any_query} AS any_q"
        + (
            ", to_tsquery('simple', :ngram_query) AS ngram_q, CAST(:ngram_phrase AS boolean) AS ngram_phrase"
            if ngram_query
            else ""
        )
        + (f", {glue_query} AS glue_q" if glue_query else "")
        + (f", {glue_any_query} AS glue_any_q" if glue_any_query else "")
        + ")"
    ]
    if use_vector:
        ctes.append(_vector_cte(dimensions, exact, with_files))
    else:
        ctes.append(
            "vec AS (SELECT NULL::uuid AS id, NULL::bigint AS rank, NULL::float8 AS similarity WHERE false)"
        )
    if use_keyword:
        ctes.append(_keyword_cte(with_files, bool(ngram_query), bool(glue_query), bool(glue_any_query)))
    else:
        ctes.append(
            "kw AS (SELECT NULL::uuid AS id, NULL::boolean AS all_terms, NULL::float8 AS coverage,"
            " NULL::bigint AS rank WHERE false)"
        )
    score, fusion_params = score_sql(query_text, model_id, fusion)
    # Fused, cut at the threshold and at k in the database: only the k best rows carry their text out.
    # Ties go to the better vector rank, then to the smaller id.
    sql = f"""
        WITH {", ".join(ctes)},
        both_lists AS (
            SELECT coalesce(vec.id, kw.id) AS id, vec.rank AS vector_rank, vec.similarity,
                   kw.rank AS keyword_rank, kw.all_terms, kw.coverage
            FROM vec FULL OUTER JOIN kw ON vec.id = kw.id
        ),
        fused AS (SELECT id, vector_rank, keyword_rank, {score} AS score FROM both_lists),
        fused_top AS (
            SELECT id, vector_rank, keyword_rank, score FROM fused
            WHERE score >= CAST(:score_threshold AS float8)
            ORDER BY score DESC, coalesce(vector_rank, 1000000000), id LIMIT :k
        )
        SELECT c.id, c.file_id, c.text, c.page, c.heading, b.score, b.vector_rank, b.keyword_rank,
               {"(SELECT count(*) FROM vec)" if use_vector and not exact else "NULL::bigint"} AS vector_found
        FROM fused_top b JOIN knowledge_chunk c ON c.id = b.id
        {SORTS_BACK_ON if sorts_off or (not exact and not without_sorts) else ""}
        ORDER BY b.score DESC, coalesce(b.vector_rank, 1000000000), b.id
    """
    params = {
        "dataset_ids": list(dataset_ids),
        "model": model_id,
        "config": text_search_config,
        "query_text": query_text,
        "vector_candidates": max(VECTOR_CANDIDATES, k),
        "keyword_candidates": max(KEYWORD_CANDIDATES, k),
        "keyword_matches": KEYWORD_MATCHES,
        "score_threshold": score_threshold or 0.0,
        "k": k,
        **fusion_params,
        **glue_params,
    }
    if ngram_query:
        params["ngram_query"] = ngram_query
    if identifiers:
        params["identifiers"] = identifiers
    if content:
        params["content"] = content
    if use_keyword:
        words = content_words(query_text)
        params["words"] = words
        params["grams"] = [f"'{g}'" for run in NGRAM_RUN.findall(query_text) for g in bigrams(run)]
    if ngram_query:
        params["ngram_phrase"] = " | " not in ngram_query
    if use_vector:
        params["query_vector"] = np.asarray(query_vector, dtype=np.float32)
    if with_files:
        params["file_ids"] = list(file_ids)
    if not exact and not sorts_off and not without_sorts:
        await session.execute(sa.text(f"SELECT {SORTS_OFF}"))
    rows = (await session.execute(_statement(sql), params)).all()
    if rows and rows[0].vector_found is not None:
        if rows[0].vector_found < min(params["vector_candidates"], chunk_total):  # the walk came short
            return await search_chunks(
                session, dataset_ids=dataset_ids, model_id=model_id, dimensions=dimensions,
                query_vector=query_vector, query_text=query_text, text_search_config=text_search_config,
                k=k, chunk_total=chunk_total, file_ids=file_ids, mode=mode, score_threshold=score_threshold,
                fusion=fusion, force_exact=True,
            )  # fmt: skip
    return [
        Hit(
            chunk_id=r.id,
            file_id=r.file_id,
            text=r.text,
            page=r.page,
            heading=r.heading,
            score=round(r.score, 6),
            vector_rank=r.vector_rank,
            keyword_rank=r.keyword_rank,
        )
        for r in rows
    ]
