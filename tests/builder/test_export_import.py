import io
import json
import zipfile


async def test_export_then_import_makes_an_equal_draft_with_its_files(client, creator_headers):
    gpt = (
        await client.post(
            "/api/gpts",
            json={"name": "Fjord Guide", "conversation_starters": ["Best time?"], "category": "lifestyle"},
            headers=creator_headers,
        )
    ).json()
    await client.post(
        f"/api/gpts/{gpt['id']}/files",
        files={"file": ("notes.txt", b"Ferries run in summer.")},
        data={"access": "open", "license": "CC-BY-4.0"},
        headers=creator_headers,
    )
    exported = await client.get(f"/api/gpts/{gpt['id']}/export", headers=creator_headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    manifest = json.loads(archive.read("gptstore.json"))
    assert manifest["version"] == 1 and manifest["gpt"]["name"] == "Fjord Guide"
    assert manifest["files"][0]["license"] == "CC-BY-4.0"

    imported = await client.post(
        "/api/gpts/import", files={"file": ("fjord.zip", exported.content)}, headers=creator_headers
    )
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert copy["id"] != gpt["id"]
    assert (copy["name"], copy["category"], copy["conversation_starters"]) == (
        "Fjord Guide",
        "lifestyle",
        ["Best time?"],
    )
    files = (await client.get(f"/api/gpts/{copy['id']}/files", headers=creator_headers)).json()["data"]
    assert [(f["filename"], f["access"], f["status"]) for f in files] == [
        ("notes.txt", "open", "in_progress")
    ]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_malformed_archives_are_422_and_create_nothing(client, creator_headers):
    good = {"format": "gptstore.gpt", "version": 1, "gpt": {"name": "X"}, "files": []}
    cases = {
        b"not a zip": "not a zip",
        _zip({"readme.txt": b"hi"}): "gptstore.json is missing",
        _zip({"gptstore.json": b"{"}): "not valid JSON",
        _zip({"gptstore.json": json.dumps({**good, "version": 9}).encode()}): "unsupported version",
        _zip({"gptstore.json": json.dumps({**good, "gpt": {"name": "x" * 99}}).encode()}): "name",
        _zip(
            {"gptstore.json": json.dumps({**good, "files": [{"path": "knowledge/a.txt"}]}).encode()}
        ): "missing",
    }
    for data, detail in cases.items():
        response = await client.post(
            "/api/gpts/import", files={"file": ("x.zip", data)}, headers=creator_headers
        )
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == []
