"""A GPT's own files and their licences (docs/data-library.md#access-and-licences): one check
(`retrieval.licenses.file_license`) wherever a licence comes in (uploads, batches, web imports, export
archives), and the licence of an open file carried by its citations."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest

from retrieval.jobs import ingest
from tests.retrieval.test_file_batches import post_batch
from tests.retrieval.test_files import FJORDS, create_gpt, upload


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"access": "open", "license": "NOT-A-LICENSE"}, "is not an SPDX license id"),
        ({"access": "open", "license": "GPL-2.0"}, "deprecated"),
        ({"access": "open", "license": "Foo Bar 1.0"}, "is not an SPDX license id"),
        ({"access": "private", "license": "MIT"}, "A private file takes no license"),
    ],
)
async def test_an_upload_or_batch_with_a_bad_license_is_a_422_naming_license(
    client, creator_headers, form, says
):
    gpt_id = await create_gpt(client, creator_headers)
    single = await upload(client, creator_headers, gpt_id, "fjords.md", FJORDS.encode(), **form)
    batch = await post_batch(
        client, creator_headers, f"/api/gpts/{gpt_id}", [("file", ("fjords.md", FJORDS.encode()))], form
    )
    for response in (single, batch):
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["license"]
        assert says in response.text
    files = await client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)
    assert files.json()["data"] == []


async def test_a_license_is_stored_in_its_spdx_spelling(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers)
    response = await upload(
        client, creator_headers, gpt_id, "fjords.md", FJORDS.encode(), access="open", license="cc-by-4.0"
    )
    assert response.status_code == 202, response.text
    assert response.json()["license"] == "CC-BY-4.0"


async def test_a_web_import_gives_its_open_files_a_checked_license(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers)
    url = f"/api/gpts/{gpt_id}/files/imports"
    made = await client.post(
        url,
        json={"url": "https://example.com/", "access": "open", "license": "odbl-1.0"},
        headers=creator_headers,
    )
    assert made.status_code == 202, made.text
    assert made.json()["license"] == "ODbL-1.0" and made.json()["access"] == "open"
    for body in (
        {"url": "https://example.com/", "access": "open", "license": "NOT-A-LICENSE"},
        {"url": "https://example.com/", "license": "MIT"},  # private by default
    ):
        refused = await client.post(url, json=body, headers=creator_headers)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["license"]


async def test_an_export_archive_with_a_bad_license_is_refused(client, creator_headers):
    buffer = io.BytesIO()
    manifest = {
        "format": "gptstore.gpt",
        "version": 1,
        "gpt": {"name": "Fjord Guide"},
        "files": [{"path": "knowledge/01-notes.txt", "access": "open", "license": "NOT-A-LICENSE"}],
    }
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("gptstore.json", json.dumps(manifest))
        archive.writestr("knowledge/01-notes.txt", b"Ferries run in summer.")
    response = await client.post(
        "/api/gpts/import", files={"file": ("fjord.zip", buffer.getvalue())}, headers=creator_headers
    )
    assert response.status_code == 422, response.text
    assert "files[0].license" in response.json()["detail"] and "SPDX" in response.json()["detail"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == []


async def test_citations_of_an_open_home_file_carry_its_license(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers, name="Fjord Guide")
    opened = await upload(
        client, creator_headers, gpt_id, "fjords.md", FJORDS.encode(), access="open", license="CC-BY-4.0"
    )
    assert await ingest(db, settings, uuid.UUID(opened.json()["id"])) == "completed"
    answer = await client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "When does the ferry run?"},
        headers=creator_headers,
    )
    assert answer.status_code in (200, 201), answer.text
    citation = answer.json()["message"]["citations"][0]
    assert citation["filename"] == "fjords.md"
    assert citation["license"] == "CC-BY-4.0"
    assert citation["license_url"] == "https://spdx.org/licenses/CC-BY-4.0.html"
