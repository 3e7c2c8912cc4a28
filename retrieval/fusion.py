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
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from retrieval.ngrams import PHRASE_CHARS, SCRIPT_RUN

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
class Candidate:
    chunk_id: uuid.UUID
    similarity: float | None  # cosine similarity of the query and chunk vectors, when a vector candidate
    vector_rank: int | None  # 1-based
    keyword_rank: int | None  # 1-based: chunks with every query term first, then by ts_rank_cd
    all_terms: bool = False  # the chunk holds every query term (or the query's identifier, or its phrase)
    coverage: float = 0.0  # the share of the query's content words the chunk holds


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
    runs = SCRIPT_RUN.findall(query)
    return bool(runs) and sum(map(len, runs)) <= PHRASE_CHARS and len(_LATIN.findall(query)) <= 2


def fuse(
    candidates: list[Candidate], query: str, model_id: str, fusion: Fusion = DEFAULT_FUSION
) -> list[tuple[Candidate, float]]:
    """Candidates best first, each with its score in [0, 1]."""
    if fusion.method == "rrf":
        best = (fusion.vector_weight + fusion.keyword_weight) / (fusion.rrf_k + 1)
        scored = [
            (
                c,
                (
                    (fusion.vector_weight / (fusion.rrf_k + c.vector_rank) if c.vector_rank else 0.0)
                    + (fusion.keyword_weight / (fusion.rrf_k + c.keyword_rank) if c.keyword_rank else 0.0)
                )
                / best,
            )
            for c in candidates
        ]
    else:
        levels = calibration_for(model_id)
        boost = fusion.identifier_boost if is_exact_query(query) else fusion.keyword_boost
        # An English-only model reads Chinese as unknown word pieces: its similarities say nothing.
        dense_weight = (
            fusion.unread_script_weight if not levels.reads_cjk and SCRIPT_RUN.search(query) else 1.0
        )
        scored = []
        for c in candidates:
            dense = 0.0
            if c.similarity is not None:
                dense = (c.similarity - levels.unrelated) / (levels.duplicate - levels.unrelated)
                dense = dense_weight * min(1.0, max(0.0, dense))
            lexical = 1 / (1 + fusion.keyword_decay * (c.keyword_rank - 1)) if c.keyword_rank else 0.0
            if not c.all_terms:
                lexical *= fusion.partial_match * c.coverage
            scored.append((c, dense + (1 - dense) * boost * lexical))
    scored.sort(key=lambda pair: (-pair[1], pair[0].vector_rank or 10**9, str(pair[0].chunk_id)))
    return scored
