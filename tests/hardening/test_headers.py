"""User data in response headers and archives: RFC 6266/8187 names, cleaned uploads, safe zip members."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from urllib.parse import unquote

import sqlalchemy as sa

from core.filenames import clean_filename, content_disposition, unsafe_member_name
from retrieval.jobs import ingest
from retrieval.models import KnowledgeFile

HANDBOOK = Path(__file__).parent.parent / "data" / "员工手册（2024版）.md"
GPT = {
    "name": "Fjord Guide",
    "description": "Plans fjord trips in Norway.",
    "instructions": "You help tourists plan fjord trips.",
    "conversation_starters": ["Best fjord in May?"],
    "category": "lifestyle",
}


def disposition_name(header: str) -> tuple[str, str | None]:
    """(the ASCII `filename`, the decoded `filename*` or None) of a Content-Disposition value."""
    params = dict(
        part.strip().split("=", 1) for part in header.split(";")[1:] if "=" in part
    )  # the values this server writes hold no `;`
    extended = params.get("filename*")
    if extended is not None:
        charset, _, encoded = extended.split("'", 2)
        assert charset == "UTF-8"
        extended = unquote(encoded, encoding="utf-8", errors="strict")
    return params["filename"].strip('"'), extended


async def upload(client, headers, gpt_id, name: str, content: bytes, **form):
    return await client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, data=form, headers=headers
    )


async def test_the_handbook_and_a_crlf_name_download_with_rfc_8187_names(
    client, creator_headers, db, settings, session
):
    gpt = (await client.post("/api/gpts", json=GPT, headers=creator_headers)).json()["id"]
    handbook = await upload(client, creator_headers, gpt, HANDBOOK.name, HANDBOOK.read_bytes(), access="open")
    assert handbook.status_code == 202, handbook.text
    assert handbook.json()["filename"] == "员工手册（2024版）.md"
    crlf = await upload(
        client, creator_headers, gpt, "ferry\r\ntimes.md", b"# Ferry\n\nAt nine.\n", access="open"
    )
    assert crlf.json()["filename"] == "ferrytimes.md"  # cleaned at upload, not at download
    # A name stored before uploads were cleaned still makes a valid header.
    legacy = await upload(client, creator_headers, gpt, "legacy.md", b"# Old\n\nKept.\n", access="open")
    await session.execute(
        sa.update(KnowledgeFile)
        .where(KnowledgeFile.id == uuid.UUID(legacy.json()["id"]))
        .values(filename='old\r\nSet-Cookie: x=1; "q".md')
    )
    await session.commit()
    for file in (handbook, crlf, legacy):
        assert await ingest(db, settings, uuid.UUID(file.json()["id"])) == "completed"
    published = await client.post(
        f"/api/gpts/{gpt}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert published.status_code == 201, published.text

    page = (await client.get(f"/api/store/gpts/{gpt}")).json()
    downloads = {f["filename"]: await client.get(f["download_url"]) for f in page["knowledge"]}
    handbook_download = downloads["员工手册（2024版）.md"]
    assert handbook_download.status_code == 200
    assert handbook_download.content == HANDBOOK.read_bytes()
    header = handbook_download.headers["content-disposition"]
    assert header == (
        'attachment; filename="_(2024_).md"; '
        "filename*=UTF-8''%E5%91%98%E5%B7%A5%E6%89%8B%E5%86%8C%EF%BC%882024%E7%89%88%EF%BC%89.md"
    )
    assert disposition_name(header) == ("_(2024_).md", "员工手册（2024版）.md")

    assert downloads["ferrytimes.md"].headers["content-disposition"] == 'attachment; filename="ferrytimes.md"'
    old = downloads['old\r\nSet-Cookie: x=1; "q".md']
    assert old.status_code == 200 and "set-cookie" not in old.headers
    assert disposition_name(old.headers["content-disposition"]) == (
        "oldSet-Cookie_ x_1_ _q_.md",
        'oldSet-Cookie: x=1; "q".md',
    )


async def browser_upload(client, headers, gpt_id, name: str, content: bytes):
    """A multipart upload as browsers send it (HTML5: only CR, LF and `"` escaped; TAB and NUL raw)."""
    quoted = name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22").encode()
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="' + quoted + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n--b0undary--\r\n"
    )
    return await client.post(
        f"/api/gpts/{gpt_id}/files",
        content=body,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )


async def test_upload_names_are_cleaned_in_one_place(client, creator_headers):
    gpt = (await client.post("/api/gpts", json=GPT, headers=creator_headers)).json()["id"]
    cases = {
        "a\r\nb.txt": "ab.txt",
        "tab\there.md": "tabhere.md",
        "nul\x00byte.txt": "nulbyte.txt",
        "../../etc/passwd": "passwd",
        "C:\\Users\\ada\\report.txt": "report.txt",
        "Cafe\u0301.txt": "Caf\u00e9.txt",  # NFD in, NFC stored
        "evil\u202etxt.md": "eviltxt.md",  # no right-to-left override to disguise the extension
        "..": "upload",
        "x" * 300 + ".md": "x" * 252 + ".md",
        "中" * 100 + ".txt": "中" * 83 + ".txt",  # 255 bytes of UTF-8 at most, whole characters
    }
    got = {}
    for index, (name, _) in enumerate(cases.items()):
        response = await browser_upload(client, creator_headers, gpt, name, f"Note number {index}.".encode())
        assert response.status_code == 202, (name, response.text)
        got[name] = response.json()["filename"]
    assert got == cases
    assert all(len(name.encode()) <= 255 for name in got.values())


async def test_export_names_its_archive_by_rfc_8187_and_members_safely(client, creator_headers, session):
    gpt = (
        await client.post("/api/gpts", json={**GPT, "name": '峡湾 "Guide" / v2'}, headers=creator_headers)
    ).json()["id"]
    file = await upload(client, creator_headers, gpt, "notes.txt", b"Ferries run in summer.")
    await session.execute(  # a name stored before uploads were cleaned
        sa.update(KnowledgeFile)
        .where(KnowledgeFile.id == uuid.UUID(file.json()["id"]))
        .values(filename="../..\r\n/etc/passwd")
    )
    await session.commit()

    exported = await client.get(f"/api/gpts/{gpt}/export", headers=creator_headers)
    assert exported.status_code == 200
    fallback, name = disposition_name(exported.headers["content-disposition"])
    assert name == '峡湾 "Guide" - v2.gptstore.zip'
    assert fallback == "_ _Guide_ - v2.gptstore.zip"
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    # the climbing parts and controls go; the folder a name keeps (archive members keep theirs) stays inside
    assert sorted(archive.namelist()) == ["gptstore.json", "knowledge/00-etc/passwd"]
    assert all(unsafe_member_name(member) is None for member in archive.namelist())
    manifest = json.loads(archive.read("gptstore.json"))
    assert manifest["files"][0]["filename"] == "etc/passwd"

    again = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", exported.content)}, headers=creator_headers
    )
    assert again.status_code == 201, again.text


def _archive(members: dict[str, bytes], files: list[dict]) -> bytes:
    manifest = {"format": "gptstore.gpt", "version": 1, "gpt": {"name": "Copy"}, "files": files}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("gptstore.json", json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_import_refuses_unsafe_member_names(client, creator_headers):
    unsafe = {
        "../evil.txt": "climbs out",
        "knowledge/../../evil.txt": "climbs out",
        "/etc/evil.txt": "absolute",
        "C:/evil.txt": "absolute",
        "knowledge\\evil.txt": "backslash",
        "knowledge/a\r\nb.txt": "control characters",
    }
    wrong = []
    for member, reason in unsafe.items():
        archive = _archive({member: b"payload"}, [{"path": member}])
        response = await client.post(
            "/api/gpts/import", files={"file": ("x.zip", archive)}, headers=creator_headers
        )
        problem = response.json()
        if (
            response.status_code != 422
            or reason not in problem["detail"]
            or problem["errors"][0]["field"] != "file"
        ):
            wrong.append((member, response.status_code, problem))
    assert wrong == []
    drafts = (await client.get("/api/gpts", headers=creator_headers)).json()["data"]
    assert drafts == []  # nothing was created


async def test_imported_file_names_are_cleaned_like_uploads(client, creator_headers):
    archive = _archive(
        {"knowledge/00-a.txt": b"Ferries."}, [{"path": "knowledge/00-a.txt", "filename": "x\r\n.txt"}]
    )
    response = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", archive)}, headers=creator_headers
    )
    assert response.status_code == 201, response.text
    files = (await client.get(f"/api/gpts/{response.json()['id']}/files", headers=creator_headers)).json()
    assert [f["filename"] for f in files["data"]] == ["x.txt"]


def test_content_disposition_is_always_a_plain_ascii_header():
    names = [
        "a.txt",
        'q"uote\\back.txt',
        "per%cent.txt",
        "x\r\ny.txt",
        "\u202e.exe",
        "",
        "日本.pdf",
        "é" * 300,
    ]
    for name in names:
        header = content_disposition(name)
        assert header.isascii() and not any(ch in header for ch in "\r\n\x00")
        fallback, extended = disposition_name(header)
        assert '"' not in fallback and "\\" not in fallback and "%" not in fallback
        assert (extended or fallback) == clean_filename(name)
