"""The verbatim guard: no run of more than `max_run` consecutive words of protected text reaches the user.

Protected text is what a GPT may use but never hand out: the private passages retrieved for the turn and
its hidden instructions. Both sides are compared as word sequences after normalisation (Unicode NFKD with
combining and invisible marks dropped, case folded, look-alike letters folded to their Latin ones with the
Unicode confusables table of `confusable-homoglyphs`, punctuation and whitespace as word breaks, and runs
of single letters joined, so `p r i v a t e` or `p-r-i-v-a-t-e` is the word `private`). Markup and escapes
are read as the words they show: HTML entities and %-escapes of UTF-8 decoded, Markdown link targets and
reference labels (`[word](url)`, `[word][ref]`) skipped, a possessive `'s` dropped, and a capital after a
small letter starting a word (`TheVault`). In scripts written
without spaces (Chinese, Japanese, Thai: `retrieval.ngrams.SCRIPT_RUN`) each character is a word. Markup
numbers are no words: citation markers (`[1]`, `[1, 2]`, `[^1]`) and list numbers at a line's start (`1.`,
`2)`) are skipped on both sides, so they neither break nor make a run.

`VerbatimGuard.stream` filters a reply as it streams: it holds back only the words that could still start
a protected run (the longest suffix of the reply that occurs in protected text, at most `max_run` words)
and releases the rest at once. When a run reaches `max_run + 1` words, the held words are replaced by
`REDACTED` and the run is dropped until it ends. So however the reply is split into chunks, no
`max_run + 1` consecutive reply words are a protected run. The limit is `GPTSTORE_VERBATIM_MAX_WORDS`
(default 25, from issue #11) or a GPT's own `trust.verbatim_max_words`; docs/trust.md.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from core.storable import model_json
from retrieval.verbatim_words import Tokenizer, separator, unescaped, words

REDACTED = "[…]"


class VerbatimGuard:
    """Word-shingle matching of a reply against protected texts, with `max_run` words of look-back."""

    def __init__(self, protected: Iterable[str], max_run: int):
        self.max_run = max_run
        self.texts = [words(text) for text in protected if text and text.strip()]
        # Where each word occurs: a run is followed through these positions, never built as n-grams.
        self.index: dict[str, list[tuple[int, int]]] = {}
        for number, sequence in enumerate(self.texts):
            for position, word in enumerate(sequence):
                self.index.setdefault(word, []).append((number, position))

    @property
    def active(self) -> bool:
        return bool(self.index)

    def step(self, matches: dict[tuple[int, int], int], word: str, cap: int) -> dict[tuple[int, int], int]:
        """The protected positions where the reply's words so far end in a run, with each run's length
        (at most `cap`), after one more reply word."""
        following: dict[tuple[int, int], int] = {}
        for (number, position), length in matches.items():
            sequence = self.texts[number]
            if position + 1 < len(sequence) and sequence[position + 1] == word:
                following[(number, position + 1)] = min(length + 1, cap)
        for place in self.index.get(word, ()):
            following.setdefault(place, 1)
        return following

    def longest_run(self, text: str) -> int:
        """The most consecutive words of `text` (normalised, `REDACTED` breaking a run) that occur
        consecutively in one protected text."""
        best = 0
        for part in text.split(REDACTED):
            matches: dict[tuple[int, int], int] = {}
            for word in words(part):
                matches = self.step(matches, word, cap=1 << 30)
                best = max(best, max(matches.values(), default=0))
        return best

    def run(self) -> _Run:
        """A reply fed in pieces (`feed(text)`, then `finish()`, each yielding the safe text), for a reply
        whose text arrives between other events, as a chat turn with tool calls."""
        return _Run(self)

    def filter(self, text: str) -> str:
        """The whole reply with protected runs redacted."""
        run = _Run(self)
        return "".join(run.feed(text)) + "".join(run.finish())

    def filter_json(self, text: str) -> str:
        """JSON text shown to a user (tool-call arguments, a tool's output) with protected runs redacted
        inside its strings, keys and values alike, a run counted on from one string to the next in document
        order, escapes decoded first (also escapes inside strings, JSON written into JSON). Text that is not
        JSON (a response cut at the size limit, text with escapes in it) is filtered as text, with its
        JSON escapes decoded. `text` itself when nothing was redacted, else the filtered value written out
        again as JSON (text that is not JSON: the filtered text, escapes decoded)."""
        if not self.active:
            return text
        try:
            value = model_json(text)
        except ValueError:
            decoded = unescaped(text)
            filtered = self.filter(decoded)
            if decoded != text and filtered == decoded:
                return text  # nothing redacted: the text as it came
            return filtered
        run = _Run(self)
        changed = False

        def piece(string: str) -> str:
            nonlocal changed
            decoded = unescaped(string)
            out = "".join(run.feed(decoded)) + "".join(run.cut())
            if out == decoded:
                return string
            changed = True
            return out

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return piece(item)
            if isinstance(item, list):
                return [walk(v) for v in item]
            if isinstance(item, dict):
                return {piece(k): walk(v) for k, v in item.items()}
            return item

        filtered = walk(value)
        return json.dumps(filtered, ensure_ascii=False) if changed else text

    async def stream(self, pieces: AsyncIterator[str]) -> AsyncIterator[str]:
        """The streamed reply with protected runs redacted, each piece as soon as it is safe."""
        run = _Run(self)
        async for piece in pieces:
            out = "".join(run.feed(piece))
            if out:
                yield out
        out = "".join(run.finish())
        if out:
            yield out


class _Run:
    """One reply's state: where its last words run through protected text, and which words are held."""

    def __init__(self, guard: VerbatimGuard):
        self.guard = guard
        self.tokens = Tokenizer()
        self.matches: dict[tuple[int, int], int] = {}
        self.held: list[str] = []  # raw text of the last words, all inside the current protected run
        self.redacting = False

    def feed(self, text: str) -> Iterator[str]:
        if not self.guard.active:
            yield text
            return
        for word, raw in self.tokens.feed(text):
            yield from self._word(word, raw)

    def finish(self) -> Iterator[str]:
        if self.guard.active:
            for word, raw in self.tokens.finish():
                yield from self._word(word, raw)
        yield from self._release(len(self.held))
        yield self.tokens.tail()

    def cut(self) -> Iterator[str]:
        """End one piece of a text made of several (the strings of a JSON value): its held words come out
        (their run is within the limit), but the run goes on into the next piece, which starts a `REDACTED`
        of its own if the run passes the limit there."""
        if self.guard.active:
            for word, raw in self.tokens.finish():
                yield from self._word(word, raw)
        out, self.held, self.redacting = self.held, [], False
        yield from out
        yield self.tokens.tail()

    def _release(self, count: int) -> Iterator[str]:
        if count:
            self.redacting = False
        out, self.held = self.held[:count], self.held[count:]
        yield from out

    def _word(self, word: str, raw: str) -> Iterator[str]:
        if not word:  # a markup number: it goes with the run it stands in, and neither breaks nor extends it
            if self.held:
                self.held[-1] += raw
            else:
                yield raw
            return
        limit = self.guard.max_run + 1
        self.matches = self.guard.step(self.matches, word, limit)
        run = max(self.matches.values(), default=0)
        # Held words before the current run can no longer be part of a protected run: release them.
        self.held.append(raw)
        yield from self._release(max(0, len(self.held) - run))
        if run >= limit:
            first = self.held[0] if self.held else ""
            if not self.redacting:
                yield separator(first) + REDACTED
            self.held, self.redacting = [], True


def within_limit(text: str, max_words: int) -> str:
    """`text` cut after its first `max_words` words (normalised as the guard counts them), ended with " …"
    when cut: how a private file's label (heading, name) is shown beside an answer, so that it never holds
    a run over the limit (docs/trust.md)."""
    tokenizer = Tokenizer()
    count = shown = 0
    for word, raw in [*tokenizer.feed(text), *tokenizer.finish()]:
        if word:
            count += 1
            if count > max_words:
                return text[:shown].rstrip() + " …"
        shown += len(raw)
    return text


def longest_run(text: str, protected: Iterable[str]) -> int:
    """The most consecutive words of `text` that occur consecutively in one of `protected` (normalised as
    the guard compares; `REDACTED` breaks a run). For measuring, not for filtering."""
    return VerbatimGuard(protected, max_run=0).longest_run(text)
