"""GPT drafts over HTTP: plans, ownership, validation that names each field and applies nothing."""

from tests.factories import auth_headers, create_user


async def test_free_plan_cannot_create_and_gets_the_needed_plan(client, session, settings):
    free = auth_headers(await create_user(session, settings, plan="free"), settings)
    response = await client.post("/api/gpts", headers=free)
    assert response.status_code == 403
    assert "'plus' or 'team'" in response.json()["detail"]


async def test_create_read_list_update_delete(client, creator_headers):
    created = await client.post(
        "/api/gpts",
        json={"name": "Fjord Guide", "conversation_starters": ["Best fjord in May?"]},
        headers=creator_headers,
    )
    assert created.status_code == 201
    gpt = created.json()
    assert gpt["name"] == "Fjord Guide"
    assert gpt["retrieval"] == {"chunk_size": 256, "chunk_overlap": 64, "top_k": 6, "score_threshold": 0.35}
    assert set(gpt["capabilities"]) == {"knowledge_retrieval", "citations"}
    listed = (await client.get("/api/gpts", headers=creator_headers)).json()["data"]
    assert [g["id"] for g in listed] == [gpt["id"]]
    patched = await client.patch(
        f"/api/gpts/{gpt['id']}",
        json={"description": "Plans fjord trips.", "category": "lifestyle", "retrieval": {"top_k": 4}},
        headers=creator_headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["description"], body["category"], body["retrieval"]["top_k"]) == (
        "Plans fjord trips.",
        "lifestyle",
        4,
    )
    assert body["name"] == "Fjord Guide"
    assert (await client.delete(f"/api/gpts/{gpt['id']}", headers=creator_headers)).status_code == 204
    assert (await client.get(f"/api/gpts/{gpt['id']}", headers=creator_headers)).status_code == 404


async def test_patch_names_every_bad_field_and_applies_nothing(client, creator_headers):
    gpt = (await client.post("/api/gpts", json={"name": "Keep me"}, headers=creator_headers)).json()
    response = await client.patch(
        f"/api/gpts/{gpt['id']}",
        json={"name": "x" * 65, "conversation_starters": ["a", "b", "c", "d", "e"], "description": "fine"},
        headers=creator_headers,
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "conversation_starters"}
    after = (await client.get(f"/api/gpts/{gpt['id']}", headers=creator_headers)).json()
    assert after["name"] == "Keep me" and after["description"] == ""


async def test_unknown_category_and_overlap_rules(client, creator_headers):
    gpt = (await client.post("/api/gpts", headers=creator_headers)).json()
    bad_category = await client.patch(
        f"/api/gpts/{gpt['id']}", json={"category": "astrology"}, headers=creator_headers
    )
    assert bad_category.status_code == 422 and bad_category.json()["errors"][0]["field"] == "category"
    bad_overlap = await client.patch(
        f"/api/gpts/{gpt['id']}",
        json={"retrieval": {"chunk_size": 200, "chunk_overlap": 150}},
        headers=creator_headers,
    )
    assert bad_overlap.status_code == 422
    assert bad_overlap.json()["errors"] == [
        {
            "field": "retrieval.chunk_overlap",
            "message": "chunk_overlap must be at most 100, half of chunk_size (200)",
        }
    ]
    ok = await client.patch(
        f"/api/gpts/{gpt['id']}",
        json={"retrieval": {"chunk_size": 400, "chunk_overlap": 100}},
        headers=creator_headers,
    )
    assert ok.json()["retrieval"]["chunk_size"] == 400
    # Sent alone, each is checked against the other as the GPT has it, and the sentence names that limit.
    url = f"/api/gpts/{gpt['id']}"
    for sent, field, message in (
        (
            {"chunk_overlap": 1000},
            "chunk_overlap",
            "chunk_overlap must be at most 200, half of chunk_size (400)",
        ),
        (
            {"chunk_overlap": 3000},
            "chunk_overlap",
            "chunk_overlap must be at most 200, half of chunk_size (400)",
        ),
        ({"chunk_size": 150}, "chunk_size", "chunk_size must be at least 200, twice chunk_overlap (100)"),
    ):
        refused = await client.patch(url, json={"retrieval": sent}, headers=creator_headers)
        assert refused.json()["errors"] == [{"field": f"retrieval.{field}", "message": message}], sent
    big = await client.patch(
        url, json={"retrieval": {"chunk_size": 4096, "chunk_overlap": 2048}}, headers=creator_headers
    )
    assert big.json()["retrieval"]["chunk_overlap"] == 2048


async def test_other_users_get_404(client, creator_headers, session, settings):
    gpt = (await client.post("/api/gpts", headers=creator_headers)).json()
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    for method in ("get", "delete"):
        assert (await getattr(client, method)(f"/api/gpts/{gpt['id']}", headers=other)).status_code == 404
    assert (
        await client.patch(f"/api/gpts/{gpt['id']}", json={"name": "x"}, headers=other)
    ).status_code == 404


async def test_the_list_reads_every_gpts_datasets_in_one_statement(client, creator_headers, connection):
    """`GET /api/gpts` sends as many SQL statements for five GPTs as for one (no query per GPT), and
    each GPT still lists its own datasets, home first."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    async def listed() -> tuple[int, list[dict]]:
        statements.clear()
        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            response = await client.get("/api/gpts", headers=creator_headers)
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert response.status_code == 200
        return len(statements), response.json()["data"]

    first = (await client.post("/api/gpts", json={"name": "One"}, headers=creator_headers)).json()
    one, _ = await listed()
    for name in ("Two", "Three", "Four", "Five"):
        await client.post("/api/gpts", json={"name": name}, headers=creator_headers)
    five, gpts = await listed()
    assert len(gpts) == 5
    assert five == one, "\n".join(statements)
    assert all([d["id"] for d in g["datasets"]] == [g["id"]] and g["datasets"][0]["home"] for g in gpts)
    assert first["id"] in {g["id"] for g in gpts}
