"""Store search (issue #10): nothing matching gives an empty page; a typo in a GPT's name still finds it."""

GPTS = {
    "Fjord Guide": "Plans trips to Norwegian fjords.",
    "Math Tutor": "Explains algebra step by step.",
    "Sourdough Coach": "Keeps your bread starter alive and bubbly.",
}


async def seed(client, headers) -> None:
    for name, description in GPTS.items():
        body = {
            "name": name,
            "description": description,
            "instructions": "Help.",
            "category": "education",
            "conversation_starters": ["Hi"],
        }
        gpt = (await client.post("/api/gpts", json=body, headers=headers)).json()
        url = f"/api/gpts/{gpt['id']}/publish"
        response = await client.post(url, json={"visibility": "public"}, headers=headers)
        assert response.json()["review_status"] == "approved", response.text


async def names_for(client, query: str) -> list[str]:
    page = (await client.get("/api/store/gpts", params={"q": query})).json()
    return [g["name"] for g in page["data"]]


async def test_a_query_that_matches_nothing_gets_an_empty_page(client, creator_headers):
    await seed(client, creator_headers)
    for query in ("xyzzyqwerty", "qqqq zzzz", "quantum chromodynamics lattice gauge theory"):
        page = (await client.get("/api/store/gpts", params={"q": query})).json()
        assert page == {"data": [], "next_cursor": None}, query


async def test_a_typo_in_a_name_still_finds_the_gpt(client, creator_headers):
    await seed(client, creator_headers)
    for query, name in (
        ("Fjord Giude", "Fjord Guide"),
        ("sourdogh coach", "Sourdough Coach"),
        ("Math Tutr", "Math Tutor"),
    ):
        assert (await names_for(client, query))[:1] == [name], query


async def test_words_and_meaning_still_rank_the_right_gpt_first(client, creator_headers):
    await seed(client, creator_headers)
    assert (await names_for(client, "bread starter"))[:1] == ["Sourdough Coach"]
    assert (await names_for(client, "help with equations"))[:1] == ["Math Tutor"]


async def test_words_glued_to_cjk_or_hangul_text_and_korean_parts_find_the_gpt(client, creator_headers):
    """Text where scripts meet without spaces (migration 0030): an identifier written against Japanese or
    Korean, and a Korean word inside a word with its particle, are found as keyword search finds them."""
    await seed(client, creator_headers)
    for name, description in (
        ("請求書ヘルパー", "請求コードはJP-7070です。経費精算を手伝います。"),
        ("발표 도우미", "발표자료를 만들어 드립니다. 양식코드KR-8181입니다."),
    ):
        body = {"name": name, "description": description, "instructions": "Help.", "category": "education",
                "conversation_starters": ["Hi"]}  # fmt: skip
        gpt = (await client.post("/api/gpts", json=body, headers=creator_headers)).json()
        response = await client.post(
            f"/api/gpts/{gpt['id']}/publish", json={"visibility": "public"}, headers=creator_headers
        )
        assert response.json()["review_status"] == "approved", response.text
    for query, name in (
        ("JP-7070", "請求書ヘルパー"),
        ("経費精算", "請求書ヘルパー"),
        ("KR-8181", "발표 도우미"),
        ("발표자료", "발표 도우미"),
        ("양식코드", "발표 도우미"),
    ):
        assert (await names_for(client, query))[:1] == [name], query
