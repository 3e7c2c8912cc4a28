"""Character bigrams for scripts PostgreSQL's parser cannot cut into words (Chinese, Japanese kana and kanji,
Thai, Korean Hangul), and the Latin or digit runs glued to them.

PostgreSQL's parser splits words at spaces and punctuation only, so a Chinese sentence is one "word" and no
phrase inside it can be found; a Korean word carries its particle (`발표자료를`, "the slides" as an object),
so `발표자료` is not a word of it; and an identifier written against such text (`コードはJP-7070です`,
`코드KR-8181입니다`) is part of one token with it, never a lexeme of its own. Each chunk therefore also has
`tsv_ngram`, a `simple` tsvector of `index_terms(text)` (the SQL function `cjk_bigrams`, migration
0030_script_boundaries): the overlapping character pairs of every run in these scripts, and each run of
other characters (no whitespace) that touches one, as its own word. A query holding such a run searches it
as a phrase of its pairs: `发票原件` becomes `'发票' <-> '票原' <-> '原件'`, which matches exactly where the
four characters stand in a row; its Latin words and identifiers are looked up in `tsv_ngram` as well.

Pairs for Hangul as for Han follow Lucene's `CJKBigramFilter` (Han, Hiragana, Katakana and Hangul), the
usual full-text answer where no morphological analyser is at hand; PostgreSQL ships none for Korean.
"""

from __future__ import annotations

import re

from retrieval.terms import content_words

PHRASE_CHARS = 8  # a Chinese or Japanese query this short is a term or a phrase, not a question

# Keep these character classes in step with `cjk_bigrams` in migrations/versions/0030_script_boundaries.py
# (tests/retrieval/test_cjk_bigrams_sql.py checks that both give the same terms).
# Scripts written without spaces: kana, CJK unified ideographs (and extension A), compatibility ideographs,
# Thai. Each of their characters is a word for the verbatim guard and the sentence splitter.
NO_SPACE_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f"
# Hangul: jamo, compatibility jamo, jamo extended A, syllables and jamo extended B.
HANGUL_CHARS = r"\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"
NGRAM_CHARS = NO_SPACE_CHARS + HANGUL_CHARS
# Whitespace, spelled out: the `\s` of PostgreSQL's regular expressions follows the database's locale.
SPACE_CHARS = r" \t\n\r\f\v\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

SCRIPT_RUN = re.compile(f"[{NO_SPACE_CHARS}]+")
NGRAM_RUN = re.compile(f"[{NGRAM_CHARS}]+")
# A run of these scripts (group 1), or a run of other non-space characters that touches one (group 2).
INDEX_TERM = re.compile(
    f"([{NGRAM_CHARS}]+)|([^{SPACE_CHARS}{NGRAM_CHARS}]+(?=[{NGRAM_CHARS}])"
    f"|(?<=[{NGRAM_CHARS}])[^{SPACE_CHARS}{NGRAM_CHARS}]+)"
)
_BOUNDARY = re.compile(
    f"(?<=[{NGRAM_CHARS}])(?=[^{SPACE_CHARS}{NGRAM_CHARS}])|(?<=[^{SPACE_CHARS}{NGRAM_CHARS}])(?=[{NGRAM_CHARS}])"
)


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run; a run of one character is itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text: str) -> str:
    """What `tsv_ngram` indexes of a text, as the SQL `cjk_bigrams` gives it: space-separated, in text order,
    the pairs of each run of `NGRAM_CHARS` and each run of other non-space characters that touches one
    (`コードはJP-7070です` → `コー ード ドは JP-7070 です`); `''` for text without those scripts."""
    terms: list[str] = []
    for run, glued in INDEX_TERM.findall(text):
        terms.extend(bigrams(run) if run else [glued])
    return " ".join(terms)


def separate_scripts(text: str) -> str:
    """`text` with a space wherever a character of `NGRAM_CHARS` meets another non-space character
    (`JP-7070です` → `JP-7070 です`), so the query's Latin words and identifiers are words of their own,
    as the index holds them. Idempotent."""
    return _BOUNDARY.sub(" ", text)


def ngram_tsquery(text: str) -> str | None:
    """A `to_tsquery('simple', ...)` string for the runs of `text`; None without runs.

    Short runs (a term, a phrase: up to `PHRASE_CHARS`) must appear verbatim, as a phrase of their pairs;
    the pairs of a longer run (a question) are alternatives, ranked by how many of them a chunk holds.
    """
    runs = NGRAM_RUN.findall(text)
    if sum(map(len, runs)) > PHRASE_CHARS:
        return " | ".join(dict.fromkeys(f"'{pair}'" for run in runs for pair in bigrams(run))) or None
    phrases = []
    for run in runs:
        if len(run) == 1:
            phrases.append(f"'{run}':*")  # a lone character: every pair that starts with it
        else:
            phrases.append("(" + " <-> ".join(f"'{pair}'" for pair in bigrams(run)) + ")")
    return " & ".join(phrases) or None


def glued_tsqueries(
    query_text: str, identifiers: str, ngram_query: str | None
) -> tuple[str, str, dict[str, str]]:
    """The Latin words and identifiers of a query (cut by `separate_scripts`) as `simple` tsqueries over
    `to_tsvector('simple', cjk_bigrams(text))`, which holds the runs written against CJK, Hangul or Thai
    text (`コードはJP-7070です`; `index_terms`).

    `identifiers`: the query's identifiers as a `websearch_to_tsquery` string (`"JP-7070" or "v2.1"`), or
    `''`; `ngram_query`: `ngram_tsquery(query_text)`. Returns an SQL expression for "every term" (every
    Latin content word, and the query's short CJK phrase if any, or an identifier alone), one for "some
    term", and their parameters (`:glue_all`, `:glue_any`; the expressions also name `:identifiers` and
    `:ngram_query`, which the caller binds); `""` for an expression that has no terms (no identifier and a
    long CJK question: no "every term"; neither words nor identifiers: none)."""
    words = [w for w in content_words(query_text) if not NGRAM_RUN.search(w) and '"' not in w]
    if not (words or identifiers):
        return "", "", {}
    params: dict[str, str] = {}
    every: list[str] = []
    if words and (ngram_query is None or " | " not in ngram_query):  # not beside a long CJK question
        params["glue_all"] = " ".join(f'"{w}"' for w in words)
        every.append(
            "(websearch_to_tsquery('simple', :glue_all)"
            + (" && to_tsquery('simple', :ngram_query))" if ngram_query else ")")
        )
    if identifiers:
        every.append("websearch_to_tsquery('simple', :identifiers)")
    some = list(every)
    if words:
        params["glue_any"] = " or ".join(f'"{w}"' for w in words)
        some.insert(0, "websearch_to_tsquery('simple', :glue_any)")
    return " || ".join(every), " || ".join(some), params
