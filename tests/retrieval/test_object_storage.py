"""Uploads in object storage end to end: upload -> ingest -> download -> export -> delete, against the local
directory and a real S3-protocol server (moto), and what an unreachable bucket or a lost object does."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

from core.storage import storage_of
from retrieval.jobs import ingest
from retrieval.orphans import collect_orphans
from retrieval.uploads import upload_key
from tests.asgi import app_client_for
from tests.conftest import S3_KEYS
from tests.retrieval.test_files import FJORDS, create_gpt, upload

LISTED = {
    "name": "Fjord Guide",
    "description": "Trips on the fjords.",
    "instructions": "Help travellers.",
    "conversation_starters": ["Where can I rent a kayak?"],
    "category": "education",
}


async def test_upload_ingest_download_export_and_delete(storage_settings, db, redis, creator_headers):
    storage = storage_of(storage_settings)
    async with app_client_for(storage_settings, db=db, redis=redis) as client:
        gpt_id = await create_gpt(client, creator_headers, **LISTED)
        response = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode(), access="open")
        assert response.status_code == 202, response.text
        file_id = response.json()["id"]
        assert await storage.read(upload_key(uuid.UUID(file_id))) == FJORDS.encode()
        assert not [p for p in storage_settings.data_dir.rglob("*.part")]  # no spooled copy is left

        assert await ingest(db, storage_settings, uuid.UUID(file_id)) == "completed"
        found = await client.post(
            f"/api/gpts/{gpt_id}/search", json={"query": "kayak rentals Gudvangen"}, headers=creator_headers
        )
        assert "600 NOK" in found.json()["data"][0]["text"]

        published = await client.post(
            f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
        )
        assert published.status_code in (200, 201), published.text
        download = await client.get(f"/api/store/gpts/{gpt_id}/files/{file_id}/download")
        assert download.status_code == 200 and download.content == FJORDS.encode()
        assert download.headers["content-length"] == str(len(FJORDS.encode()))
        assert "fjords.md" in download.headers["content-disposition"]

        export = await client.get(f"/api/gpts/{gpt_id}/export", headers=creator_headers)
        with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
            assert archive.read("knowledge/00-fjords.md") == FJORDS.encode()

        draft = await upload(client, creator_headers, gpt_id, "notes.txt", b"Draft notes on ferries.")
        draft_id = draft.json()["id"]
        gone = await client.delete(f"/api/gpts/{gpt_id}/files/{draft_id}", headers=creator_headers)
        assert gone.status_code == 204
        await storage.drain()
        assert not await storage.exists(upload_key(uuid.UUID(draft_id)))
        assert await storage.exists(upload_key(uuid.UUID(file_id)))

        assert (await client.delete(f"/api/gpts/{gpt_id}", headers=creator_headers)).status_code == 204
        await storage.drain()
        assert not await storage.exists(upload_key(uuid.UUID(file_id)))
        assert (await client.get(f"/api/store/gpts/{gpt_id}/files/{file_id}/download")).status_code == 404


async def test_an_unreachable_bucket_refuses_the_upload_and_keeps_no_row(
    settings, db, redis, creator_headers
):
    dead = settings.model_copy(
        update={
            "storage_url": "s3://nowhere/uploads",
            "storage_endpoint": "http://127.0.0.1:9",  # the discard port: nothing listens
            "storage_max_retries": 0,
            **S3_KEYS,
        }
    )
    async with app_client_for(dead, db=db, redis=redis) as client:
        gpt_id = await create_gpt(client, creator_headers)
        response = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())
        assert response.status_code == 503 and "object storage" in response.json()["detail"]
        assert "Retry-After" in response.headers
        listed = await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)
        assert listed.json()["data"] == []
    assert not [p for p in dead.data_dir.rglob("*") if p.is_file() and p.name != "secret_key"]


async def test_a_lost_object_fails_the_ingestion_and_orphans_are_collected(
    storage_settings, db, redis, creator_headers
):
    storage = storage_of(storage_settings)
    async with app_client_for(storage_settings, db=db, redis=redis) as client:
        gpt_id = await create_gpt(client, creator_headers)
        kept = (await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode())).json()["id"]
        lost = (await upload(client, creator_headers, gpt_id, "notes.txt", b"Ferry notes.")).json()["id"]
    await storage.delete([upload_key(uuid.UUID(lost))])
    assert await ingest(db, storage_settings, uuid.UUID(lost)) == "failed"

    # An object no row names (a crash between its put and its commit), and a key that is no upload's.
    stray, foreign = upload_key(uuid.uuid4()), "files/ab/readme.txt"
    for key in (stray, foreign):
        spooled = storage.spool_path(key)
        spooled.write_bytes(b"left behind")
        await storage.put_file(key, spooled)
        spooled.unlink(missing_ok=True)
    leftover = storage.spool_path(upload_key(uuid.uuid4()))  # a process died while spooling
    leftover.write_bytes(b"half")
    assert await collect_orphans(db, storage_settings) == 0  # younger than the grace period
    later = datetime.now(UTC) + timedelta(seconds=storage_settings.storage_orphan_grace_seconds + 60)
    assert await collect_orphans(db, storage_settings, now=later) == 2
    assert not leftover.exists()
    assert not await storage.exists(stray)
    assert await storage.exists(foreign) and await storage.exists(upload_key(uuid.UUID(kept)))
