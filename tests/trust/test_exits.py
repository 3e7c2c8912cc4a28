"""The other exits: the GPT page, downloads, exports, search and citations hand out no private text."""

from __future__ import annotations

import io
import json
import zipfile

from tests.factories import auth_headers, create_user
from tests.trust.helpers import INSTRUCTIONS, PRIVATE, SCOOP, build_gpt


async def test_the_gpt_page_says_what_is_public(client, creator_headers, db, settings, session):
    gpt = await build_gpt(client, creator_headers, db, settings)
    stranger = auth_headers(await create_user(session, settings), settings)
    for headers in ({}, stranger):
        page = (await client.get(f"/api/store/gpts/{gpt['id']}", headers=headers)).json()
        assert page["instructions"] is None
        trust = page["trust"]
        assert trust["instructions"] == "hidden" and trust["open_files"] == ["license-notes.md"]
        assert trust["private_files"] == 1
        assert "hidden" in trust["summary"] and "1 knowledge file is private" in trust["summary"]
        assert [f["filename"] for f in page["knowledge"]] == ["license-notes.md"]
        assert SCOOP[:40] not in json.dumps(page)
    owner_page = (await client.get(f"/api/store/gpts/{gpt['id']}", headers=creator_headers)).json()
    assert owner_page["instructions"] == INSTRUCTIONS


async def test_public_instructions_are_on_the_page_for_everyone(client, creator_headers, db, settings):
    gpt = await build_gpt(client, creator_headers, db, settings, trust={"instructions": "public"})
    page = (await client.get(f"/api/store/gpts/{gpt['id']}")).json()
    assert page["instructions"] == INSTRUCTIONS and page["trust"]["instructions"] == "public"
    assert "instructions are public" in page["trust"]["summary"]
    draft = (await client.get(f"/api/gpts/{gpt['id']}", headers=creator_headers)).json()
    assert draft["trust"] == {"instructions": "public", "verbatim_max_words": settings.verbatim_max_words}


async def test_trust_settings_are_validated(client, creator_headers):
    for trust, field in (
        ({"instructions": "shown"}, "instructions"),
        ({"verbatim_max_words": 1}, "verbatim"),
    ):
        response = await client.post("/api/gpts", json={"name": "X", "trust": trust}, headers=creator_headers)
        assert response.status_code == 422 and field in response.text


async def test_private_files_are_never_downloadable(client, creator_headers, db, settings, session):
    gpt = await build_gpt(client, creator_headers, db, settings)
    stranger = auth_headers(await create_user(session, settings), settings)
    for headers in ({}, stranger, creator_headers):
        url = f"/api/store/gpts/{gpt['id']}/files/{gpt['private']}/download"
        response = await client.get(url, headers=headers)
        assert response.status_code == 404 and SCOOP[:40].encode() not in response.content
        assert (await client.head(url, headers=headers)).status_code == 404  # nor asked about
    open_url = f"/api/store/gpts/{gpt['id']}/files/{gpt['open']}/download"
    response = await client.get(open_url)
    assert response.status_code == 200 and b"zlib license" in response.content
    asked = await client.head(open_url)  # the same headers, no body
    assert asked.status_code == 200 and asked.content == b""
    for name in ("content-length", "content-type", "content-disposition", "link"):
        assert asked.headers[name] == response.headers[name], name


def _archive_files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def test_exports_carry_private_files_only_for_the_owner(client, creator_headers, db, settings, session):
    gpt = await build_gpt(client, creator_headers, db, settings)
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    stranger = auth_headers(await create_user(session, settings, plan="plus"), settings)
    export = await client.get(f"/api/gpts/{gpt['id']}/export", headers=creator_headers)
    owner = _archive_files(export.content)
    assert any(PRIVATE.encode() == data for data in owner.values())
    manifest = json.loads(owner["gptstore.json"])
    assert manifest["gpt"]["trust"]["instructions"] == "hidden"
    imported = await client.post(
        "/api/gpts/import", files={"file": ("a.zip", export.content)}, headers=creator_headers
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["trust"]["instructions"] == "hidden"
    response = await client.get(f"/api/gpts/{gpt['id']}/export", headers=admin)
    assert response.status_code == 200
    files = _archive_files(response.content)
    assert not any(SCOOP[:40].encode() in data for data in files.values())
    assert [f["access"] for f in json.loads(files["gptstore.json"])["files"]] == ["open"]
    assert (await client.get(f"/api/gpts/{gpt['id']}/export", headers=stranger)).status_code == 404


async def test_search_shows_private_passages_only_to_the_owner(
    client, creator_headers, db, settings, session
):
    gpt = await build_gpt(client, creator_headers, db, settings)
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    stranger = auth_headers(await create_user(session, settings, plan="plus"), settings)
    body = {"query": "how does the deflate compressor work, zlib license", "k": 8, "score_threshold": 0}
    url = f"/api/gpts/{gpt['id']}/search"
    owned = (await client.post(url, json=body, headers=creator_headers)).json()["data"]
    assert any(SCOOP[:40] in hit["text"] for hit in owned)
    seen = (await client.post(url, json=body, headers=admin)).json()["data"]
    assert seen and all(hit["filename"] == "license-notes.md" for hit in seen)
    assert (await client.post(url, json=body, headers=stranger)).status_code == 404


async def test_citations_quote_open_files_only(client, creator_headers, db, settings, session):
    gpt = await build_gpt(client, creator_headers, db, settings)
    user = auth_headers(await create_user(session, settings), settings)
    conversation = (await client.post(f"/api/store/gpts/{gpt['id']}/conversations", headers=user)).json()
    question = "May I use zlib in commercial products, and how does the deflate compressor work?"
    reply = await client.post(
        f"/api/conversations/{conversation['id']}/messages", json={"content": question}, headers=user
    )
    citations = reply.json()["message"]["citations"]
    assert {c["filename"] for c in citations} == {"license-notes.md", "deflate-internals.md"}
    for citation in citations:
        if citation["filename"] == "deflate-internals.md":
            assert citation["quote"] is None
        else:
            assert "zlib license" in citation["quote"]


async def test_restoring_a_version_restores_its_trust_policy(client, creator_headers, db, settings):
    gpt = await build_gpt(client, creator_headers, db, settings, trust={"verbatim_max_words": 12})
    url = f"/api/gpts/{gpt['id']}"
    await client.patch(
        url, json={"trust": {"instructions": "public", "verbatim_max_words": 40}}, headers=creator_headers
    )
    restored = await client.post(f"{url}/versions/1/restore", headers=creator_headers)
    assert restored.status_code == 200, restored.text
    draft = (await client.get(url, headers=creator_headers)).json()
    assert draft["trust"] == {"instructions": "hidden", "verbatim_max_words": 12}
