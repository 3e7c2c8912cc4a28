"""File batches over HTTP: many files (or one archive) in one request, counted, listed, cancelled."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from core.storage import storage_of
from retrieval.jobs import ingest
from retrieval.models import Dataset, KnowledgeChunk, KnowledgeFile
from tests import archives
from tests.retrieval.test_files import create_gpt


def note(i: int) -> bytes:
    return f"# Note {i}\n\nThe ferry number {i} leaves the harbour at {i % 24:02d}:15 every day.\n".encode()


@pytest.fixture
async def dataset(session, creator) -> Dataset:
    row = Dataset(owner_id=creator.id, name="Harbour notes")
    session.add(row)
    await session.commit()
    return row


def parts(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("file", item) for item in items]


async def post_batch(client, headers, url, files, data=None):
    return await client.post(f"{url}/file_batches", files=files, data=data, headers=headers)


def stored_blobs(settings) -> list:
    root = storage_of(settings).root  # the local directory (the default storage)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_batch_of_parts_is_accepted_counted_and_completed(
    client, creator_headers, dataset, db, settings
):
    url = f"/api/datasets/{dataset.id}"
    notes = [(f"note-{i}.md", note(i)) for i in range(5)]
    files = parts(*notes, ("empty.md", b" \n\t\n"), ("again.md", note(0)))
    response = await post_batch(client, creator_headers, url, files)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["object"] == "file_batch" and batch["status"] == "in_progress"
    assert batch["file_counts"] == {"in_progress": 5, "completed": 0, "failed": 0, "cancelled": 0, "total": 5}
    assert sorted((s["filename"], s["reason"]) for s in batch["skipped"]) == [
        ("again.md", "duplicate"),
        ("empty.md", "empty"),
    ]
    assert len(stored_blobs(settings)) == 5  # skipped parts leave no bytes behind

    listed = await client.get(f"{url}/file_batches/{batch['id']}/files?limit=3", headers=creator_headers)
    page = listed.json()
    assert len(page["data"]) == 3 and page["next_cursor"]
    for file in page["data"]:
        assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"
    done = await client.get(
        f"{url}/file_batches/{batch['id']}/files?filter=completed", headers=creator_headers
    )
    assert sorted(f["id"] for f in done.json()["data"]) == sorted(f["id"] for f in page["data"])
    waiting = await client.get(
        f"{url}/file_batches/{batch['id']}/files?filter=in_progress", headers=creator_headers
    )
    assert len(waiting.json()["data"]) == 2
    for file in waiting.json()["data"]:
        assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"

    final = (await client.get(f"{url}/file_batches/{batch['id']}", headers=creator_headers)).json()
    assert final["status"] == "completed"
    assert final["file_counts"]["completed"] == 5 and final["file_counts"]["in_progress"] == 0
    events = await client.get(f"{url}/file_batches/{batch['id']}/events", headers=creator_headers)
    assert "event: done" in events.text and '"completed":5' in events.text.replace(" ", "")
    listed = (await client.get(f"{url}/file_batches", headers=creator_headers)).json()["data"]
    assert [b["id"] for b in listed] == [batch["id"]]


async def test_a_gpt_batch_from_a_zip_archive(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers, name="Harbour")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/", b"")
        archive.writestr("notes/a.md", note(1))
        archive.writestr("notes/deeper/b.txt", note(2))
        archive.writestr("__MACOSX/notes/._a.md", b"resource fork")
    response = await post_batch(
        client, creator_headers, f"/api/gpts/{gpt_id}",
        [("archive", ("notes.zip", buffer.getvalue()))], {"access": "open", "license": "CC-BY-4.0"},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["file_counts"]["total"] == 2
    files = (
        await client.get(f"/api/gpts/{gpt_id}/file_batches/{batch['id']}/files", headers=creator_headers)
    ).json()["data"]
    assert sorted(f["filename"] for f in files) == ["notes/a.md", "notes/deeper/b.txt"]
    assert {(f["access"], f["license"]) for f in files} == {("open", "CC-BY-4.0")}


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        ok = tarfile.TarInfo("ok.md")
        ok.size = len(note(1))
        archive.addfile(ok, io.BytesIO(note(1)))
        archive.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def zip_with(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ok.md", note(1))
        archive.writestr(name, data)
    return buffer.getvalue()


def symlink() -> tarfile.TarInfo:
    info = tarfile.TarInfo("passwd.md")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


def climbing() -> tarfile.TarInfo:
    info = tarfile.TarInfo("../../escape.md")
    info.size = 5
    return info


@pytest.mark.parametrize(
    ("archive", "status", "words"),
    [
        (zip_with("../escape.md", b"hello"), 422, "climbs out"),
        (zip_with("/etc/cron.d/x", b"hello"), 422, "absolute path"),
        (zip_with("a\\b.md", b"hello"), 422, "backslash"),
        (tar_with(symlink()), 422, "link or device"),
        (tar_with(climbing(), b"hello"), 422, "climbs out"),
        (zip_with("bomb.txt", b"\0" * 5_000_000), 413, "zip bomb"),
        (b"this is not an archive at all", 422, "not a zip or tar"),
    ],
    ids=[
        "zip-dotdot",
        "zip-absolute",
        "zip-backslash",
        "tar-symlink",
        "tar-dotdot",
        "zip-bomb",
        "not-archive",
    ],
)
async def test_unsafe_archives_are_refused_whole(
    client, creator_headers, dataset, session, settings, archive, status, words
):
    response = await post_batch(
        client, creator_headers, f"/api/datasets/{dataset.id}", [("archive", ("x.zip", archive))]
    )
    assert response.status_code == status, response.text
    problem = response.json()
    assert words in problem["detail"]
    assert problem["errors"][0]["field"] == "archive"
    assert stored_blobs(settings) == []
    count = await session.scalar(sa.select(sa.func.count()).where(KnowledgeFile.dataset_id == dataset.id))
    assert count == 0


async def test_batch_limits_refuse_the_whole_batch(client, creator_headers, dataset, settings):
    settings.max_files_per_batch = 3
    files = parts(*[(f"n{i}.md", note(i)) for i in range(4)])
    response = await post_batch(client, creator_headers, f"/api/datasets/{dataset.id}", files)
    assert response.status_code == 422, response.text
    assert "at most 3 files" in response.json()["detail"]
    assert stored_blobs(settings) == []

    settings.max_files_per_batch, settings.max_files_per_dataset = 10, 3
    response = await post_batch(client, creator_headers, f"/api/datasets/{dataset.id}", files)
    assert response.status_code == 422
    assert response.json()["limit"] == "max_files_per_dataset"
    assert response.json()["detail"].startswith("The dataset has 0 files and holds at most 3")
    assert stored_blobs(settings) == []


async def test_a_gpt_batch_keeps_the_gpt_file_limit(client, creator_headers, settings):
    gpt_id = await create_gpt(client, creator_headers)
    files = parts(*[(f"n{i}.md", note(i)) for i in range(settings.max_files_per_gpt + 1)])
    response = await post_batch(client, creator_headers, f"/api/gpts/{gpt_id}", files)
    assert response.status_code == 422
    assert response.json()["limit"] == "max_files_per_gpt"
    # said to the creator of a GPT as what they know: the GPT's knowledge, not "the dataset"
    assert response.json()["detail"].startswith("This GPT's knowledge has 0 files and holds at most")


async def test_others_cannot_see_or_fill_a_dataset(client, dataset, session, settings):
    from tests.factories import auth_headers, create_user

    other = await create_user(session, settings, plan="plus")
    await session.commit()
    headers = auth_headers(other, settings)
    response = await post_batch(client, headers, f"/api/datasets/{dataset.id}", parts(("a.md", note(1))))
    assert response.status_code == 404
    assert stored_blobs(settings) == []


async def test_cancel_stops_waiting_and_running_files(
    client, creator_headers, dataset, db, settings, session
):
    url = f"/api/datasets/{dataset.id}/file_batches"
    batch = (await post_batch(client, creator_headers, f"/api/datasets/{dataset.id}", parts(
        *[(f"n{i}.md", note(i) * 40) for i in range(4)]
    ))).json()  # fmt: skip
    ids = list(
        await session.scalars(
            sa.select(KnowledgeFile.id).where(KnowledgeFile.batch_id == uuid.UUID(batch["id"]))
            .order_by(KnowledgeFile.created_at, KnowledgeFile.id)
        )
    )  # fmt: skip
    assert await ingest(db, settings, ids[0]) == "completed"

    cancelled = await client.post(f"{url}/{batch['id']}/cancel", headers=creator_headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["file_counts"] == {"in_progress": 0, "completed": 1, "failed": 0, "cancelled": 3, "total": 4}
    # A run that was already queued finds its file cancelled and writes nothing.
    assert await ingest(db, settings, ids[1]) == "cancelled"
    chunks = await session.scalar(sa.select(sa.func.count()).where(KnowledgeChunk.file_id.in_(ids[1:])))
    assert chunks == 0
    again = await client.post(f"{url}/{batch['id']}/cancel", headers=creator_headers)
    assert again.json()["file_counts"]["completed"] == 1  # a finished file stays

    # The same files uploaded again: the cancelled ones are replaced and ingested, the finished one is a
    # duplicate; one at a time too.
    done = await session.scalar(sa.select(KnowledgeFile.filename).where(KnowledgeFile.id == ids[0]))
    names = [f"n{i}.md" for i in range(4)]
    *again_in_batch, last = [name for name in names if name != done]  # ids come in no set order
    retry = (await post_batch(client, creator_headers, f"/api/datasets/{dataset.id}", parts(
        *[(name, note(names.index(name)) * 40) for name in (done, *again_in_batch)]
    ))).json()  # fmt: skip
    assert retry["file_counts"]["total"] == 2
    assert [(s["filename"], s["reason"]) for s in retry["skipped"]] == [(done, "duplicate")]
    single = await client.post(
        f"/api/datasets/{dataset.id}/files",
        files={"file": (last, note(names.index(last)) * 40)},
        headers=creator_headers,
    )
    assert single.status_code in (200, 201, 202), single.text
    rows = (
        await session.execute(sa.select(KnowledgeFile.filename, KnowledgeFile.status, KnowledgeFile.id))
    ).all()
    assert sorted((name, status) for name, status, _ in rows) == [
        (name, "completed" if name == done else "in_progress") for name in names
    ]
    assert not {file_id for *_, file_id in rows} & set(ids[1:])  # the cancelled rows are gone


async def test_a_batch_request_that_is_not_multipart_names_the_field(client, creator_headers, dataset):
    response = await client.post(
        f"/api/datasets/{dataset.id}/file_batches", json={"file_ids": []}, headers=creator_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
    bad = await client.post(
        f"/api/datasets/{dataset.id}/file_batches",
        files=[("file", ("a.md", note(1))), ("colour", (None, b"blue"))],
        headers=creator_headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "colour"
    json.dumps(bad.json())

    # hand-made bodies: a part's header in another encoding than UTF-8, a part without a name
    boundary = "b0und"
    latin = 'Content-Disposition: form-data; name="file"; filename="r\xe9sum\xe9.md"'.encode("latin-1")
    nameless = b"Content-Disposition: form-data"
    for header, cause in ((latin, "not UTF-8"), (nameless, "has no name")):
        body = b"--b0und\r\n" + header + b"\r\n\r\n# Note\r\n--b0und--\r\n"
        response = await client.post(
            f"/api/datasets/{dataset.id}/file_batches",
            content=body,
            headers={**creator_headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "form" and cause in response.json()["detail"]
        assert "\\x" not in response.text and "UnicodeDecodeError" not in response.text


async def test_a_dataset_batch_asking_for_other_rights_or_an_unknown_status_is_named(
    client, creator_headers, dataset, settings
):
    """A dataset's files take its access and license: a batch asking otherwise is refused as a single
    upload is (422 naming the field, nothing stored); the files list's status filter is named `filter`."""
    url = f"/api/datasets/{dataset.id}"
    for data, field in (({"access": "open"}, "access"), ({"license": "MIT"}, "license")):
        response = await post_batch(client, creator_headers, url, parts(("a.md", note(1))), data=data)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
        single = await client.post(
            f"{url}/files", files=[("file", ("a.md", note(1)))], data=data, headers=creator_headers
        )
        assert single.status_code == 422 and [e["field"] for e in single.json()["errors"]] == [field]
    assert stored_blobs(settings) == []
    same = await post_batch(
        client, creator_headers, url, parts(("a.md", note(1))), data={"access": "private"}
    )
    assert same.status_code == 202, same.text

    listed = await client.get(
        f"{url}/file_batches/{same.json()['id']}/files?filter=bogus", headers=creator_headers
    )
    assert listed.status_code == 422
    assert "filter" in json.dumps(listed.json()) and "status_filter" not in json.dumps(listed.json())


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_archive_refusals_name_the_archive(client, creator_headers, dataset, settings):
    """What goes wrong with an archive names the `archive` field: empty, two of them, too many members."""
    url = f"/api/datasets/{dataset.id}"
    cases = [
        ([("archive", ("empty.zip", zipped()))], "The archive 'empty.zip' holds no files"),
        (
            [
                ("archive", ("a.zip", zipped(("a.md", note(1))))),
                ("archive", ("b.zip", zipped(("b.md", note(2))))),
            ],
            "Send one archive per batch",
        ),
    ]
    settings.max_files_per_batch = 2
    many = zipped(*[(f"n{i}.md", note(i)) for i in range(3)])
    cases.append(([("archive", ("many.zip", many))], "A batch holds at most 2 files"))
    for files, detail in cases:
        response = await post_batch(client, creator_headers, url, files)
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == detail
        assert [e["field"] for e in response.json()["errors"]] == ["archive"]
    assert stored_blobs(settings) == []


def _damaged_archives() -> list:
    ok = ("ok.md", note(1))
    deflated = archives.zipped(ok, ("c.md", note(2) * 50))
    plain_tar = archives.tarred(ok, ("b.md", note(2)), ("c.md", note(3)), mode="w")
    cases = {
        "zip-directory": (
            archives.corrupt_directory(archives.zipped(ok)),
            "'x.zip' is a damaged zip archive",
        ),
        "zip-encrypted": (
            archives.encrypted(archives.zipped(ok, ("e.md", note(2))), b"e.md"),
            "'e.md' is encrypted",
        ),
        "zip-name-not-utf8": (
            archives.bad_utf8_name(archives.zipped(ok, ("placehXXder.md", note(2))), b"placehXXder.md"),
            "'placeh\\xff\\xfeder.md' is marked as UTF-8 but is not",
        ),
        "zip-name-nul": (
            archives.renamed(archives.zipped(ok, ("aXb.md", note(2))), b"aXb.md", b"a\0b.md"),
            "'a\\x00b.md' contains control characters",
        ),
        "zip-duplicate": (
            archives.zipped(ok, ("x.md", note(2)), ("x.md", note(3))),
            "two members named 'x.md'",
        ),
        "tar-duplicate": (
            archives.tarred(ok, ("x.md", note(2)), ("x.md", note(3))),
            "two members named 'x.md'",
        ),
        "zip-method": (
            archives.with_method(
                archives.zipped(ok, ("m.md", note(2)), method=zipfile.ZIP_STORED), b"m.md", 99
            ),
            "'m.md' uses an unknown compression",
        ),
        "zip-deflate-stream": (archives.damaged_data(deflated, b"c.md"), "'c.md' is damaged"),
        "zip-crc": (
            archives.damaged_data(archives.zipped(ok, ("c.md", note(2)), method=zipfile.ZIP_STORED), b"c.md"),
            "'c.md' is damaged (Bad CRC-32",
        ),
        "zip-lzma-stream": (
            archives.damaged_data(
                archives.zipped(ok, ("c.md", note(2) * 50), method=zipfile.ZIP_LZMA), b"c.md", 20
            ),
            "'c.md' is damaged",
        ),
        "tar-header": (archives.damaged_tar_header(plain_tar, 1), "a header after the member 'ok.md'"),
        "tar-gz-truncated": (
            archives.tarred(ok, ("big.md", bytes(range(256)) * 400))[:-200],
            "'x.zip' is a damaged archive",
        ),
    }
    return [pytest.param(data, words, id=case) for case, (data, words) in cases.items()]


@pytest.mark.parametrize(("archive", "words"), _damaged_archives())
async def test_damaged_encrypted_or_ambiguous_archives_are_refused_whole(
    client, creator_headers, dataset, session, settings, archive, words
):
    """Each is a 422 naming `archive` and the member, never a 500, and stores nothing (the CRC case fails
    on the second member, after the first was stored)."""
    response = await post_batch(
        client, creator_headers, f"/api/datasets/{dataset.id}", [("archive", ("x.zip", archive))]
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert words in problem["detail"], problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["archive"]
    assert stored_blobs(settings) == []
    count = await session.scalar(sa.select(sa.func.count()).where(KnowledgeFile.dataset_id == dataset.id))
    assert count == 0


async def test_a_part_header_over_the_parser_limit_is_named_as_such(
    client, creator_headers, dataset, settings
):
    """A file name of 5,000 characters is a header too long, not a batch of too many files."""
    url = f"/api/datasets/{dataset.id}"
    response = await post_batch(client, creator_headers, url, parts(("n" * 5000 + ".md", note(1))))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "files" not in problem["detail"] and "header" in problem["detail"], problem["detail"]
    assert problem["limit"] == "max_part_header_bytes"
    assert [e["field"] for e in problem["errors"]] == ["form"]
    assert stored_blobs(settings) == []

    settings.max_files_per_batch = 2  # the parser counts every part: 2 files and the 4 fields at most
    fields = [("access", (None, b"private"))] * 6
    response = await post_batch(client, creator_headers, url, parts(("a.md", note(1))) + fields)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "A batch holds at most 2 files (the form has more than 6 parts)"
    assert response.json()["limit"] == "max_files_per_batch"
    assert stored_blobs(settings) == []


async def test_cancelled_files_leave_room_for_new_ones(client, creator_headers, dataset, settings, session):
    settings.max_files_per_gpt = 2
    settings.max_files_per_dataset = 2
    gpt_id = await create_gpt(client, creator_headers)
    for owner in (f"/api/gpts/{gpt_id}", f"/api/datasets/{dataset.id}"):
        batch = (
            await post_batch(client, creator_headers, owner, parts(("a.md", note(1)), ("b.md", note(2))))
        ).json()
        cancelled = await client.post(f"{owner}/file_batches/{batch['id']}/cancel", headers=creator_headers)
        assert cancelled.json()["file_counts"]["cancelled"] == 2, cancelled.text
        # Cancelled files hold no knowledge: new ones take their place (the limit counts what answers).
        one = await client.post(f"{owner}/files", files={"file": ("c.md", note(3))}, headers=creator_headers)
        assert one.status_code == 202, one.text
        more = await post_batch(client, creator_headers, owner, parts(("d.md", note(4))))
        assert more.status_code == 202, more.text
        full = await post_batch(client, creator_headers, owner, parts(("e.md", note(5))))
        assert full.status_code == 422 and full.json()["limit"] in (
            "max_files_per_gpt",
            "max_files_per_dataset",
        )
