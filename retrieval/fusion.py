"""Fusing the vector and the keyword candidate lists into one ranking with a score that means relevance.

Two methods, both measured by `bench/quality.py` (the table is in docs/retrieval.md):

- `relevance` (the default): `score = dense + (1 - dense) * boost * lexical`, a probabilistic OR of two
  pieces of evidence in [0, 1]. `dense` is the cosine similarity mapped linearly from the model's
  "unrelated" level (0) to its "near duplicate" level (1) (per-model levels in
  `retrieval/data/score_calibration.toml`; halved for a CJK query when the model reads no CJK).
  `lexical` is 1 for a chunk that holds every query term (or the query's identifier, or its CJK phrase),
  else the share of the query's content words it holds, times `1 / (1 + decay * (keyword rank - 1))`.
  `boost` is larger for exact-looking queries (codes, SKUs, versions, short CJK phrases). The score rests
  on the chunk's own evidence (the keyword rank only discounts it), so one threshold means about the same
  for every query: below ~0.3 the knowledge holds nothing on it (docs/retrieval.md).
- `rrf`: weighted Reciprocal Rank Fusion, the previous method; its score follows ranks, not relevance.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from retrieval.ngrams import NGRAM_RUN, PHRASE_CHARS

CALIBRATION_FILE = Path(__file__).parent / "data" / "score_calibration.toml"
# A token with both a letter and a digit (SKU-9999, E17, v2.14.3, 0x80070005), a code in capitals with a
# separator (ERR_TIMEOUT), a version (3.7.11) or a query that is one number: the words of a query that
# keyword search answers exactly and embeddings blur.
_IDENTIFIER = re.compile(
    r"(?=\S*[A-Za-z])(?=\S*\d)[\w.\-/:#]{2,}|\b[A-Z]{2,}[_\-][A-Z0-9_\-]+\b|\b\d+(?:\.\d+){2,}\b"
    r"|^\s*\d[\d.\-/]*\d\s*$"
)
_WORDS = re.compile(r"\w+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]+")


@dataclass(frozen=True)
class Fusion:
    method: Literal["relevance", "rrf"] = "relevance"
    keyword_boost: float = 0.9  # lexical weight for ordinary queries
    identifier_boost: float = 0.9  # lexical weight when the query looks like an identifier
    keyword_decay: float = 0.15  # lexical = 1 / (1 + decay * (keyword rank - 1))
    partial_match: float = 1.0  # lexical factor of a chunk that holds only some of the query's words
    unread_script_weight: float = 0.5  # dense factor for a CJK query and a model that reads no CJK
    rrf_k: int = 60
    vector_weight: float = 1.0  # rrf only
    keyword_weight: float = 0.7  # rrf only


DEFAULT_FUSION = Fusion()


@dataclass(frozen=True)
class Calibration:
    unrelated: float  # cosine similarity of a query and an unrelated passage, typically
    duplicate: float  # cosine similarity at which a passage says what the query says
    reads_cjk: bool = True  # False for English-only models: their vectors of Chinese text are noise


@cache
def _calibrations() -> dict[str, Calibration]:
    table = tomllib.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return {name: Calibration(**values) for name, values in table.items()}


def calibration_for(model_id: str) -> Calibration:
    """The similarity levels of an embedding model: its own entry, by id prefix, else `default`."""
    table = _calibrations()
    for name, calibration in table.items():
        if name != "default" and model_id.startswith(name):
            return calibration
    return table["default"]


def identifiers_in(query: str) -> list[str]:
    """The codes, SKUs, error numbers and version strings in a query (`SKU-0277`, `3.7.11`, `E-0x1F`)."""
    return [m.group(0).strip() for m in _IDENTIFIER.finditer(query)]


def is_exact_query(query: str) -> bool:
    """Whether a verbatim match is the answer: an identifier in at most 4 words, or a short phrase in a
    script without spaces (`发票原件`), which the offline embedding models barely read."""
    if len(_WORDS.findall(query)) <= 4 and identifiers_in(query):
        return True
    runs = NGRAM_RUN.findall(query)
    return bool(runs) and sum(map(len, runs)) <= PHRASE_CHARS and len(_LATIN.findall(query)) <= 2


def score_sql(query: str, model_id: str, fusion: Fusion = DEFAULT_FUSION) -> tuple[str, dict[str, float]]:
    """The score of a candidate as a SQL expression over its columns `similarity`, `vector_rank`,
    `keyword_rank`, `all_terms` and `coverage` (NULL where a list did not find it), with its parameters.

    `similarity` is the cosine similarity of the query and chunk vectors; the ranks are 1-based (the
    keyword list puts chunks with every query term first, then orders by ts_rank_cd); `all_terms`: the
    chunk holds every query term (or the query's identifier, or its phrase); `coverage`: the share of the
    query's content words it holds. The search ranks and cuts in the database (`retrieval.search`), so
    only the best `k` rows, with their text, travel to Python.
    """
    if fusion.method == "rrf":
        params = {
            "fusion_vector_weight": fusion.vector_weight,
            "fusion_keyword_weight": fusion.keyword_weight,
            "fusion_rrf_k": fusion.rrf_k,
            "fusion_best": (fusion.vector_weight + fusion.keyword_weight) / (fusion.rrf_k + 1),
        }
        expression = """((CASE WHEN vector_rank IS NULL THEN 0::float8
              ELSE CAST(:fusion_vector_weight AS float8)
                   / (CAST(:fusion_rrf_k AS float8) + vector_rank) END
          + CASE WHEN keyword_rank IS NULL THEN 0::float8
              ELSE CAST(:fusion_keyword_weight AS float8)
                   / (CAST(:fusion_rrf_k AS float8) + keyword_rank) END)
         / CAST(:fusion_best AS float8))"""
        return expression, params
    levels = calibration_for(model_id)
    # An English-only model reads Chinese as unknown word pieces: its similarities say nothing.
    dense_weight = fusion.unread_script_weight if not levels.reads_cjk and NGRAM_RUN.search(query) else 1.0
    params = {
        "fusion_unrelated": levels.unrelated,
        "fusion_span": levels.duplicate - levels.unrelated,
        "fusion_dense_weight": dense_weight,
        "fusion_boost": fusion.identifier_boost if is_exact_query(query) else fusion.keyword_boost,
        "fusion_decay": fusion.keyword_decay,
        "fusion_partial": fusion.partial_match,
    }
    # NaN (a zero vector) counts as no similarity, as Python's min/max read it.
    dense = """(CASE WHEN similarity IS NULL OR similarity = 'NaN'::float8 THEN 0::float8
        ELSE CAST(:fusion_dense_weight AS float8) * least(1::float8, greatest(0::float8,
             (similarity - CAST(:fusion_unrelated AS float8)) / CAST(:fusion_span AS float8))) END)"""
    lexical = """(CASE WHEN keyword_rank IS NULL THEN 0::float8
        ELSE 1::float8 / (1::float8 + CAST(:fusion_decay AS float8) * (keyword_rank - 1)) END
        * CASE WHEN coalesce(all_terms, false) THEN 1::float8
          ELSE CAST(:fusion_partial AS float8) * coalesce(coverage, 0::float8) END)"""
    return f"({dense} + (1::float8 - {dense}) * CAST(:fusion_boost AS float8) * {lexical})", params
