"""A search query's terms for the script-aware full-text vector `to_tsvector('simple', cjk_bigrams(text))`:
the character pairs of its CJK, Hangul and Thai runs and the Latin words and identifiers that such text can
hold glued to it (retrieval.ngrams). The store's search and the dataset directory match it through an
expression index (migration 0030); knowledge chunks store it as `tsv_ngram` (retrieval.search builds its
own query from the same parts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.fusion import identifiers_in
from retrieval.ngrams import glued_tsqueries, ngram_tsquery, separate_scripts

# The vector over an SQL text expression, exactly as the expression indexes spell it.
NGRAM_TSV_OF = "to_tsvector('simple'::regconfig, cjk_bigrams({}))"


@dataclass(frozen=True)
class ScriptQuery:
    every: str = (
        ""  # SQL tsquery: every term (a short CJK phrase verbatim, every Latin word) or an identifier
    )
    some: str = ""  # SQL tsquery: any term
    params: dict[str, str] = field(default_factory=dict)  # what the two expressions bind


def script_tsqueries(query: str) -> ScriptQuery:
    """The two tsquery expressions (`""` when the query has no such term) and their parameters
    (`ngram_query`, `identifiers`, `glue_all`, `glue_any`)."""
    query = separate_scripts(query)
    ngram = ngram_tsquery(query)
    identifiers = " or ".join(f'"{i}"' for i in identifiers_in(query) if '"' not in i)
    glue_every, glue_some, params = glued_tsqueries(query, identifiers, ngram)
    every = [glue_every] if glue_every else []
    some = [glue_some] if glue_some else []
    if ngram:
        params["ngram_query"] = ngram
        some.append("to_tsquery('simple', :ngram_query)")
        if " | " not in ngram and "glue_all" not in params:  # a term or phrase alone (with Latin words,
            every.append("to_tsquery('simple', :ngram_query)")  # glue_all holds it with them)
    if identifiers:
        params["identifiers"] = identifiers
    return ScriptQuery(" || ".join(every), " || ".join(some), params)
