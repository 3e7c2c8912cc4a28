"""The verbatim guard's reading of text as words (`retrieval.verbatim`): Unicode NFKD with combining and
invisible marks dropped, case folded, look-alike letters folded to their Latin ones (the Unicode
confusables table of `confusable-homoglyphs`), punctuation and whitespace as word breaks, runs of single
letters joined, markup and escapes read as the words they show (HTML entities, %-escapes, Markdown link
targets skipped, a possessive `'s` dropped, `TheVault` as two words), scripts without spaces a word per
character, citation markers and list numbers skipped; and JSON escapes undone (`unescaped`).
"""

from __future__ import annotations

import html
import json
import re
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from urllib.parse import unquote_to_bytes

from core.storable import storable
from retrieval.ngrams import SCRIPT_RUN

LETTER_RUN = 2  # single letters in a row that are one word spelled out ("o f", "i-s")
MAX_SPELLED = 64  # letters of one spelled-out word at most, so a spelled reply still streams
MARKER_DIGITS = 3  # a citation marker or list number has at most this many digits
MAX_ESCAPE = 32  # characters of an HTML entity at most ("&CounterClockwiseContourIntegral;" has 33)
MAX_TARGET = 2048  # characters of a Markdown link's target or reference label at most
APOSTROPHES = "'’ʼ"


@cache
def _homoglyphs() -> dict[str, str]:
    """Non-ASCII characters that look like an ASCII letter or digit, mapped to it (Unicode confusables)."""
    table = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    )
    folded: dict[str, str] = {}
    for char, glyphs in table.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                folded[char] = target.lower()
                break
    return folded


@cache
def fold(char: str) -> str:
    """One character as the word characters it compares as ('' for marks, ' ' for a word break)."""
    out = []
    for c in unicodedata.normalize("NFKD", char):
        category = unicodedata.category(c)
        if category in ("Mn", "Me", "Cf"):  # accents, enclosing marks, zero-width and bidi controls
            continue
        for lower in c.casefold():
            lower = _homoglyphs().get(lower, lower)
            if SCRIPT_RUN.match(lower):  # written without spaces: each character is a word
                out.append(f" {lower} ")
            else:
                out.append(lower if lower.isalnum() else " ")
    return "".join(out)


def words(text: str) -> list[str]:
    """The normalised words of a text (see the module docstring)."""
    tokenizer = Tokenizer()
    return [w for w, _ in [*tokenizer.feed(text), *tokenizer.finish()] if w]


@dataclass
class Tokenizer:
    """Cuts streamed text into (normalised word, raw text ending with it) as soon as each word is certain;
    a markup number (citation marker, list number) comes out as ("", its raw text)."""

    raw: str = ""  # text since the last word given out
    word: str = ""  # the normalised word being read
    word_end: int = 0  # where in `raw` the word being read ends
    letters: list[tuple[str, str]] = field(default_factory=list)  # single letters held to be joined
    started: bool = False  # a word was read: a list number needs a line break before it
    citing: bool = False  # inside a citation marker's list ("[1, 2]")
    listed: bool = False  # a number at a line's start closed by "." or ")": a list number if a space follows

    pending: str = ""  # raw text of an HTML entity or %-escape being read
    skip: str = ""  # inside a Markdown link's target or reference label: the character that closes it
    skipped: int = 0  # characters of the target so far
    last: str = ""  # the last character shown
    lower: bool = False  # the last character shown is a lower-case letter (a capital after it starts a word)

    def feed(self, text: str) -> Iterator[tuple[str, str]]:
        for char in text:
            if self.pending or self.skip or self.last == "]" or char in "&%":
                for shown, raw in self._decoded(char):
                    yield from self._read(shown, raw)
                continue
            # The common case (`_read` without escapes or links), inline: the guard reads every character.
            if self.lower and self.word and char.isupper():
                yield from self._end_word()
            self.last, self.lower = char, char.islower()
            if self.listed:
                yield from self._fold(char, char)
                continue
            folded = fold(char)
            self.raw += char
            if folded.isalnum():
                self.word += folded
                self.word_end = len(self.raw)
            else:
                for piece in folded:
                    if piece == " ":
                        yield from self._end_word()
                    else:
                        self.word += piece
                        self.word_end = len(self.raw)
                if not folded and self.word:
                    self.word_end = len(self.raw)

    def _decoded(self, char: str) -> Iterator[tuple[str, str]]:
        """(character shown, its raw text): HTML entities (`&amp;`, `&#84;`) and %-escapes of UTF-8 read
        as the characters they show, with the stdlib's decoders; held while one may still be coming."""
        pending = self.pending + char
        if self.pending.startswith("&"):
            if char == ";":
                self.pending = ""
                shown = html.unescape(pending)
                if shown != pending:
                    yield from _spread(shown, pending)
                    return
                yield from _literal(pending)
                return
            if (char.isalnum() or (char == "#" and pending == "&#")) and len(pending) <= MAX_ESCAPE:
                self.pending = pending
                return
        elif self.pending.startswith("%"):
            group = len(pending) % 3  # "%XX" groups: 1 after "%", 2 and 0 after each hex digit
            if (char == "%" and group == 1) or (group != 1 and char in string.hexdigits):
                self.pending = pending
                if group == 0:
                    data = unquote_to_bytes(pending)
                    try:
                        shown = data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        if exc.reason == "unexpected end of data" and len(data) < 4:
                            return  # more bytes of the character to come
                        self.pending = ""
                        yield from _literal(pending)
                        return
                    self.pending = ""
                    yield from _spread(shown, pending)
                return
        else:
            if char in "&%":
                self.pending = char
                return
            yield char, char
            return
        self.pending = ""  # not an escape: its characters as they are, then this one read afresh
        yield from _literal(pending[:-1])
        yield from self._decoded(char)

    def _read(self, char: str, raw: str) -> Iterator[tuple[str, str]]:
        if self.skip:  # a link's target is markup: it neither makes nor breaks a run
            self.skipped += 1
            if char.isspace() or self.skipped > MAX_TARGET:
                self.skip = ""  # not a target after all: read on as text
            else:
                self.raw += raw
                if char == self.skip:
                    self.skip = ""
                return
        if self.last == "]" and char in "([":  # "[word](url)", "![word](url)", "[word][ref]"
            self.last, self.skip, self.skipped, self.lower = char, ")" if char == "(" else "]", 0, False
            self.raw += raw
            return
        if char.isupper() and self.lower and self.word:  # CamelCase: "TheVault" is two words
            yield from self._end_word()
        self.last, self.lower = char, char.islower()
        yield from self._fold(char, raw)

    def _fold(self, char: str, raw: str) -> Iterator[tuple[str, str]]:
        if self.listed:  # "1. " is a list number, "1.5" at a line's start is not
            self.listed = False
            yield from (self._marker_read() if char.isspace() else self._word_read())
        folded = fold(char)
        self.raw += raw
        for piece in folded or "":
            if piece == " ":
                yield from self._end_word()
            else:
                self.word += piece
                self.word_end = len(self.raw)
        if not folded and self.word:  # a mark inside a word stays with it
            self.word_end = len(self.raw)

    def finish(self) -> Iterator[tuple[str, str]]:
        pending, self.pending, self.skip = self.pending, "", ""
        for shown, raw in _literal(pending):
            yield from self._read(shown, raw)
        if self.listed:
            self.listed = False
            yield from self._word_read()
        yield from self._end_word()
        yield from self._flush_letters()

    def tail(self) -> str:
        """Raw text after the last word (given out at the end)."""
        tail, self.raw = self.raw, ""
        return tail

    def _end_word(self) -> Iterator[tuple[str, str]]:
        if not self.word:
            return
        marker = self._marker()
        if marker == "listed":
            self.listed = True  # the next character decides
        elif marker == "cited":
            yield from self._marker_read()
        else:
            yield from self._word_read()

    def _marker_read(self) -> Iterator[tuple[str, str]]:
        # The marker with the character that closes it, so a redaction never splits its brackets.
        end = self.word_end + 1
        raw, self.raw, self.word, self.word_end = self.raw[:end], self.raw[end:], "", 0
        yield from self._flush_letters()
        yield "", raw

    def _word_read(self) -> Iterator[tuple[str, str]]:
        self.started = True
        word, raw = self.word, self.raw[: self.word_end]
        self.raw, self.word, self.word_end = self.raw[self.word_end :], "", 0
        if word == "s" and len(raw) == 2 and raw[0] in APOSTROPHES:  # a possessive: "vault's" is "vault"
            yield from self._flush_letters()
            yield "", raw
            return
        if len(word) != 1 or SCRIPT_RUN.match(word):
            yield from self._flush_letters()
            yield word, raw
            return
        # A spelled-out word: its letters share the weakest separator; a stronger one ends the word.
        strength = _strength(raw)
        if len(self.letters) >= 2:
            group = _strength(self.letters[-1][1])
            if strength > group:
                yield from self._flush_letters()
            elif strength < group:
                last = self.letters.pop()
                yield from self._flush_letters()
                self.letters.append(last)
        self.letters.append((word, raw))
        if len(self.letters) >= MAX_SPELLED:
            yield from self._flush_letters()

    def _marker(self) -> str:
        """Whether the word just read is a citation marker's number (`cited`: `]` or `,` closes it after
        `[`), may be a list item's (`listed`: `.` or `)` closes it at a line's start), or is a word ('')."""
        closing = self.raw[self.word_end : self.word_end + 1]
        if not (self.word.isdigit() and len(self.word) <= MARKER_DIGITS and closing):
            self.citing = False
            return ""
        sep = separator(self.raw[: self.word_end])
        cited = sep.rstrip().endswith(("[", "[^")) or (self.citing and not sep.strip())  # "[1", "[1, 2"
        self.citing = cited and closing == ","
        if cited and closing in "],":
            return "cited"
        line_start = sep.rsplit("\n", 1)[-1] if "\n" in sep or not self.started else "x"
        return "listed" if line_start.strip().lstrip("(") == "" and closing in ".)" else ""

    def _flush_letters(self) -> Iterator[tuple[str, str]]:
        letters, self.letters = self.letters, []
        if len(letters) >= LETTER_RUN:
            yield "".join(w for w, _ in letters), "".join(r for _, r in letters)
        else:
            yield from letters


def _spread(shown: str, raw: str) -> Iterator[tuple[str, str]]:
    """The characters of a decoded escape, its raw text going with the first."""
    for number, char in enumerate(shown):
        yield char, raw if number == 0 else ""


def _literal(raw: str) -> Iterator[tuple[str, str]]:
    for char in raw:
        yield char, char


def separator(raw: str) -> str:
    """The punctuation and space before a word (the start of its raw text)."""
    return raw[: next((i for i, c in enumerate(raw) if fold(c).strip()), len(raw))]


def _strength(raw: str) -> tuple[int, bool, int, int]:
    """How strongly the separator before a word breaks words."""
    sep = separator(raw)
    return sep.count("\n"), any(c in ",;/|" for c in sep), sum(c.isspace() for c in sep), len(sep)


_JSON_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
UNESCAPE_ROUNDS = 3  # JSON in JSON in JSON: deeper nesting is not text a user reads


def unescaped(text: str) -> str:
    """`text` with JSON string escapes (`\\u0054`, surrogate pairs, `\\n`, `\\"`) decoded, again for
    escapes that decoding revealed (JSON written into a JSON string), up to `UNESCAPE_ROUNDS` times; text
    without a backslash is returned as it is. Lone surrogates are dropped."""

    def one(match: re.Match[str]) -> str:
        code, simple = match.groups()
        return chr(int(code, 16)) if code is not None else _SIMPLE_ESCAPES[simple]

    for _ in range(UNESCAPE_ROUNDS):
        if "\\" not in text:
            break
        decoded = _JSON_ESCAPE.sub(one, text)
        # Pairs of \uD8xx\uDCxx decode to two surrogates: join them into the character they spell.
        decoded = decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        if decoded == text:
            break
        text = decoded
    return storable(text)
