"""The SQL `cjk_bigrams` (migrations 0009 and 0022) that fills `tsv_ngram` agrees with `retrieval.ngrams`,
which builds the queries, on text with and without characters of the scripts it covers."""

import pytest
import sqlalchemy as sa

from retrieval.ngrams import SCRIPT_RUN, bigrams

TEXTS = [
    "",
    "Harbour fees are due in March.",
    "发票原件",
    "请提交发票原件和收据。Invoice originals only.",
    "字",
    "a字b",
    "東京タワーは東京にあります",
    "ภาษาไทย มีสระ",
    "mixed 中文 and ไทย and カナ, twice: 中文",
    "\u4e00\u9fff \u3040\u30ff \uf900\ufaff \u3400\u4dbf \u0e00\u0e7f",  # the ends of every range
    "한국어는 여기에 없다",  # Hangul is written with spaces: not covered
    "x" * 5000 + "漢字",
]


def expected(text: str) -> str:
    return " ".join(pair for run in SCRIPT_RUN.findall(text) for pair in bigrams(run))


@pytest.mark.parametrize("text", TEXTS)
async def test_cjk_bigrams_matches_the_query_side(session, text):
    got = await session.scalar(sa.text("SELECT cjk_bigrams(:text)"), {"text": text})
    assert got == expected(text)


async def test_a_chunk_without_those_scripts_gets_an_empty_ngram_vector(session):
    vector = await session.scalar(
        sa.text("SELECT to_tsvector('simple'::regconfig, cjk_bigrams(:text))::text"),
        {"text": "Only Latin text here, no bigrams."},
    )
    assert vector == ""
