"""Character bigrams for scripts written without spaces (Chinese, Japanese kana and kanji, Thai).

PostgreSQL's parser splits words at spaces and punctuation, so a Chinese sentence is one "word" and no
phrase inside it can be found. Each chunk therefore also has `tsv_ngram`, a `simple` tsvector of the
overlapping character pairs of its runs in these scripts (the SQL function `cjk_bigrams`, migration 0009),
and a query holding such a run searches it as a phrase of its pairs: `发票原件` becomes
`'发票' <-> '票原' <-> '原件'`, which matches exactly where the four characters stand in a row.
"""

from __future__ import annotations

import re

# Keep in step with the character class of `cjk_bigrams` in migrations/versions/0009_cjk_ngrams.py.
PHRASE_CHARS = 8  # a Chinese or Japanese query this short is a term or a phrase, not a question
SCRIPT_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]+")


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run; a run of one character is itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def ngram_tsquery(text: str) -> str | None:
    """A `to_tsquery('simple', ...)` string for the runs of `text`; None without runs.

    Short runs (a term, a phrase: up to `PHRASE_CHARS`) must appear verbatim, as a phrase of their pairs;
    the pairs of a longer run (a question) are alternatives, ranked by how many of them a chunk holds.
    """
    runs = SCRIPT_RUN.findall(text)
    if sum(map(len, runs)) > PHRASE_CHARS:
        return " | ".join(dict.fromkeys(f"'{pair}'" for run in runs for pair in bigrams(run))) or None
    phrases = []
    for run in runs:
        if len(run) == 1:
            phrases.append(f"'{run}':*")  # a lone character: every pair that starts with it
        else:
            phrases.append("(" + " <-> ".join(f"'{pair}'" for pair in bigrams(run)) + ")")
    return " & ".join(phrases) or None
