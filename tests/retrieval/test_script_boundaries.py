"""Keyword search where scripts meet without spaces: an identifier glued to Japanese or Korean text is a
term of its own (`コードはJP-7070です`), Korean words are found inside words with particles (`발표자료를`),
and a query glued the same way finds them too (retrieval.ngrams, migration 0030)."""

from __future__ import annotations

from tests.retrieval.test_relevance import new_gpt, search, upload

NOTES = """# 連絡メモ

会議は金曜日です。コードはJP-7070です。よろしくお願いします。

## 한국 지사

발표자료를 오늘 보내 주세요. 이번 분기 코드KR-8181입니다.

## Thai office

ร้านรหัสTH-3030เปิดทุกวัน

## Other

Harbour fees are due in March; invoice RX-1200 is paid.
"""


async def test_identifiers_glued_to_cjk_hangul_and_thai_are_found_by_keyword(
    client, creator_headers, db, settings
):
    gpt_id = await new_gpt(client, creator_headers)
    await upload(client, creator_headers, db, settings, gpt_id, "notes.md", NOTES.encode())
    for code, near in (
        ("JP-7070", "金曜日"),
        ("KR-8181", "발표자료"),
        ("TH-3030", "ร้าน"),
        ("RX-1200", "Harbour"),
    ):
        hits = await search(client, creator_headers, gpt_id, query=code, mode="keyword")
        assert hits and code in hits[0]["text"] and near in hits[0]["text"], code
        assert hits[0]["score"] >= 0.9, code  # an exact hit, as an identifier between spaces
        # Hybrid search keeps it above the answer threshold (0.35), and a question around it finds it too.
        hybrid = await search(client, creator_headers, gpt_id, query=code, k=3)
        assert hybrid and code in hybrid[0]["text"] and hybrid[0]["score"] >= 0.35, code
        question = await search(client, creator_headers, gpt_id, query=f"what is {code}?", mode="keyword")
        assert question and code in question[0]["text"], code
    # The same identifier glued in the query finds it as well.
    glued = await search(client, creator_headers, gpt_id, query="JP-7070です", mode="keyword")
    assert glued and "JP-7070" in glued[0]["text"]
    # A code that is not there is no exact hit: at most its letters match, as between spaces.
    for miss in ("JP-7071", "RX-1201"):
        hits = await search(client, creator_headers, gpt_id, query=miss, mode="keyword")
        assert not hits or hits[0]["score"] < 0.5, miss


async def test_korean_words_are_found_inside_words_with_particles(client, creator_headers, db, settings):
    gpt_id = await new_gpt(client, creator_headers)
    await upload(client, creator_headers, db, settings, gpt_id, "notes.md", NOTES.encode())
    for query in ("발표자료", "발표자료를", "보내", "분기 코드"):
        hits = await search(client, creator_headers, gpt_id, query=query, mode="keyword")
        assert hits and "발표자료를" in hits[0]["text"], query
    # A phrase is matched verbatim: the syllables apart do not make it.
    assert await search(client, creator_headers, gpt_id, query="자료발표", mode="keyword") == []
    # Japanese beside it still works as before.
    assert (
        "金曜日" in (await search(client, creator_headers, gpt_id, query="金曜日", mode="keyword"))[0]["text"]
    )
