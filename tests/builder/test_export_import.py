import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from builder.models import Gpt
from tests import archives
from tests.retrieval.test_file_batches import stored_blobs


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


async def test_export_names_attached_datasets_and_import_reattaches_those_it_may_use(
    client, creator_headers, session, settings
):
    from tests.factories import auth_headers, create_user

    gpt = (await client.post("/api/gpts", json={"name": "Handbook Bot"}, headers=creator_headers)).json()
    dataset = (await client.post("/api/datasets", json={"name": "Handbook"}, headers=creator_headers)).json()
    body = {"dataset_id": dataset["id"], "follow_latest": True}
    assert (
        await client.post(f"/api/gpts/{gpt['id']}/datasets", json=body, headers=creator_headers)
    ).is_success
    exported = (await client.get(f"/api/gpts/{gpt['id']}/export", headers=creator_headers)).content
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(exported)).read("gptstore.json"))
    assert manifest["datasets"] == [{"id": dataset["id"], "name": "Handbook", "follow_latest": True}]
    assert manifest["files"] == []  # the dataset's files stay in the dataset, not copied

    upload = {"file": ("bot.zip", exported)}
    mine = (await client.post("/api/gpts/import", files=upload, headers=creator_headers)).json()
    assert [(d["id"], d["follow_latest"]) for d in mine["datasets"][1:]] == [(dataset["id"], True)]
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    theirs = await client.post("/api/gpts/import", files=upload, headers=other)
    assert theirs.status_code == 201, theirs.text
    assert [d["home"] for d in theirs.json()["datasets"]] == [True]  # a private dataset of someone else

    bad = json.loads(json.dumps(manifest))
    bad["datasets"] = [{"id": "not-a-uuid"}]
    response = await client.post(
        "/api/gpts/import",
        files={"file": ("bad.zip", _zip({"gptstore.json": json.dumps(bad).encode()}))},
        headers=creator_headers,
    )
    assert response.status_code == 422 and "datasets[0].id" in response.json()["detail"]


def _manifest(name: str) -> bytes:
    files = [{"path": "knowledge/00-a.md", "filename": "a.md", "access": "private"}]
    return json.dumps(
        {"format": "gptstore.gpt", "version": 1, "gpt": {"name": name}, "files": files}
    ).encode()


def _export(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An export with one knowledge file `knowledge/00-a.md` (and `members` after it)."""
    knowledge = ("knowledge/00-a.md", b"# Ferries\n\nThey run in summer. " * 40)
    return archives.zipped(("gptstore.json", _manifest("Imported")), knowledge, *members, method=method)


def _damaged_exports() -> list:
    member = b"knowledge/00-a.md"
    cases = {
        "directory": (archives.corrupt_directory(_export()), "the upload is a damaged zip archive"),
        "encrypted": (archives.encrypted(_export(), member), "'knowledge/00-a.md' is encrypted"),
        "name-not-utf8": (
            archives.bad_utf8_name(_export(("notes/XX.md", b"x")), b"notes/XX.md"),
            "'notes/\\xff\\xfe.md' is marked as UTF-8 but is not",
        ),
        "name-nul": (  # zipfile cuts `gptstore.json\0.bak` to a second `gptstore.json`
            archives.renamed(
                _export(("gptstore.jsonX.bak", _manifest("Other"))),
                b"gptstore.jsonX.bak",
                b"gptstore.json\0.bak",
            ),
            "'gptstore.json\\x00.bak' contains control characters",
        ),
        "two-manifests": (
            _export(("gptstore.json", _manifest("Other"))),
            "two members named 'gptstore.json'",
        ),
        "two-files": (_export(("knowledge/00-a.md", b"other")), "two members named 'knowledge/00-a.md'"),
        "method": (
            archives.with_method(_export(method=zipfile.ZIP_STORED), member, 99),
            "unknown compression",
        ),
        "deflate-stream": (archives.damaged_data(_export(), member), "'knowledge/00-a.md' is damaged"),
        "crc": (
            archives.damaged_data(_export(method=zipfile.ZIP_STORED), member),
            "'knowledge/00-a.md' is damaged (Bad CRC-32",
        ),
    }
    return [pytest.param(data, words, id=case) for case, (data, words) in cases.items()]


@pytest.mark.parametrize(("archive", "words"), _damaged_exports())
async def test_damaged_encrypted_or_ambiguous_exports_are_422_and_create_nothing(
    client, creator_headers, session, settings, archive, words
):
    response = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", archive)}, headers=creator_headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"].startswith("Not a valid gptstore export: ")
    assert words in problem["detail"], problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["file"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == []
    assert await session.scalar(sa.select(sa.func.count()).select_from(Gpt)) == 0
    assert stored_blobs(settings) == []


async def test_an_export_read_by_the_shared_reader_still_imports(client, creator_headers):
    response = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", _export())}, headers=creator_headers
    )
    assert response.status_code == 201, response.text
    files = (await client.get(f"/api/gpts/{response.json()['id']}/files", headers=creator_headers)).json()
    assert [f["filename"] for f in files["data"]] == ["a.md"]


async def test_an_export_with_a_file_without_text_imports_without_it(client, creator_headers):
    """A file that failed as empty where it was exported is left out, as a batch skips it; the rest comes."""
    files = [
        {"path": "knowledge/00-a.md", "filename": "a.md", "access": "private"},
        {"path": "knowledge/01-blank.md", "filename": "blank.md", "access": "private"},
    ]
    manifest = {"format": "gptstore.gpt", "version": 1, "gpt": {"name": "Blank"}, "files": files}
    archive = archives.zipped(
        ("gptstore.json", json.dumps(manifest).encode()),
        ("knowledge/00-a.md", b"# Ferries\n\nThey run in summer."),
        ("knowledge/01-blank.md", b" \n\n "),
    )
    response = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", archive)}, headers=creator_headers
    )
    assert response.status_code == 201, response.text
    kept = (await client.get(f"/api/gpts/{response.json()['id']}/files", headers=creator_headers)).json()
    assert [f["filename"] for f in kept["data"]] == ["a.md"]
