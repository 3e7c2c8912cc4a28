"""Token-aware chunking: split parsed sections into overlapping chunks of at most `chunk_size` tokens.

Each section is encoded once. Cut points are then chosen on the token sequence, preferring a blank line,
then a line break, then a sentence end, then a space between words; a word is split only when it alone is
longer than a chunk. The kind of break before every token is computed from per-token lookup tables with
numpy, so chunking costs about one tiktoken encode of the text; only a chunk cut inside an over-long word
is encoded again. semchunk was measured first: about 0.3x tiktoken's speed, and with overlap some of its
chunks exceed the chunk size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import tiktoken

from core.tokens import get_encoding
from retrieval.parsing import Section

# Break kinds before a token, best first; a chunk ends at the best kind found in the back half of its window.
PARAGRAPH, LINE, SENTENCE, WORD, TOKEN, INSIDE_CHARACTER = 4, 3, 2, 1, 0, -1

# Characters of whole sections cut at a time by `chunk_groups`: large enough that tiktoken's threads and
# the numpy passes pay off (`_encode_all` threads from 64 KiB), small enough that a 1 MB file's first
# chunks are written while the rest are cut.
GROUP_CHARS = 1 << 17
_SURROGATES = re.compile("[\ud800-\udfff]")
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
_SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")
_CLOSERS = "\"')]}”’»"
# Full-width sentence ends need no following space.
_CJK_SENTENCE_ENDS = ("。", "！", "？")


@dataclass
class Chunk:
    """A chunk of a section: `text` is `section.text[char_start:char_end]`, after the section's table
    header row and a line break when the chunk does not start the section."""

    text: str
    token_count: int
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    index: int


@dataclass(frozen=True)
class _TokenTables:
    chars: np.ndarray  # characters that start in the token
    inside_char: np.ndarray  # the token starts in the middle of a UTF-8 character
    all_space: np.ndarray
    lead_space: np.ndarray
    trail_space: np.ndarray
    lead_newlines: np.ndarray  # newlines in the leading whitespace, at most 2
    trail_newlines: np.ndarray  # newlines in the trailing whitespace, at most 2
    sentence_end: np.ndarray  # ends (before trailing whitespace) with . ! ? and maybe a closing quote
    cjk_sentence_end: np.ndarray


@lru_cache
def _token_tables(encoding_name: str) -> _TokenTables:
    enc = get_encoding(encoding_name)
    size = enc.max_token_value + 1
    chars = np.zeros(size, np.int64)
    flags = {name: np.zeros(size, bool) for name in ("inside", "all", "lead", "trail", "sent", "cjk")}
    lead_nl = np.zeros(size, np.int8)
    trail_nl = np.zeros(size, np.int8)
    for token in range(size):
        try:
            data = enc.decode_single_token_bytes(token)
        except KeyError:  # unused ids between the vocabulary and the special tokens
            continue
        if not data:
            continue
        chars[token] = sum(1 for byte in data if not 0x80 <= byte < 0xC0)
        flags["inside"][token] = 0x80 <= data[0] < 0xC0
        flags["lead"][token] = data[0] in _WHITESPACE
        flags["trail"][token] = data[-1] in _WHITESPACE
        stripped_end = data.rstrip(b" \t\n\r\x0b\x0c")
        stripped_start = data.lstrip(b" \t\n\r\x0b\x0c")
        flags["all"][token] = not stripped_end
        lead_nl[token] = min(data[: len(data) - len(stripped_start)].count(b"\n"), 2)
        trail_nl[token] = min(data[len(stripped_end) :].count(b"\n"), 2)
        tail = stripped_end.decode("utf-8", errors="ignore").rstrip(_CLOSERS)
        flags["sent"][token] = tail.endswith(_SENTENCE_ENDS)
        flags["cjk"][token] = tail.endswith(_CJK_SENTENCE_ENDS)
    return _TokenTables(
        chars=chars,
        inside_char=flags["inside"],
        all_space=flags["all"],
        lead_space=flags["lead"],
        trail_space=flags["trail"],
        lead_newlines=lead_nl,
        trail_newlines=trail_nl,
        sentence_end=flags["sent"],
        cjk_sentence_end=flags["cjk"],
    )


def _break_kinds(tokens: np.ndarray, tables: _TokenTables) -> np.ndarray:
    """The kind of break before each token (index 0 has no token before it and gets TOKEN)."""
    kinds = np.full(len(tokens), TOKEN, np.int8)
    if len(tokens) < 2:
        return kinds
    cur = tokens[1:]
    prev = tokens[:-1]
    # When the previous token is only whitespace, the text before the break ends one token earlier.
    prev_prev = np.concatenate(([prev[0]], tokens[:-2]))
    prev_is_space = tables.all_space[prev]
    newlines = tables.trail_newlines[prev] + tables.lead_newlines[cur]
    newlines = newlines + np.where(prev_is_space, tables.trail_newlines[prev_prev], 0)
    spaced = tables.trail_space[prev] | tables.lead_space[cur]
    text_before = np.where(prev_is_space, prev_prev, prev)
    sentence = (spaced & tables.sentence_end[text_before]) | tables.cjk_sentence_end[prev]
    rest = kinds[1:]
    rest[spaced] = WORD
    rest[sentence] = SENTENCE
    rest[newlines >= 1] = LINE
    rest[newlines >= 2] = PARAGRAPH
    rest[tables.inside_char[cur]] = INSIDE_CHARACTER
    return kinds


class _Cutter:
    """Chooses chunk ends and overlap starts by the kind of break before each token."""

    def __init__(self, kinds: np.ndarray) -> None:
        # Sorted positions whose break is at least as good as each kind.
        wanted = (PARAGRAPH, LINE, SENTENCE, WORD, TOKEN)
        self.at_least = {kind: np.flatnonzero(kinds >= kind) for kind in wanted}

    def last(self, kind: int, lo: int, hi: int) -> int | None:
        """The last break of at least `kind` in [lo, hi]."""
        positions = self.at_least[kind]
        i = int(np.searchsorted(positions, hi, side="right")) - 1
        return int(positions[i]) if i >= 0 and positions[i] >= lo else None

    def nearest(self, kind: int, target: int, lo: int, hi: int) -> int | None:
        """The break of at least `kind` in [lo, hi] closest to `target`."""
        positions = self.at_least[kind]
        i = int(np.searchsorted(positions, target))
        near = [int(positions[j]) for j in (i - 1, i) if 0 <= j < len(positions)]
        near = [position for position in near if lo <= position <= hi]
        return min(near, key=lambda position: abs(position - target)) if near else None

    def end(self, start: int, limit: int, earliest: int, chunk_size: int) -> tuple[int, int]:
        """Where a chunk ends, and the kind of break there: the best break in its back half."""
        half = max(earliest, start + chunk_size // 2)
        for kind in (PARAGRAPH, LINE, SENTENCE, WORD):
            if (cut := self.last(kind, half, limit)) is not None:
                return cut, kind
        if (cut := self.last(WORD, earliest, limit)) is not None:
            return cut, WORD
        # A word longer than the chunk: split it between tokens (never inside a character).
        return (self.last(TOKEN, earliest, limit) or limit), TOKEN

    def overlap_start(self, start: int, end: int, overlap: int) -> int:
        """Where the next chunk starts: about `overlap` tokens before `end`, at the best break nearby."""
        if overlap <= 0:
            return end
        target = end - overlap
        lo = max(start + 1, target - overlap // 2)
        hi = max(lo, end - max(1, overlap // 2))
        for kind in (PARAGRAPH, LINE, SENTENCE, WORD):
            if (begin := self.nearest(kind, target, lo, hi)) is not None:
                return begin
        begin = self.nearest(WORD, target, start + 1, end - 1)
        return end if begin is None else begin


def chunk_document(
    sections: list[Section],
    *,
    chunk_size: int,
    chunk_overlap: int,
    encoding_name: str = "cl100k_base",
) -> list[Chunk]:
    """Split sections into chunks of at most `chunk_size` tokens that overlap by about `chunk_overlap`."""
    return chunk_and_count(
        sections, chunk_size=chunk_size, chunk_overlap=chunk_overlap, encoding_name=encoding_name
    )[0]


def chunk_and_count(
    sections: list[Section],
    *,
    chunk_size: int,
    chunk_overlap: int,
    encoding_name: str = "cl100k_base",
) -> tuple[list[Chunk], int]:
    """`chunk_document`, plus the exact token count of the sections (from the same encoding pass)."""
    chunks: list[Chunk] = []
    tokens = 0
    for group, group_tokens in chunk_groups(
        sections, chunk_size=chunk_size, chunk_overlap=chunk_overlap, encoding_name=encoding_name
    ):
        chunks += group
        tokens += group_tokens
    return chunks, tokens


def chunk_groups(
    sections: list[Section],
    *,
    chunk_size: int,
    chunk_overlap: int,
    encoding_name: str = "cl100k_base",
    group_chars: int = GROUP_CHARS,
) -> Iterator[tuple[list[Chunk], int]]:
    """The chunks of `chunk_document` in order, a run of whole sections of about `group_chars` characters
    at a time, each with the token count of its sections: ingestion writes the first chunks of a large file
    while the rest are cut (retrieval.child_tasks). No chunk spans two sections, so the groups change
    nothing: the chunks and their `index` are those of one pass over all sections."""
    if chunk_size < 4:  # one character can take up to 4 byte tokens, and is never split
        raise ValueError("chunk_size must be at least 4")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError("chunk_overlap must be at least 0 and smaller than chunk_size")
    enc = get_encoding(encoding_name)
    tables = _token_tables(encoding_name)
    first = 0
    group: list[Section] = []
    size = 0
    for section in sections:
        group.append(section)
        size += len(section.text)
        if size >= group_chars:
            chunks, tokens = _chunk_group(enc, tables, group, chunk_size, chunk_overlap, first)
            yield chunks, tokens
            first += len(chunks)
            group, size = [], 0
    if group or not first:
        yield _chunk_group(enc, tables, group, chunk_size, chunk_overlap, first)


def _chunk_group(
    enc: tiktoken.Encoding,
    tables: _TokenTables,
    sections: list[Section],
    chunk_size: int,
    chunk_overlap: int,
    first: int,
) -> tuple[list[Chunk], int]:
    """The chunks of `sections` numbered from `first`, and the sections' token count."""
    texts = [_without_surrogates(section.text) for section in sections]
    encoded = _encode_all(enc, texts)
    # All sections in one array, so the per-token work is a few numpy passes however many sections there
    # are; a break is never looked up at a section's first token, so the joins do not matter.
    tokens = np.concatenate(encoded) if encoded else np.zeros(0, np.uint32)
    space = tables.all_space[tokens]
    kinds = _break_kinds(tokens, tables)
    cutter = _Cutter(kinds)
    # Character offset of each token start: tiktoken tokens are bytes, the section text is characters.
    offsets = np.zeros(len(tokens) + 1, np.int64)
    np.cumsum(tables.chars[tokens], out=offsets[1:])
    chunks: list[Chunk] = []
    begin = 0
    for section, text, section_tokens in zip(sections, texts, encoded, strict=True):
        stop = begin + len(section_tokens)
        base = int(offsets[begin])
        header, header_tokens = _repeated_header(enc, section, chunk_size)
        size = chunk_size - header_tokens
        spans = _cut_section(cutter, kinds, space, begin, stop, size, min(chunk_overlap, size - 1))
        for start, end, at_words in spans:
            char_start, char_end = int(offsets[start]) - base, int(offsets[end]) - base
            # The chunk is exactly the text of tokens[start:end]. Cut between words, it encodes to the
            # same tokens (so it keeps the whitespace a break leaves with " word" or ".\n\n"); cut
            # inside an overlong word, it may encode differently and is counted again.
            token_count = end - start
            while not at_words:
                token_count = len(enc.encode_ordinary(text[char_start:char_end]))
                if token_count <= size:
                    break
                end -= 1
                while end > start + 1 and tables.inside_char[tokens[end]]:
                    end -= 1
                char_end = int(offsets[end]) - base
            chunk_text = text[char_start:char_end]
            if header and char_start > 0:
                chunk_text = f"{header}\n{chunk_text}"
                token_count = len(enc.encode_ordinary(chunk_text))
            chunks.append(
                Chunk(
                    text=chunk_text,
                    token_count=token_count,
                    page=section.page,
                    heading=section.heading,
                    char_start=char_start,
                    char_end=char_end,
                    index=first + len(chunks),
                )
            )
        begin = stop
    return chunks, sum(len(tokens) for tokens in encoded)


def _repeated_header(enc: tiktoken.Encoding, section: Section, chunk_size: int) -> tuple[str | None, int]:
    """The table header row repeated atop each further chunk of `section`, and the tokens it reserves.

    The reserve is its token count plus one, as the header and the rows may merge differently at the
    line break. A header longer than a quarter of the chunk is not repeated: the rows would get no room.
    """
    if not section.header:
        return None, 0
    header = _without_surrogates(section.header)
    reserve = len(enc.encode_ordinary(f"{header}\n")) + 1
    if reserve > chunk_size // 4:
        return None, 0
    return header, reserve


def _without_surrogates(text: str) -> str:
    # Lone surrogates cannot be encoded to UTF-8; same-length replacement keeps offsets valid.
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def _encode_all(enc: tiktoken.Encoding, texts: list[str]) -> list[np.ndarray]:
    def encode(text: str) -> np.ndarray:
        return enc.encode_to_numpy(text, disallowed_special=())

    if len(texts) < 2 or sum(map(len, texts)) < 1 << 16:
        return [encode(text) for text in texts]
    # tiktoken releases the GIL while encoding, so sections are encoded on several threads.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(encode, texts))


def _cut_section(
    cutter: _Cutter,
    kinds: np.ndarray,
    space: np.ndarray,
    begin: int,
    stop: int,
    chunk_size: int,
    overlap: int,
) -> list[tuple[int, int, bool]]:
    """Token spans [start, end) of the chunks of the section at tokens[begin:stop], without whitespace
    tokens at either end, and whether both ends are between words."""
    text_tokens = np.flatnonzero(~space[begin:stop])
    if not len(text_tokens):
        return []
    count = begin + int(text_tokens[-1]) + 1  # trailing whitespace never starts or extends a chunk
    spans: list[tuple[int, int, bool]] = []
    start = previous_end = begin
    while start < count:
        while start < count and space[start]:
            start += 1
        if start >= count:
            break
        if start + chunk_size >= count:
            end = count
        else:
            # A chunk must reach past the previous one, or it would add nothing new.
            end, kind = cutter.end(start, start + chunk_size, max(start, previous_end) + 1, chunk_size)
            if kind == TOKEN and start < previous_end:
                # Overlap left no room for the next word: drop the overlap rather than split the word.
                start = previous_end
                continue
        last = end
        while last > start and space[last - 1]:
            last -= 1
        if last > start and (not spans or last > spans[-1][1]):  # else it would add no new text
            at_words = (start == begin or kinds[start] >= WORD) and (last >= count or kinds[last] >= WORD)
            spans.append((start, last, bool(at_words)))
        if end >= count:
            break
        start, previous_end = cutter.overlap_start(start, end, overlap), end
    return spans
