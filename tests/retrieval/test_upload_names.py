"""What an upload is called and recorded as: archive members keep their folders (`a/same.md`), archives
inside an archive are skipped with their reason, and a file that fails for its real kind records that kind."""

from __future__ import annotations

import io
import json
import random
import uuid
import zipfile

from retrieval.jobs import ingest
from tests.retrieval.test_file_batches import post_batch, zipped
from tests.retrieval.test_files import create_gpt, upload

PNG = b"\x89PNG\r\n\x1a\n" + random.Random(8).randbytes(2048)


def png_bytes() -> bytes:
    return PNG


async def test_archive_members_keep_their_folders_and_nested_archives_are_skipped(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers)
    archive = zipped(
        ("a/same.md", b"# A\n\nFerries leave at nine."),
        ("b/same.md", b"# B\n\nBuses leave at ten."),
        ("inner/more.zip", zipped(("c.md", b"# C\n\nTrains leave at noon."))),
    )
    response = await post_batch(
        client, creator_headers, f"/api/gpts/{gpt_id}", [("archive", ("notes.zip", archive))]
    )
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["file_counts"]["total"] == 2
    assert batch["skipped"] == [
        {"filename": "inner/more.zip", "reason": "nested_archive", "existing_file_id": None}
    ]
    files = (await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert sorted(f["filename"] for f in files) == ["a/same.md", "b/same.md"]

    only_archives = await post_batch(
        client, creator_headers, f"/api/gpts/{gpt_id}", [("archive", ("x.zip", zipped(("y.zip", archive))))]
    )
    assert only_archives.status_code == 422
    assert "holds only archives (y.zip), which are not unpacked" in only_archives.json()["detail"]


async def test_an_export_keeps_the_folders_of_its_files(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers, name="Harbour")
    archive = zipped(("a/same.md", b"# A\n\nFerries."), ("b/same.md", b"# B\n\nBuses."))
    await post_batch(client, creator_headers, f"/api/gpts/{gpt_id}", [("archive", ("n.zip", archive))])
    exported = await client.get(f"/api/gpts/{gpt_id}/export", headers=creator_headers)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(exported.content)).read("gptstore.json"))
    assert sorted(f["filename"] for f in manifest["files"]) == ["a/same.md", "b/same.md"]
    imported = await client.post(
        "/api/gpts/import", files={"file": ("h.zip", exported.content)}, headers=creator_headers
    )
    assert imported.status_code == 201, imported.text
    copy = imported.json()["id"]
    files = (await client.get(f"/api/gpts/{copy}/files", headers=creator_headers)).json()["data"]
    assert sorted(f["filename"] for f in files) == ["a/same.md", "b/same.md"]


async def test_a_file_failing_for_its_real_kind_records_that_kind(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers)
    single = (await upload(client, creator_headers, gpt_id, "png-named.txt", png_bytes())).json()
    batch = await post_batch(
        client,
        creator_headers,
        f"/api/gpts/{gpt_id}",
        [("archive", ("p.zip", zipped(("p/also.txt", png_bytes() + b"more"))))],
    )
    assert batch.status_code == 202, batch.text
    files = (await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert {f["filename"] for f in files} == {"png-named.txt", "p/also.txt"} and single["id"]
    for file in files:
        assert await ingest(db, settings, uuid.UUID(file["id"])) == "failed"
        done = (await client.get(f"/api/gpts/{gpt_id}/files/{file['id']}", headers=creator_headers)).json()
        assert "Portable Network Graphics" in done["last_error"]["message"]
        assert done["media_type"] == "image/png", done
