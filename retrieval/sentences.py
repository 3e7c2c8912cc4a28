"""Sentences of a passage for extractive answers: blocks (headings, list items, paragraphs), sentences split
by pysbd, and a private sentence cut to the keywords the verbatim guard allows."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pysbd

from retrieval.ngrams import SCRIPT_RUN, bigrams
from retrieval.terms import content_words
from retrieval.verbatim import VerbatimGuard
from retrieval.verbatim_words import words

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")
_CJK_SENTENCE_END = re.compile(r"(?<=[。！？])")
# Shorter sentences are fragments; Chinese and Japanese say in 6 characters what English says in 12.
MIN_SENTENCE_CHARS = {False: 12, True: 6}
_HEADING = re.compile(r"#{1,6}\s")
_ITEM = re.compile(r"^(?:[-*•◦▪]|\d{1,3}[.)])\s+")
MAX_SKIPPED = 3  # leading words a private sentence may lose so it does not go on from the one before


def key_terms(text: str) -> set[str]:
    """Content words of a text, URLs and e-mail addresses left out (their words are not what they say)."""
    text = _URL.sub(" ", text)
    return set(content_words(text)) | {pair for run in SCRIPT_RUN.findall(text) for pair in bigrams(run)}


def _blocks(text: str) -> list[tuple[str, str]]:
    """A passage as (kind, text) blocks: `heading`, `item` (list item, table row) or `paragraph`, with
    the line breaks of wrapped lines (PDF, plain text) joined, so a sentence is never cut at one."""
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(("paragraph", " ".join(paragraph)))
            paragraph.clear()

    lines = [raw.strip() for raw in text.splitlines()]
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not line:
            flush()
        elif _HEADING.match(line) or (not paragraph and _looks_like_heading(line, following)):
            flush()
            blocks.append(("heading", line.lstrip("#").strip()))
        elif _ITEM.match(line):
            flush()
            blocks.append(("item", _ITEM.sub("", line).strip(" |")))
        elif "|" in line and line.count("|") >= 2:
            flush()
            blocks.append(("item", " | ".join(c.strip() for c in line.strip("|").split("|") if c.strip())))
        elif paragraph and paragraph[-1].endswith("-") and line[:1].islower():
            paragraph[-1] = paragraph[-1][:-1] + line  # a word hyphenated at the line end
        else:
            paragraph.append(line)
    flush()
    return blocks


def _looks_like_heading(line: str, following: str) -> bool:
    """A PDF or plain-text heading: a short line in capitals or title case, without closing punctuation,
    before a line that starts a sentence (a wrapped line would go on in lower case)."""
    words = line.split()
    if len(line) > 80 or line[-1] in ".!?:;," or not following[:1].isupper():
        return False
    capitalised = sum(w[:1].isupper() or not w[:1].isalpha() for w in words)
    return line.isupper() or capitalised >= 0.6 * len(words)


def sentences_of(text: str) -> list[str]:
    """The sentences of a passage: list items and table rows whole, paragraphs split by pysbd (which knows
    abbreviations, decimals and initials), headings left out."""
    out: list[str] = []
    for kind, block in _blocks(text):
        if kind == "heading":
            continue
        if kind == "item":
            out.append(block)
        else:
            for sentence in _segmenter().segment(block):
                out.extend(s.strip() for s in _CJK_SENTENCE_END.split(sentence) if s.strip())
    return [s for s in out if len(s) >= MIN_SENTENCE_CHARS.get(bool(SCRIPT_RUN.search(s)), 12)]


@cache
def _segmenter():
    return pysbd.Segmenter(language="en", clean=False)


@cache
def _negations() -> frozenset[str]:
    lines = (Path(__file__).parent / "data" / "negations.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.startswith("#") for w in line.split())


def _bare(token: str) -> str:
    return token.strip(".,;:!?()[]\"'«»„“”").lower()


def _character_window(sentence: str, wanted: set[str], limit: int) -> str:
    """For scripts without spaces, where each character is a word: the `limit` characters of the sentence
    that hold the most of the question's terms (its character pairs among them)."""
    found = [(m.start(), m.end()) for term in wanted for m in re.finditer(re.escape(term), sentence)]

    def rank(start: int) -> tuple[int, int]:
        inside = [a for a, b in found if a >= start and b <= start + limit]
        return len(inside), -abs(start - max(0, (min(inside) if inside else 0) - limit // 4))

    start = max(range(max(1, len(sentence) - limit + 1)), key=rank)
    window = sentence[start : start + limit]
    while len(words(window)) > limit:
        window = window[:-1]
    return ("…" if start else "") + window + ("…" if start + len(window) < len(sentence) else "")


def private_summary(sentence: str, wanted: set[str], limit: int, *, whole: bool = True) -> str:
    """A private sentence as the answer may give it: whole when it has at most `limit` words (and `whole`
    allows it), else its keywords in order (function words left out; numbers, names and negations kept),
    and of those at most `limit` words around the question's, so no run longer than the limit is repeated."""
    if whole and len(words(sentence)) <= limit:
        return sentence
    if SCRIPT_RUN.search(sentence):
        return _character_window(sentence, wanted, limit)
    kept = [
        token
        for token in sentence.split()
        if key_terms(token) or any(c.isdigit() for c in token) or _bare(token) in _negations()
    ]
    size = min(len(kept), limit)
    while size > 1 and len(words(" ".join(kept[:size]))) > limit:
        size -= 1
    hits = [i for i, token in enumerate(kept) if key_terms(token) & wanted]

    def rank(start: int) -> tuple[int, float]:
        inside = [i for i in hits if start <= i < start + size]
        centre = sum(inside) / len(inside) if inside else start + size / 2
        return len(inside), -abs(start + size / 2 - centre)

    best = max(range(len(kept) - size + 1), key=rank)
    window = " ".join(kept[best : best + size])
    return ("… " if best else "") + window + (" …" if best + size < len(kept) else "") + " (keywords)"


def private_quote(sentence: str, wanted: set[str], guard: VerbatimGuard, before: str) -> str:
    """A private sentence as an answer that already says `before` may give it (`private_summary`), so that
    no run over the guard's limit forms across them either: when the sentence goes on from the previous
    one in the passage (markers and bullets between them do not break a run), one of its first words
    (at most `MAX_SKIPPED` in; a function word first, a number last, never one of the question's words)
    is left out, marked `…`, else it is given as keywords."""
    limit = guard.max_run
    tokens = sentence.split()
    # Function words go first, then other words, numbers last; the question's words are kept.
    droppable = [i for i in range(min(MAX_SKIPPED, len(tokens) - 1)) if not key_terms(tokens[i]) & wanted]
    droppable.sort(key=lambda i: (any(c.isdigit() for c in tokens[i]), bool(key_terms(tokens[i]))))
    candidates = [sentence] + [" ".join([*tokens[:i], "…", *tokens[i + 1 :]]) for i in droppable]
    for candidate in candidates:
        quote = private_summary(candidate, wanted, limit)
        if guard.longest_run(f"{before} {quote}") <= limit:  # as a list item after them
            return quote
    return private_summary(sentence, wanted, limit, whole=False)
