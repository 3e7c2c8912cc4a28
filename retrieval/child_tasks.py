"""The work a parse child does (see `retrieval.isolation`): each task reads its file from disk itself and
returns a bounded result, so the server never holds a hostile file's inflated copy.

Before the expensive steps, cheap bounds refuse what is certainly too large:

- an Office file whose declared member sizes say that python-docx/python-pptx would need more memory than
  the child may use (they load every part, and build an XML tree no smaller than each XML part);
- parsed text with more words than the token limit allows, before tokenising: tiktoken's pre-tokeniser
  never joins two whitespace-separated words into one token, so the word count is a lower bound of the
  token count.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.archives import ARCHIVE_ERRORS
from core.tokens import get_encoding, seed_tiktoken_cache
from retrieval.chunking import Chunk, chunk_groups
from retrieval.parsing import DOCX, PPTX, ParseError, Section, detect_media_type, parse_document

# ASCII whitespace: every byte here is `\s` for tiktoken's pre-tokeniser. Other spaces (NBSP, U+3000) count
# as word characters, which only lowers the count and keeps it a lower bound.
_SPACE = np.zeros(256, bool)
_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20]] = True
_WORD_SLICE = 1 << 22  # characters encoded at a time: bounds the memory of the count
# Formats whose reader loads every member into memory and every XML member into a tree.
_DOM_FORMATS = (DOCX, PPTX)


@dataclass(frozen=True)
class FileLimits:
    """What a file may cost: the zip-bomb guards, the token limit and the child's memory (bytes)."""

    max_uncompressed_bytes: int
    max_compression_ratio: int
    max_file_tokens: int
    memory_bytes: int
    tiktoken_cache: str


@dataclass
class PreparedFile:
    media_type: str
    chunks: list[Chunk]
    token_count: int
    warning: str | None = None  # what the parser could not read (`ParsedDocument.warning`)


@dataclass
class PreparedPart:
    """A run of a file's chunks, in order (`prepare_file_parts`). The file's media type and parser warning
    come with every part; the last part has no chunks, `last` set and the file's whole `token_count`."""

    media_type: str
    chunks: list[Chunk]
    token_count: int  # of the file's sections so far
    warning: str | None = None
    last: bool = False


def prepare_file_parts(
    path: str, filename: str, chunk_size: int, chunk_overlap: int, limits: FileLimits
) -> Iterator[PreparedPart]:
    """Parse and chunk the file at `path`, a run of sections at a time (`retrieval.chunking.chunk_groups`),
    so ingestion writes the first chunks while the rest are cut; `ParseError` (too_large, ...) for what
    cannot be indexed. The token limit is checked as the count grows: a file over it stops at the first
    part past the limit."""
    if not get_encoding.cache_info().currsize:  # not loaded by the forkserver's preload
        seed_tiktoken_cache(Path(limits.tiktoken_cache))
    data = Path(path).read_bytes()
    media_type = detect_media_type(data, filename)
    if media_type in _DOM_FORMATS:
        check_reader_memory(data, limits.memory_bytes)
    parsed = parse_document(
        data,
        filename,
        max_uncompressed_bytes=limits.max_uncompressed_bytes,
        max_compression_ratio=limits.max_compression_ratio,
    )
    del data
    words = count_section_words(parsed.sections)
    if words > limits.max_file_tokens:
        raise ParseError(
            "too_large",
            f"The file has more than {words:,} tokens (at least one per word); "
            f"the limit is {limits.max_file_tokens:,}",
        )
    tokens = 0
    for chunks, group_tokens in chunk_groups(
        parsed.sections, chunk_size=chunk_size, chunk_overlap=chunk_overlap
    ):
        tokens += group_tokens
        if tokens > limits.max_file_tokens:
            raise ParseError(
                "too_large", f"The file has over {tokens:,} tokens; the limit is {limits.max_file_tokens:,}"
            )
        if chunks:
            yield PreparedPart(parsed.media_type, chunks, tokens, parsed.warning)
    yield PreparedPart(parsed.media_type, [], tokens, parsed.warning, last=True)


def sniff_media_type(path: str, filename: str) -> str:
    """The media type judged from the content of the file at `path`; octet-stream when unsupported."""
    try:
        return detect_media_type(Path(path).read_bytes(), filename)
    except ParseError:  # unsupported: the job ends the file `failed` with the reason
        return "application/octet-stream"


def check_reader_memory(data: bytes, memory_bytes: int) -> None:
    """Refuse an Office file whose reader certainly needs more than `memory_bytes`, before inflating it.

    The floor is the file itself, every member (python-docx and python-pptx read all parts) and once more
    every XML member (its lxml tree holds at least its text and a node per element).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except ARCHIVE_ERRORS:
        return  # the parser names the damage
    xml = sum(m.file_size for m in members if m.filename.endswith((".xml", ".rels")))
    floor = len(data) + sum(m.file_size for m in members) + xml
    if floor > memory_bytes:
        raise ParseError(
            "too_large",
            f"Reading this file needs at least {floor // (1 << 20):,} MB (its parts unpack to "
            f"{(floor - len(data) - xml) // (1 << 20):,} MB); the limit is {memory_bytes // (1 << 20):,} MB.",
        )


def count_words(text: str) -> int:
    """Runs of non-whitespace characters in `text`: a lower bound of its tiktoken token count."""
    words, after_space = 0, True
    for start in range(0, len(text), _WORD_SLICE):
        raw = np.frombuffer(text[start : start + _WORD_SLICE].encode("utf-8", "surrogatepass"), np.uint8)
        if not len(raw):
            continue
        space = _SPACE[raw]
        words += int(np.count_nonzero(space[:-1] & ~space[1:])) + int(after_space and not space[0])
        after_space = bool(space[-1])
    return words


def count_section_words(sections: list[Section]) -> int:
    return sum(count_words(section.text) for section in sections)
