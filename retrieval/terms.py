"""Words of a query that carry its meaning: lower-cased, without the function words of
`retrieval/data/stopwords.txt` (English and German) and without one-letter words."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

STOPWORDS_FILE = Path(__file__).parent / "data" / "stopwords.txt"
_WORD = re.compile(r"\w+", re.UNICODE)


@cache
def stopwords() -> frozenset[str]:
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


def content_words(text: str) -> list[str]:
    """The query's words that are not function words, in order, each once."""
    stop = stopwords()
    return list(dict.fromkeys(w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in stop))
