"""Knowledge files over HTTP, ingested by the real job code on real PostgreSQL+pgvector."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk
from tests import archives
from tests.retrieval.test_parsing import make_docx

FJORDS = (
    "# Fjord trips\n\n## Geiranger\n\n"
    "The Geirangerfjord ferry runs from May to September, four times a day.\n\n"
    "## Nærøyfjord\n\nKayak rentals in Gudvangen open at 9 am and cost 600 NOK for half a day.\n"
)


async def create_gpt(client, headers, **fields) -> str:
    response = await client.post("/api/gpts", json=fields or None, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def upload(client, headers, gpt_id, name, content: bytes, **form):
    return await client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, data=form, headers=headers
    )


async def test_upload_ingest_and_search(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers, name="Fjord Guide")
    response = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())
    assert response.status_code == 202, response.text
    file = response.json()
    assert file["status"] == "in_progress" and file["bytes"] == len(FJORDS.encode())
    assert file["media_type"] == "text/markdown"  # sniffed at upload

    assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"
    done = (await client.get(f"/api/gpts/{gpt_id}/files/{file['id']}", headers=creator_headers)).json()
    assert done["status"] == "completed"
    assert done["media_type"] == "text/markdown"
    assert done["chunk_count"] >= 1 and done["progress"]["chunks_done"] == done["chunk_count"]

    results = await client.post(
        f"/api/gpts/{gpt_id}/search", json={"query": "kayak rental price"}, headers=creator_headers
    )
    assert results.status_code == 200, results.text
    best = results.json()["data"][0]
    assert "600 NOK" in best["text"]
    assert best["filename"] == "fjords.md"
    assert "Nærøyfjord" in best["heading"]


async def test_duplicate_content_is_a_conflict_naming_the_file(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers)
    first = (await upload(client, creator_headers, gpt_id, "a.md", FJORDS.encode())).json()
    again = await upload(client, creator_headers, gpt_id, "b.md", FJORDS.encode())
    assert again.status_code == 409
    assert first["id"] in again.json()["detail"]


async def test_limits_name_the_limit_and_store_nothing(client, creator_headers, settings, session):
    settings.max_files_per_gpt = 1
    settings.max_file_bytes = 100
    gpt_id = await create_gpt(client, creator_headers)
    too_big = await upload(client, creator_headers, gpt_id, "big.txt", b"x" * 101)
    assert too_big.status_code == 413
    assert too_big.json()["limit"] == "max_file_bytes"
    assert (await upload(client, creator_headers, gpt_id, "one.txt", b"one file")).status_code == 202
    second = await upload(client, creator_headers, gpt_id, "two.txt", b"two files")
    assert second.status_code == 422
    assert second.json()["errors"][0]["field"] == "file"
    listed = (await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert [f["filename"] for f in listed] == ["one.txt"]
    assert not list((settings.data_dir / "files").rglob("*.part"))


async def test_only_the_owner_sees_files(client, creator_headers, session, settings):
    from tests.factories import auth_headers, create_user

    gpt_id = await create_gpt(client, creator_headers)
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    assert (await client.get(f"/api/gpts/{gpt_id}/files", headers=other)).status_code == 404
    assert (await upload(client, other, gpt_id, "x.txt", b"hello")).status_code == 404


async def test_delete_removes_chunks(client, creator_headers, db, settings, session):
    gpt_id = await create_gpt(client, creator_headers)
    file = (await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())).json()
    await ingest(db, settings, uuid.UUID(file["id"]))
    deleted = await client.delete(f"/api/gpts/{gpt_id}/files/{file['id']}", headers=creator_headers)
    assert deleted.status_code == 204
    count = await session.scalar(
        sa.select(sa.func.count()).where(KnowledgeChunk.file_id == uuid.UUID(file["id"]))
    )
    assert count == 0
    assert (
        await client.get(f"/api/gpts/{gpt_id}/files/{file['id']}", headers=creator_headers)
    ).status_code == 404


async def test_deleting_the_gpt_deletes_its_uploads(client, creator_headers, settings):
    gpt_id = await create_gpt(client, creator_headers)
    await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())
    assert list((settings.data_dir / "files").rglob("*-*"))
    assert (await client.delete(f"/api/gpts/{gpt_id}", headers=creator_headers)).status_code == 204
    assert not [p for p in (settings.data_dir / "files").rglob("*") if p.is_file()]


async def test_one_upload_request_carries_one_file(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers, name="Two at once")
    two = [("file", ("a.md", b"# A\n\nalpha")), ("file", ("b.md", b"# B\n\nbeta"))]
    response = await client.post(f"/api/gpts/{gpt_id}/files", files=two, headers=creator_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "file", "message": "Send one file per request"}]
    listed = await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)
    assert listed.json()["data"] == []  # neither was kept


async def test_an_office_file_damaged_in_its_zip_is_accepted_and_fails_with_the_reason(
    client, creator_headers, db, settings
):
    """Its [Content_Types].xml is encrypted: sniffing at upload and the parse child both read it."""
    gpt_id = await create_gpt(client, creator_headers)
    data = archives.encrypted(make_docx(), b"[Content_Types].xml")
    response = await upload(client, creator_headers, gpt_id, "locked.docx", data)
    assert response.status_code == 202, response.text
    file = response.json()
    assert file["media_type"] == "application/octet-stream"
    assert await ingest(db, settings, uuid.UUID(file["id"])) == "failed"
    failed = (await client.get(f"/api/gpts/{gpt_id}/files/{file['id']}", headers=creator_headers)).json()
    assert failed["status"] == "failed"
    assert "encrypted" in failed["last_error"]["message"], failed
