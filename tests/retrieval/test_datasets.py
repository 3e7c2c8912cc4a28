"""Datasets over HTTP: SPDX licences, lists, changes (files follow), deletes, files, hit testing."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk, KnowledgeFile
from tests.factories import auth_headers, create_user

HANDBOOK = (
    "# Staff handbook\n\n## Holidays\n\n"
    "Every employee has 30 days of paid holiday a year, booked through the HR portal.\n\n"
    "## Bikes\n\nThe bike scheme pays 80 percent of a new bike up to 1500 euros.\n"
)


async def create_dataset(client, headers, **fields) -> dict:
    body = {"name": "Handbook", **fields}
    response = await client.post("/api/datasets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def upload(client, headers, dataset_id, name, content: bytes, **form):
    return await client.post(
        f"/api/datasets/{dataset_id}/files", files={"file": (name, content)}, data=form, headers=headers
    )


async def other_headers(session, settings) -> dict[str, str]:
    return auth_headers(await create_user(session, settings, plan="plus"), settings)


async def test_create_checks_the_spdx_license_and_requires_one_when_open(client, creator_headers):
    made = await create_dataset(
        client, creator_headers, access="open", license="cc-by-4.0", attribution="ACME Corp"
    )
    assert made["license"] == "CC-BY-4.0"  # the canonical SPDX spelling
    assert made["license_name"] == "Creative Commons Attribution 4.0 International"
    assert made["version"] == 1 and made["file_count"] == 0 and made["home_gpt_id"] is None

    for license, words in (("CC-BY-4", "not an SPDX"), ("GPL-2.0", "deprecated")):
        bad = await client.post(
            "/api/datasets", json={"name": "x", "access": "open", "license": license}, headers=creator_headers
        )
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == "license"
        assert words in bad.json()["errors"][0]["message"]
    unlicensed = await client.post(
        "/api/datasets", json={"name": "x", "access": "open"}, headers=creator_headers
    )
    assert unlicensed.status_code == 422 and unlicensed.json()["errors"][0]["field"] == "license"
    nameless = await client.post("/api/datasets", json={"name": ""}, headers=creator_headers)
    assert nameless.status_code == 422 and nameless.json()["errors"][0]["field"] == "name"
    mine = (await client.get("/api/datasets?include_home=false", headers=creator_headers)).json()["data"]
    assert [d["id"] for d in mine] == [made["id"]]  # nothing of the refused ones was kept


async def test_list_is_paged_and_shows_home_datasets_of_gpts(client, creator_headers):
    gpt = (await client.post("/api/gpts", json={"name": "Guide"}, headers=creator_headers)).json()
    made = [await create_dataset(client, creator_headers, name=f"D{i}") for i in range(3)]
    first = (await client.get("/api/datasets?limit=2", headers=creator_headers)).json()
    second = (
        await client.get(f"/api/datasets?limit=2&cursor={first['next_cursor']}", headers=creator_headers)
    ).json()
    listed = first["data"] + second["data"]
    assert second["next_cursor"] is None and len(listed) == 4
    home = next(d for d in listed if d["home_gpt_id"])
    assert home["id"] == gpt["id"] == home["home_gpt_id"]
    assert {d["id"] for d in listed} - {home["id"]} == {d["id"] for d in made}
    deleting_home = await client.delete(f"/api/datasets/{home['id']}", headers=creator_headers)
    assert deleting_home.status_code == 409
    assert (await client.get(f"/api/gpts/{gpt['id']}", headers=creator_headers)).status_code == 200


async def test_files_follow_the_dataset_access_and_license(client, creator_headers, session):
    dataset = await create_dataset(client, creator_headers)
    file = (await upload(client, creator_headers, dataset["id"], "handbook.md", HANDBOOK.encode())).json()
    assert (file["access"], file["license"]) == ("private", None)
    refused = await upload(client, creator_headers, dataset["id"], "b.md", b"other", access="open")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "access"
    assert (await client.get(f"/api/datasets/{dataset['id']}", headers=creator_headers)).json()[
        "version"
    ] == 2

    changed = await client.patch(
        f"/api/datasets/{dataset['id']}",
        json={"access": "open", "license": "CC0-1.0", "description": "All of it"},
        headers=creator_headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["access"] == "open" and changed.json()["file_count"] == 1
    listed = (await client.get(f"/api/datasets/{dataset['id']}/files", headers=creator_headers)).json()[
        "data"
    ]
    assert [(f["access"], f["license"]) for f in listed] == [("open", "CC0-1.0")]
    second = (await upload(client, creator_headers, dataset["id"], "more.md", b"# More\n\ntext")).json()
    assert (second["access"], second["license"]) == ("open", "CC0-1.0")

    unlicensed = await client.patch(
        f"/api/datasets/{dataset['id']}", json={"license": None}, headers=creator_headers
    )
    assert unlicensed.status_code == 422 and unlicensed.json()["errors"][0]["field"] == "license"
    rows = await session.scalars(
        sa.select(KnowledgeFile.license).where(KnowledgeFile.dataset_id == uuid.UUID(dataset["id"]))
    )
    assert set(rows) == {"CC0-1.0"}  # the refused change touched no file


async def test_home_dataset_keeps_access_per_file(client, creator_headers):
    gpt = (await client.post("/api/gpts", json={}, headers=creator_headers)).json()
    response = await client.patch(
        f"/api/datasets/{gpt['id']}", json={"access": "open"}, headers=creator_headers
    )
    assert response.status_code == 409 and response.json()["errors"][0]["field"] == "access"
    renamed = await client.patch(f"/api/datasets/{gpt['id']}", json={"name": "Own"}, headers=creator_headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Own"


async def test_private_datasets_are_404_to_others_and_open_ones_read_only(
    client, creator_headers, session, settings
):
    other = await other_headers(session, settings)
    private = await create_dataset(client, creator_headers)
    opened = await create_dataset(client, creator_headers, access="open", license="ODbL-1.0")
    for method, path in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/files"),
        ("POST", "/search"),
    ):
        body = {"query": "x"} if path == "/search" else ({"name": "x"} if method == "PATCH" else None)
        response = await client.request(
            method, f"/api/datasets/{private['id']}{path}", json=body, headers=other
        )
        assert response.status_code == 404, (method, path)
    assert (await upload(client, other, private["id"], "x.md", b"hello")).status_code == 404
    assert (await client.get(f"/api/datasets/{opened['id']}", headers=other)).status_code == 200
    assert (await client.get(f"/api/datasets/{opened['id']}/files", headers=other)).status_code == 200
    patched = await client.patch(f"/api/datasets/{opened['id']}", json={"name": "Mine now"}, headers=other)
    assert patched.status_code == 403
    assert (await upload(client, other, opened["id"], "x.md", b"hello")).status_code == 403
    assert (await client.delete(f"/api/datasets/{opened['id']}", headers=other)).status_code == 403
    kept = (await client.get(f"/api/datasets/{opened['id']}", headers=creator_headers)).json()
    assert kept["name"] == "Handbook" and kept["file_count"] == 0
    assert (await client.get("/api/datasets", headers=other)).json()["data"] == []


async def test_hit_testing_on_a_dataset_and_private_passages_stay_with_the_owner(
    client, creator_headers, db, settings, session
):
    dataset = await create_dataset(client, creator_headers)
    file = (await upload(client, creator_headers, dataset["id"], "handbook.md", HANDBOOK.encode())).json()
    assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"
    done = (
        await client.get(f"/api/datasets/{dataset['id']}/files/{file['id']}", headers=creator_headers)
    ).json()
    assert done["status"] == "completed"
    url = f"/api/datasets/{dataset['id']}/search"
    hits = (await client.post(url, json={"query": "bike scheme"}, headers=creator_headers)).json()["data"]
    assert "1500 euros" in hits[0]["text"] and hits[0]["dataset_id"] == dataset["id"]

    await client.patch(
        f"/api/datasets/{dataset['id']}",
        json={"access": "open", "license": "CC-BY-4.0"},
        headers=creator_headers,
    )
    other = await other_headers(session, settings)
    seen = (await client.post(url, json={"query": "bike scheme"}, headers=other)).json()["data"]
    assert seen and seen[0]["license"] == "CC-BY-4.0"
    await client.patch(f"/api/datasets/{dataset['id']}", json={"access": "private"}, headers=creator_headers)
    assert (await client.post(url, json={"query": "bike scheme"}, headers=other)).status_code == 404


async def test_delete_removes_files_chunks_and_uploads(client, creator_headers, db, settings, session):
    dataset = await create_dataset(client, creator_headers)
    file = (await upload(client, creator_headers, dataset["id"], "handbook.md", HANDBOOK.encode())).json()
    await ingest(db, settings, uuid.UUID(file["id"]))
    assert (await client.delete(f"/api/datasets/{dataset['id']}", headers=creator_headers)).status_code == 204
    assert (await client.get(f"/api/datasets/{dataset['id']}", headers=creator_headers)).status_code == 404
    chunks = await session.scalar(
        sa.select(sa.func.count()).where(KnowledgeChunk.file_id == uuid.UUID(file["id"]))
    )
    assert chunks == 0
    assert not [p for p in (settings.data_dir / "files").rglob("*") if p.is_file()]


async def test_file_routes_of_a_dataset(client, creator_headers):
    dataset = await create_dataset(client, creator_headers)
    file = (await upload(client, creator_headers, dataset["id"], "handbook.md", HANDBOOK.encode())).json()
    again = await upload(client, creator_headers, dataset["id"], "copy.md", HANDBOOK.encode())
    assert again.status_code == 409 and again.json()["existing_file_id"] == file["id"]
    url = f"/api/datasets/{dataset['id']}/files/{file['id']}"
    assert (await client.delete(url, headers=creator_headers)).status_code == 204
    assert (await client.get(url, headers=creator_headers)).status_code == 404
    events = await client.get(url + "/events", headers=creator_headers)
    assert events.status_code == 404
    read = (await client.get(f"/api/datasets/{dataset['id']}", headers=creator_headers)).json()
    assert read["version"] == 3 and read["file_count"] == 0  # one added, one removed
