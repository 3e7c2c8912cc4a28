"""The SQL `cjk_bigrams` (migrations 0009, 0022 and 0030) that fills `tsv_ngram` agrees with
`retrieval.ngrams`, which builds the queries, on text with and without characters of the scripts it covers,
and on runs of other characters glued to them."""

import pytest
import sqlalchemy as sa

from retrieval.ngrams import index_terms, separate_scripts

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
    "한국어는 여기에 없다",  # Hangul is written with spaces, but its words carry particles: pairs too
    "발표자료를 보내 주세요",
    "\u1100\u11ff \u3130\u318f \ua960\ua97f \uac00\ud7a3\ud7ff",  # the ends of the Hangul ranges
    "x" * 5000 + "漢字",
    # Runs of other characters glued to these scripts are terms of their own; those between spaces are not.
    "会議は金曜日です。コードはJP-7070です。",
    "…코드KR-8181입니다",
    "ร้านรหัสTH-3030เปิด",
    "x「JP-7070」です",
    "v2.14.3版 and 字 abc 字 and abc字def字ghi",
    "中文,English (abc)字(def) 日本-中国",
    "字\u3000abc字\u00a0x字\ty",  # ideographic, no-break and tab spaces end a run
    "한국어KR 1234 한글",
    "「JP-7070」です、ABC。人々は〇印を(x)付けた",  # CJK punctuation ends a run (the parser splits there)
    "全角ＪＰ－７０７０です，ok！",  # fullwidth letters and digits are no break, fullwidth punctuation is
]


def expected(text: str) -> str:
    return index_terms(text)


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


async def test_glued_identifiers_and_korean_pairs_are_lexemes(session):
    vector = await session.scalar(
        sa.text("SELECT to_tsvector('simple'::regconfig, cjk_bigrams(:text))::text"),
        {"text": "코드KR-8181입니다. 발표자료를"},
    )
    assert "'kr'" in vector and "'-8181'" in vector and "'자료'" in vector
    # The query side cuts the query where the index cuts the text: its identifier becomes a phrase of the
    # same lexemes.
    matches = await session.scalar(
        sa.text(
            "SELECT to_tsvector('simple'::regconfig, cjk_bigrams(:text))"
            " @@ websearch_to_tsquery('simple', :query)"
        ),
        {"text": "コードはJP-7070です", "query": separate_scripts("JP-7070です")},
    )
    assert matches


def test_separate_scripts_cuts_where_scripts_meet():
    assert separate_scripts("コードはJP-7070です。") == "コードは JP-7070 です。"  # `。` is a break
    assert separate_scripts("발표자료를 KR-8181") == "발표자료를 KR-8181"
    assert separate_scripts(separate_scripts("a字b")) == "a 字 b"
