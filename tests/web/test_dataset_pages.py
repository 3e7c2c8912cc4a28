"""Dataset pages over httpx: list, create (field errors at their inputs), edit (files follow the dataset),
files (upload many, events, delete), delete, and attaching datasets in the GPT editor's Knowledge tab."""

from __future__ import annotations

import io
import uuid
import zipfile

import sqlalchemy as sa

from builder.service import GptService
from retrieval.jobs import ingest
from retrieval.models import FileBatch, GptDataset, KnowledgeFile
from tests.factories import create_user
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE

GUIDE = "# Kayaking\n\nKayak rental at Flåm costs 600 NOK per day in summer."


async def attached_datasets(session, gpt_id) -> list[tuple[uuid.UUID, bool]]:
    rows = await session.execute(
        sa.select(GptDataset.dataset_id, GptDataset.follow_latest)
        .where(GptDataset.gpt_id == gpt_id)
        .order_by(GptDataset.created_at)
        .execution_options(populate_existing=True)
    )
    return [tuple(row) for row in rows]


def token(client) -> str:
    return client.cookies.get(CSRF_COOKIE)


async def create(client, **fields):
    data = {"csrf_token": token(client), "name": "Fjord facts", "access": "private", **fields}
    return await client.post("/creator/datasets/new", data=data, headers=HTML)


async def test_create_edit_upload_and_delete_a_dataset(client, session, settings, creator, db):
    await log_in(client, creator.email)
    listed = await client.get("/creator/datasets", headers=HTML)
    assert (
        listed.status_code == 200
        and "No datasets yet." in listed.text
        and 'href="/creator/datasets"' in listed.text
    )
    form = await client.get("/creator/datasets/new", headers=HTML)
    assert 'list="spdx-licenses"' in form.text and '<option value="CC-BY-4.0">' in form.text
    assert 'maxlength="100" required' in form.text  # the input macro's attributes are markup, not text

    refused = await create(client, access="open", license="")
    assert refused.status_code == 422 and 'id="e-license"' in refused.text
    bad = await create(client, access="open", license="CC-BY-9")
    assert bad.status_code == 422 and "not an SPDX license id" in bad.text
    made = await create(client, description="Prices and times")
    assert made.status_code == 303
    path = made.headers["location"].split("?")[0]
    dataset_id = path.rsplit("/", 1)[1]

    files = [("file", ("kayak.md", GUIDE.encode())), ("file", ("notes.txt", b"Ferries run hourly."))]
    uploaded = await client.post(f"{path}/files", data={"csrf_token": token(client)}, files=files)
    assert uploaded.status_code == 303, uploaded.text
    page = await client.get(path, headers=HTML)
    assert (
        "kayak.md" in page.text
        and "notes.txt" in page.text
        and 'data-files-base="/creator/datasets/' in page.text
    )
    one = await client.post(
        f"{path}/files",
        data={"csrf_token": token(client)},
        files={"file": ("more.md", b"# More\n\nA third file.")},
        headers={"Accept": "application/json", "X-CSRF-Token": token(client)},
    )
    assert one.status_code == 202 and one.json()["access"] == "private"
    file_id = one.json()["id"]
    await ingest(db, settings, uuid.UUID(file_id))
    events = await client.get(f"{path}/files/{file_id}/events", headers={"Accept": "text/event-stream"})
    assert "event: done" in events.text
    together = await client.get(f"{path}/files/events?ids={file_id}", headers={"Accept": "text/event-stream"})
    assert "event: done" in together.text and file_id in together.text

    saved = await client.post(
        path,
        data={"csrf_token": token(client), "name": "Fjord facts", "access": "open", "license": "cc0-1.0"},
        headers=HTML,
    )
    assert saved.status_code == 303, saved.text
    rights = await session.execute(
        sa.select(KnowledgeFile.access, KnowledgeFile.license).where(
            KnowledgeFile.dataset_id == uuid.UUID(dataset_id)
        )
    )
    assert set(rights.all()) == {("open", "CC0-1.0")}
    cleared = await client.post(
        path, data={"csrf_token": token(client), "name": "Fjord facts", "access": "open"}, headers=HTML
    )
    assert cleared.status_code == 422 and 'id="e-license"' in cleared.text

    deleted = await client.post(f"{path}/files/{file_id}/delete", data={"csrf_token": token(client)})
    assert deleted.status_code == 303
    unconfirmed = await client.post(f"{path}/delete", data={"csrf_token": token(client)}, headers=HTML)
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    assert (await client.get(path, headers=HTML)).status_code == 200  # kept
    gone = await client.post(f"{path}/delete", data={"csrf_token": token(client), "confirm": "yes"})
    assert gone.status_code == 303 and gone.headers["location"] == "/creator/datasets?done=deleted"
    assert (await client.get(path, headers=HTML)).status_code == 404


async def test_editor_attaches_follows_and_detaches_datasets(client, session, settings, creator):
    gpt = await GptService(session, settings).create(creator)
    await session.commit()
    await log_in(client, creator.email)
    before = await client.get(f"/builder/{gpt.id}?tab=knowledge", headers=HTML)
    assert 'id="attach-none"' in before.text and 'id="attach-form"' not in before.text  # no empty menu
    made = await create(client, name="Shared facts")
    dataset_id = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    configure = await client.get(f"/builder/{gpt.id}?tab=configure", headers=HTML)
    assert 'step="any"' in configure.text  # the relevance threshold takes decimals in the browser too
    editor = await client.get(f"/builder/{gpt.id}?tab=knowledge", headers=HTML)
    assert 'id="attach-form"' in editor.text and f'<option value="{dataset_id}">Shared facts' in editor.text
    assert 'id="attach-none"' not in editor.text

    attached = await client.post(
        f"/builder/{gpt.id}/datasets",
        data={"csrf_token": token(client), "dataset_id": dataset_id, "follow_latest": "on"},
    )
    assert attached.status_code == 303
    assert await attached_datasets(session, gpt.id) == [(gpt.id, False), (uuid.UUID(dataset_id), True)]
    editor = await client.get(f"/builder/{gpt.id}?tab=knowledge", headers=HTML)
    assert "Follow latest: on" in editor.text and f"/datasets/{dataset_id}/detach" in editor.text

    again = await client.post(
        f"/builder/{gpt.id}/datasets",
        data={"csrf_token": token(client), "dataset_id": dataset_id},
        headers=HTML,
    )
    assert again.status_code == 409 and 'id="e-dataset_id"' in again.text
    other = await create_user(session, settings, plan="plus")
    from retrieval.dataset_schemas import DatasetCreate
    from retrieval.datasets import DatasetService

    theirs = await DatasetService(session, settings).create(other, DatasetCreate(name="Theirs"))
    await session.commit()
    hidden = await client.post(
        f"/builder/{gpt.id}/datasets",
        data={"csrf_token": token(client), "dataset_id": str(theirs.id)},
        headers=HTML,
    )
    assert hidden.status_code == 404 and "Theirs" not in hidden.text
    # an open dataset of another owner links to its public page: its settings would answer 403
    shared = await DatasetService(session, settings).create(
        other, DatasetCreate(name="Open facts", access="open", license="CC0-1.0")
    )
    await session.commit()
    used = await client.post(
        f"/builder/{gpt.id}/datasets", data={"csrf_token": token(client), "dataset_id": str(shared.id)}
    )
    assert used.status_code == 303
    editor = (await client.get(f"/builder/{gpt.id}?tab=knowledge", headers=HTML)).text
    assert f'href="/creator/datasets/{dataset_id}"' in editor and f'href="/datasets/{shared.id}"' in editor
    assert f'href="/creator/datasets/{shared.id}"' not in editor
    await client.post(f"/builder/{gpt.id}/datasets/{shared.id}/detach", data={"csrf_token": token(client)})

    followed = await client.post(
        f"/builder/{gpt.id}/datasets/{dataset_id}", data={"csrf_token": token(client), "follow_latest": "off"}
    )
    assert followed.status_code == 303
    assert (await attached_datasets(session, gpt.id))[1] == (uuid.UUID(dataset_id), False)
    detached = await client.post(
        f"/builder/{gpt.id}/datasets/{dataset_id}/detach", data={"csrf_token": token(client)}
    )
    assert detached.status_code == 303
    assert await attached_datasets(session, gpt.id) == [(gpt.id, False)]
    home = await client.post(
        f"/builder/{gpt.id}/datasets/{gpt.id}/detach", data={"csrf_token": token(client)}
    )
    assert home.status_code == 409


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_a_zip_in_an_upload_form_is_unpacked_as_a_batch(client, session, settings, creator):
    """Without the pages' script a form posts a chosen zip as one file, which failed later as an
    unsupported format: a dataset page and the GPT editor's Knowledge tab unpack it as a batch's archive,
    and a bad archive is named at the form while the other files are kept."""
    await log_in(client, creator.email)
    path = (await create(client)).headers["location"].split("?")[0]
    gpt = await GptService(session, settings).create(creator)
    members = {"guides/kayak.md": GUIDE.encode(), "ferries.txt": b"Ferries run hourly.", "inner.zip": b"PK"}
    notes = _zip(members)
    for target, dataset_of in (
        (path, lambda: uuid.UUID(path.rsplit("/", 1)[1])),
        (f"/builder/{gpt.id}", None),
    ):
        files = [("file", ("notes.zip", notes)), ("file", ("plain.md", b"# Plain\n\nA file of its own."))]
        uploaded = await client.post(f"{target}/files", data={"csrf_token": token(client)}, files=files)
        assert uploaded.status_code == 303, uploaded.text
        dataset_id = (
            dataset_of()
            if dataset_of
            else await session.scalar(
                sa.select(KnowledgeFile.dataset_id)
                .where(KnowledgeFile.filename == "plain.md")
                .order_by(KnowledgeFile.created_at.desc())
                .limit(1)
            )
        )
        rows = (
            await session.execute(
                sa.select(KnowledgeFile.filename, KnowledgeFile.batch_id).where(
                    KnowledgeFile.dataset_id == dataset_id
                )
            )
        ).all()
        named = {name: batch for name, batch in rows}
        assert set(named) == {"guides/kayak.md", "ferries.txt", "plain.md"}, named
        assert named["guides/kayak.md"] is not None and named["guides/kayak.md"] == named["ferries.txt"]
        assert named["plain.md"] is None
        batch = await session.get(FileBatch, named["ferries.txt"])
        assert batch.skipped == [{"filename": "inner.zip", "reason": "nested_archive"}]

    broken = [
        ("file", ("broken.zip", b"PK\x03\x04 not really")),
        ("file", ("blank.md", b" \n\n ")),
        ("file", ("kept.md", b"# Kept\n\nHere.")),
    ]
    form = {"csrf_token": token(client)}
    refused = await client.post(f"{path}/files", data=form, files=broken, headers=HTML)
    assert refused.status_code == 422 and "broken.zip" in refused.text
    assert "blank.md: The file &#39;blank.md&#39; is empty" in refused.text
    assert "kept.md" in (await client.get(path, headers=HTML)).text
