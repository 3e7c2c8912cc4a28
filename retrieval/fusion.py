"""Fusing the vector and the keyword candidate lists into one ranking with a score that means relevance.

Two methods, both measured by `bench/quality.py` (the table is in docs/retrieval.md):

- `relevance` (the default): `score = dense + (1 - dense) * boost * lexical`, a probabilistic OR of two
  pieces of evidence in [0, 1]. `dense` is the cosine similarity mapped linearly from the model's
  "unrelated" level (0) to its "near duplicate" level (1) (per-model levels in
  `retrieval/data/score_calibration.toml`); `lexical` is 1 for the keyword list's best match and decays
  with its rank (every keyword match holds every query term: `websearch_to_tsquery` is a conjunction).
  `boost` is larger for identifier-like queries (codes, SKUs, versions), whose exact match is the answer.
  The score does not depend on the other candidates, so one threshold means the same for every query.
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

CALIBRATION_FILE = Path(__file__).parent / "data" / "score_calibration.toml"
# A token with both a letter and a digit (SKU-9999, E17, v2.14.3, 0x80070005), or a code in capitals with a
# separator (ERR_TIMEOUT): the words of a query that keyword search answers exactly and embeddings blur.
_IDENTIFIER = re.compile(
    r"(?=\S*[A-Za-z])(?=\S*\d)[\w.\-/:#]{2,}|\b[A-Z]{2,}[_\-][A-Z0-9_\-]+\b|^\s*\d[\d.\-/]*\d\s*$"
)
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Candidate:
    chunk_id: uuid.UUID
    similarity: float | None  # cosine similarity of the query and chunk vectors, when a vector candidate
    vector_rank: int | None  # 1-based
    keyword_rank: int | None  # 1-based, by ts_rank_cd


@dataclass(frozen=True)
class Fusion:
    method: Literal["relevance", "rrf"] = "relevance"
    keyword_boost: float = 0.5  # lexical weight for ordinary queries
    identifier_boost: float = 0.9  # lexical weight when the query looks like an identifier
    keyword_decay: float = 0.15  # lexical = 1 / (1 + decay * (keyword rank - 1))
    rrf_k: int = 60
    vector_weight: float = 1.0  # rrf only
    keyword_weight: float = 0.7  # rrf only


DEFAULT_FUSION = Fusion()


@dataclass(frozen=True)
class Calibration:
    unrelated: float  # cosine similarity of a query and an unrelated passage, typically
    duplicate: float  # cosine similarity at which a passage says what the query says


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


def is_identifier_query(query: str) -> bool:
    """Whether a query is (or holds) a code, SKU, error number or version string, in at most 4 words."""
    return len(_WORDS.findall(query)) <= 4 and bool(_IDENTIFIER.search(query))


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
        boost = fusion.identifier_boost if is_identifier_query(query) else fusion.keyword_boost
        scored = []
        for c in candidates:
            dense = 0.0
            if c.similarity is not None:
                dense = (c.similarity - levels.unrelated) / (levels.duplicate - levels.unrelated)
                dense = min(1.0, max(0.0, dense))
            lexical = 1 / (1 + fusion.keyword_decay * (c.keyword_rank - 1)) if c.keyword_rank else 0.0
            scored.append((c, dense + (1 - dense) * boost * lexical))
    scored.sort(key=lambda pair: (-pair[1], pair[0].vector_rank or 10**9, str(pair[0].chunk_id)))
    return scored
