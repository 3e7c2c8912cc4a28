"""Chunks stay within the token budget, overlap, and break at headings, paragraphs, sentences, then words."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from core.tokens import count_tokens, get_encoding, seed_tiktoken_cache
from retrieval.chunking import Chunk, chunk_and_count, chunk_document, chunk_groups
from retrieval.parsing import Section

WORDS = (
    "the retrieval index stores every uploaded document as chunks with page numbers and headings so "
    "answers can cite their sources Straße über Größe Þórsmörk jökull fjörður café naïve 東京 データ"
).split()


@pytest.fixture(scope="module", autouse=True)
def tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_tiktoken_cache(tmp_path_factory.mktemp("tiktoken"))


def prose(paragraphs: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(2, 6)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 20))]
            sentences.append(" ".join(words).capitalize() + rng.choice(".?!"))
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def section_of(chunk: Chunk, sections: list[Section]) -> Section:
    (section,) = [s for s in sections if (s.page, s.heading) == (chunk.page, chunk.heading)]
    return section


@pytest.mark.parametrize("encoding_name", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(16, 4), (64, 16), (200, 0), (800, 400)])
def test_chunks_never_exceed_the_chunk_size(chunk_size: int, chunk_overlap: int, encoding_name: str) -> None:
    sections = [Section(prose(150, seed=7))]
    chunks = chunk_document(
        sections, chunk_size=chunk_size, chunk_overlap=chunk_overlap, encoding_name=encoding_name
    )
    assert len(chunks) > 1
    for chunk in chunks:
        assert count_tokens(chunk.text, encoding_name) == chunk.token_count <= chunk_size
        assert chunk.text.strip()
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


def test_chunks_point_at_their_text_in_the_section() -> None:
    sections = [Section(prose(40, seed=2), page=3, heading="Results")]
    for chunk in chunk_document(sections, chunk_size=50, chunk_overlap=10):
        assert sections[0].text[chunk.char_start : chunk.char_end] == chunk.text
        assert (chunk.page, chunk.heading) == (3, "Results")


def test_consecutive_chunks_overlap_by_about_the_overlap() -> None:
    text = prose(60, seed=3)
    chunks = chunk_document([Section(text)], chunk_size=100, chunk_overlap=30)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.char_start < before.char_end
        shared = count_tokens(text[after.char_start : before.char_end])
        assert 15 - 2 <= shared <= 45 + 2  # within half the overlap of the target, to start at a sentence
    whole = chunk_document([Section(text)], chunk_size=100, chunk_overlap=0)
    assert all(a.char_end <= b.char_start for a, b in zip(whole, whole[1:], strict=False))


def test_the_whole_text_is_covered() -> None:
    text = prose(30, seed=4)
    chunks = chunk_document([Section(text)], chunk_size=40, chunk_overlap=8)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.char_start, chunk.char_end))
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


def test_sections_start_new_chunks_and_keep_their_page_and_heading() -> None:
    sections = [
        Section("Short intro.", page=1),
        Section(prose(10, seed=5), page=1, heading="Install"),
        Section(prose(10, seed=6), page=2, heading="Install > Linux"),
        Section("   \n  ", page=2, heading="Empty"),
        Section("Last words.", page=3, heading="Usage"),
    ]
    chunks = chunk_document(sections, chunk_size=60, chunk_overlap=10)
    assert chunks[0].text == "Short intro."
    assert chunks[-1].text == "Last words."
    assert {(c.page, c.heading) for c in chunks} == {
        (1, None),
        (1, "Install"),
        (2, "Install > Linux"),
        (3, "Usage"),
    }
    for chunk in chunks:
        assert section_of(chunk, sections).text[chunk.char_start : chunk.char_end] == chunk.text


def test_chunks_end_at_paragraphs_when_paragraphs_fit() -> None:
    paragraphs = [f"Paragraph {i} " + " ".join(["word"] * 20) + "." for i in range(30)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_document([Section(text)], chunk_size=100, chunk_overlap=0)
    for chunk in chunks:
        assert chunk.text.strip().startswith("Paragraph")
        assert chunk.text.rstrip().endswith(".")


def test_chunks_end_at_sentences_inside_a_long_paragraph() -> None:
    text = " ".join(f"Sentence number {i} has a few more words in it." for i in range(200))
    chunks = chunk_document([Section(text)], chunk_size=60, chunk_overlap=20)
    for chunk in chunks[:-1]:
        assert chunk.text.rstrip().endswith(".")
    for chunk in chunks:
        assert chunk.text.strip().startswith("Sentence")


def test_words_are_never_split() -> None:
    rng = random.Random(8)
    text = " ".join(rng.choice(WORDS) for _ in range(3000))  # no punctuation, no line breaks
    for chunk in chunk_document([Section(text)], chunk_size=23, chunk_overlap=5):
        assert set(chunk.text.split()) <= set(WORDS)
        assert chunk.char_start == 0 or text[chunk.char_start - 1] == " " or text[chunk.char_start] == " "
        assert chunk.char_end == len(text) or text[chunk.char_end] == " "


def test_a_word_longer_than_a_chunk_is_split() -> None:
    blob = "QmFzZTY0IGVuY29kZWQgZGF0YQ" * 40
    text = f"Before the blob. {blob} After the blob."
    chunks = chunk_document([Section(text)], chunk_size=20, chunk_overlap=0)
    assert all(count_tokens(chunk.text) <= 20 for chunk in chunks)
    assert chunks[0].text == "Before the blob."
    assert chunks[-1].text.endswith("After the blob.")
    assert "".join(chunk.text.strip() for chunk in chunks if blob.find(chunk.text.strip()) >= 0) in blob


def test_multibyte_text_is_cut_between_characters() -> None:
    text = "東京のデータ。" * 300 + "\n\n" + "Þórsmörk jökull fjörður. " * 100
    chunks = chunk_document([Section(text)], chunk_size=30, chunk_overlap=5)
    for chunk in chunks:
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert "\ufffd" not in chunk.text
        assert count_tokens(chunk.text) <= 30


def test_empty_input_gives_no_chunks() -> None:
    assert chunk_document([], chunk_size=100, chunk_overlap=10) == []
    assert chunk_document([Section(" \n\n ")], chunk_size=100, chunk_overlap=10) == []


@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(3, 0), (100, 100), (100, -1)])
def test_impossible_sizes_are_rejected(chunk_size: int, chunk_overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document([Section("text")], chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def test_chunking_costs_about_one_encode() -> None:
    text = prose(4000, seed=9)  # about 1.5 MB
    encoding = get_encoding("cl100k_base")
    chunk_document([Section(text[:1000])], chunk_size=512, chunk_overlap=64)  # build lookup tables once

    def best_of_three(work) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    encode = best_of_three(lambda: encoding.encode(text))
    chunk = best_of_three(lambda: chunk_document([Section(text)], chunk_size=512, chunk_overlap=64))
    # Generous so that a busy machine does not fail it; quadratic re-encoding would be far slower.
    assert chunk < 4 * encode, (chunk, encode)
    assert len(re.findall(r"\S+", text)) > 100_000


@pytest.mark.parametrize("group_chars", [1, 500, 5_000])
def test_chunk_groups_give_the_chunks_of_one_pass(group_chars: int) -> None:
    rng = random.Random(group_chars)
    sections = [
        Section(
            text="\n\n".join(
                " ".join(rng.choice(["harbour", "fee", "März", "发票", "a" * 30, "line\n"]) for _ in range(n))
                for n in (rng.randint(0, 60), rng.randint(1, 400))
            ),
            page=i // 3 or None,
            heading=f"Part {i}",
            header="| a | b |" if i % 4 == 0 else None,
        )
        for i in range(40)
    ]
    sections.insert(7, Section(text="   \n\n  ", page=None, heading=None))  # no chunk at all
    whole, tokens = chunk_and_count(sections, chunk_size=64, chunk_overlap=16)
    groups = list(chunk_groups(sections, chunk_size=64, chunk_overlap=16, group_chars=group_chars))
    assert len(groups) > 1
    assert [c for group, _ in groups for c in group] == whole
    assert sum(n for _, n in groups) == tokens
    assert [c.index for c in whole] == list(range(len(whole)))


def test_chunk_groups_of_nothing_is_one_empty_group() -> None:
    assert list(chunk_groups([], chunk_size=64, chunk_overlap=16)) == [([], 0)]
