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
# What ends a glued run: whitespace, spelled out (the `\s` of PostgreSQL's regular expressions follows the
# database's locale), and CJK and fullwidth punctuation (`。`, `「`, `，`), where PostgreSQL's parser splits a
# word too, so a run beside them is a token of `tsv` already (and the punctuation no term of its own).
BREAK_CHARS = (
    r" \t\n\r\f\v\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-\u3004\u3008-\u303f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)

SCRIPT_RUN = re.compile(f"[{NO_SPACE_CHARS}]+")
NGRAM_RUN = re.compile(f"[{NGRAM_CHARS}]+")
_PIECES = re.compile(f"[^{BREAK_CHARS}]+")  # the text between breaks
_RUNS = re.compile(f"([{NGRAM_CHARS}]+)|([^{NGRAM_CHARS}]+)")  # a piece as runs of these scripts or not
_BOUNDARY = re.compile(
    f"(?<=[{NGRAM_CHARS}])(?=[^{BREAK_CHARS}{NGRAM_CHARS}])|(?<=[^{BREAK_CHARS}{NGRAM_CHARS}])(?=[{NGRAM_CHARS}])"
)


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run; a run of one character is itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text: str) -> str:
    """What `tsv_ngram` indexes of a text, as the SQL `cjk_bigrams` gives it: space-separated, in text order,
    the pairs of each run of `NGRAM_CHARS` and each run of other characters up to a break (`BREAK_CHARS`)
    that touches one (`コードはJP-7070です。` → `コー ード ドは JP-7070 です`); `''` for text without those
    scripts. (The SQL function finds the glued runs by lookaround; this, for linear time in Python's
    backtracking engine, cuts the text at breaks and the pieces that hold these scripts into runs.)"""
    terms: list[str] = []
    for piece in _PIECES.findall(text):
        if NGRAM_RUN.search(piece):
            for run, glued in _RUNS.findall(piece):
                terms.extend(bigrams(run) if run else [glued])
    return " ".join(terms)


def separate_scripts(text: str) -> str:
    """`text` with a space wherever a character of `NGRAM_CHARS` meets a character that is no break
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
