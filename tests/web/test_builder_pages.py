"""The builder pages over httpx: the editor's panes, building by chat (offline and scripted LLM, plain and
streamed), undo, Configure's field errors, knowledge files, preview with citations, publishing with the
review result, versions, export, import and delete."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import httpx
import pytest

from builder.schemas import GptCreate
from builder.service import GptService
from core.storage import storage_of
from retrieval.jobs import ingest
from retrieval.uploads import upload_key
from tests.factories import auth_headers, create_user
from tests.fake_openai import text, tool_call
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE

GUIDE = (
    "# Kayaking\n\nKayak rental at Flåm costs 600 NOK per day in summer. "
    "Guided kayak tours start at nine in the morning from the harbour."
)
STREAM = {"Accept": "text/event-stream"}


def events(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


async def signed_in_draft(client: httpx.AsyncClient, session, settings, creator, **fields) -> str:
    """Log the creator in and give them a draft; returns the editor's path."""
    gpt = await GptService(session, settings).create(creator, GptCreate(**fields) if fields else None)
    await log_in(client, creator.email)
    return f"/builder/{gpt.id}"


def token(client: httpx.AsyncClient) -> str:
    return client.cookies.get(CSRF_COOKIE)


async def test_editor_shows_every_pane_to_its_owner_only(client, session, creator, settings):
    path = await signed_in_draft(client, session, settings, creator, name="Fjord Guide")
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    html = page.text
    for marker in ('id="tab-create"', 'id="panel-configure"', 'id="panel-knowledge"', 'id="preview"'):
        assert marker in html
    assert 'id="publish-dialog"' in html and 'src="/static/builder.js"' in html
    assert "<script>" not in html and " style=" not in html and " onclick" not in html
    configure = await client.get(f"{path}?tab=configure", headers=HTML)
    assert 'id="panel-configure" aria-labelledby="tab-configure" tabindex="0">' in configure.text
    assert "Content-Security-Policy" in configure.headers

    client.cookies.clear()
    other = await create_user(session, settings, plan="plus")
    await log_in(client, other.email)
    assert (await client.get(path, headers=HTML)).status_code == 404


async def test_build_by_chat_offline_plain_and_streamed_then_undo(client, session, creator, settings):
    path = await signed_in_draft(client, session, settings, creator)
    message = "Make a GPT called Fjord Guide that helps tourists plan fjord trips."
    sent = await client.post(f"{path}/messages", data={"csrf_token": token(client), "content": message})
    assert sent.status_code == 303
    page = (await client.get(sent.headers["location"], headers=HTML)).text
    assert 'id="builder-title">Fjord Guide<' in page
    assert "Changed Name, Description, Instructions" in page and "Undo this turn" in page

    streamed = await client.post(
        f"{path}/messages",
        data={"csrf_token": token(client), "content": "call it Fjord Buddy"},
        headers={**STREAM, "X-CSRF-Token": token(client)},
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    found = events(streamed.text)
    assert (
        "change",
        {"field": "name", "before": "Fjord Guide", "after": "Fjord Buddy", "label": "Name"},
    ) in found
    assert found[-1][0] == "done" and found[-1][1]["gpt"]["name"] == "Fjord Buddy"

    undone = await client.post(f"{path}/undo", data={"csrf_token": token(client)})
    assert undone.status_code == 303
    page = (await client.get(undone.headers["location"], headers=HTML)).text
    assert 'id="builder-title">Fjord Guide<' in page and "(undone)" in page
    await client.post(f"{path}/undo", data={"csrf_token": token(client)})
    refused = await client.post(f"{path}/undo", data={"csrf_token": token(client)}, headers=HTML)
    assert refused.status_code == 409 and "There is no builder change to undo" in refused.text

    empty = await client.post(
        f"{path}/messages", data={"csrf_token": token(client), "content": ""}, headers=HTML
    )
    assert empty.status_code == 422 and 'id="e-builder_content"' in empty.text


async def test_build_by_chat_with_a_scripted_llm(llm_client, fake_openai, session, creator, llm_settings):
    path = await signed_in_draft(llm_client, session, llm_settings, creator)
    fake_openai.script(
        tool_call("update_gpt", {"name": "Chef", "description": "Cooks."}), text("Done: Chef.")
    )
    streamed = await llm_client.post(
        f"{path}/messages",
        data={"csrf_token": token(llm_client), "content": "A cooking helper named Chef"},
        headers={**STREAM, "X-CSRF-Token": token(llm_client)},
    )
    found = events(streamed.text)
    assert [name for name, _ in found if name == "change"] == ["change", "change"]
    assert found[-1][1]["message"]["content"] == "Done: Chef."
    page = (await llm_client.get(f"{path}?tab=configure", headers=HTML)).text
    assert 'value="Chef"' in page and "Changed Name, Description" in page


async def test_configure_names_each_bad_field_and_saves_every_setting(
    client, session, creator, settings, creator_headers
):
    path = await signed_in_draft(client, session, settings, creator)
    form = {
        "csrf_token": token(client),
        "name": "Trail Buddy",
        "description": "Hikes",
        "instructions": "Help hikers.",
        "welcome_message": "Hi",
        "conversation_starters": ["What to pack?", "", "Where to hike?", ""],
        "category": "lifestyle",
        "tags": "outdoors, hiking",
        "language": "en",
        "model": "",
        "retrieval.top_k": "99",
        "retrieval.score_threshold": "0.2",
        "retrieval.chunk_size": "300",
        "retrieval.chunk_overlap": "200",
        "trust.instructions": "public",
        "trust.verbatim_max_words": "12",
    }
    invalid = await client.post(path, data=form, headers=HTML)
    assert invalid.status_code == 422
    assert 'id="e-retrieval-top_k"' in invalid.text
    assert 'value="Trail Buddy"' in invalid.text and 'value="Where to hike?"' in invalid.text
    overlap = await client.post(path, data={**form, "retrieval.top_k": "3"}, headers=HTML)
    assert (
        "chunk_overlap must be at most 150, half of chunk_size (300)" in overlap.text
        and 'id="e-retrieval-chunk_overlap"' in overlap.text
    )
    too_many = await client.post(
        path, data={**form, "conversation_starters": ["a", "b", "c", "d", "e"]}, headers=HTML
    )
    assert 'id="e-conversation_starters"' in too_many.text

    saved = await client.post(
        path, data={**form, "retrieval.top_k": "3", "retrieval.chunk_overlap": "100"}, headers=HTML
    )
    assert saved.status_code == 303, saved.text
    gpt = (await client.get(f"/api/gpts/{path.rsplit('/', 1)[1]}", headers=creator_headers)).json()
    assert gpt["conversation_starters"] == ["What to pack?", "Where to hike?"]
    assert gpt["retrieval"] == {"chunk_size": 300, "chunk_overlap": 100, "top_k": 3, "score_threshold": 0.2}
    assert gpt["trust"] == {"instructions": "public", "verbatim_max_words": 12}
    assert gpt["tags"] == ["outdoors", "hiking"]


async def test_knowledge_upload_many_follow_events_preview_cites_delete(
    client, session, db, creator, settings
):
    path = await signed_in_draft(
        client, session, settings, creator, name="Fjord Guide", instructions="Answer from the files."
    )
    files = [("file", ("kayak.md", GUIDE.encode())), ("file", ("notes.txt", b"Ferries run hourly."))]
    data = {"csrf_token": token(client), "access": "open", "license": "CC-BY-4.0"}
    uploaded = await client.post(f"{path}/files", data=data, files=files)
    assert uploaded.status_code == 303 and "tab=knowledge" in uploaded.headers["location"]
    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    ids = [i for i in page.split('data-file-id="')[1:]]
    ids = [uuid.UUID(i.split('"', 1)[0]) for i in ids]
    assert len(ids) == 2 and "kayak.md" in page and "notes.txt" in page and "CC-BY-4.0" in page
    for file_id in ids:
        assert await ingest(db, settings, file_id) == "completed"
    followed = await client.get(f"{path}/files/{ids[0]}/events", headers={"Accept": "text/event-stream"})
    (name, snapshot), *_ = events(followed.text)
    assert name == "done" and snapshot["status"] == "completed" and snapshot["chunk_count"] >= 1
    both = await client.get(f"{path}/files/events?ids={ids[0]},{ids[1]}", headers=STREAM)
    assert [(name, data["id"]) for name, data in events(both.text)] == [("done", str(i)) for i in ids]

    one = await client.post(
        f"{path}/files",
        data={"csrf_token": token(client)},
        files={"file": ("again.md", b"# Again\n\nSomething else entirely.")},
        headers={"Accept": "application/json", "X-CSRF-Token": token(client)},
    )
    assert one.status_code == 202 and one.json()["access"] == "private"
    duplicate = await client.post(
        f"{path}/files", data={"csrf_token": token(client)}, files=[files[0]], headers=HTML
    )
    assert duplicate.status_code == 422 and "kayak.md" in duplicate.text and 'id="e-file"' in duplicate.text

    asked = await client.post(
        f"{path}/preview", data={"csrf_token": token(client), "content": "What does kayak rental cost?"}
    )
    assert asked.status_code == 303 and "c=" in asked.headers["location"]
    page = (await client.get(asked.headers["location"], headers=HTML)).text
    assert "<summary>kayak.md, Kayaking</summary>" in page and "600 NOK" in page
    assert f'href="?tab=knowledge#file-{ids[0]}"' in page

    deleted = await client.post(f"{path}/files/{ids[1]}/delete", data={"csrf_token": token(client)})
    assert deleted.status_code == 303
    assert "notes.txt" not in (await client.get(f"{path}?tab=knowledge", headers=HTML)).text


async def test_preview_streams_with_citations(client, session, db, creator, settings):
    path = await signed_in_draft(client, session, settings, creator, name="Fjord Guide")
    await client.post(
        f"{path}/files",
        data={"csrf_token": token(client), "access": "open"},
        files={"file": ("k.md", GUIDE.encode())},
    )
    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    file_id = uuid.UUID(page.split('data-file-id="')[1].split('"', 1)[0])
    await ingest(db, settings, file_id)
    streamed = await client.post(
        f"{path}/preview",
        data={"csrf_token": token(client), "content": "kayak rental price"},
        headers={**STREAM, "X-CSRF-Token": token(client)},
    )
    name, done = events(streamed.text)[-1]
    assert name == "done" and done["message"]["citations"][0]["filename"] == "k.md"
    assert "600 NOK" in done["message"]["citations"][0]["quote"]
    again = await client.post(
        f"{path}/preview",
        data={
            "csrf_token": token(client),
            "content": "and tours?",
            "conversation_id": done["conversation_id"],
        },
    )
    assert f"c={done['conversation_id']}" in again.headers["location"]
    wrong = await client.post(
        f"{path}/preview",
        data={"csrf_token": token(client), "content": "x", "conversation_id": str(uuid.uuid4())},
        headers=HTML,
    )
    assert wrong.status_code == 404


async def test_publish_shows_every_review_reason_then_approves_restores_unpublishes(
    client, session, creator, settings
):
    path = await signed_in_draft(client, session, settings, creator, name="Fjord Guide", description="Trips")
    no_category = await client.post(
        f"{path}/publish", data={"csrf_token": token(client), "visibility": "public"}, headers=HTML
    )
    assert no_category.status_code == 409 and 'id="e-category"' in no_category.text
    rejected = await client.post(
        f"{path}/publish",
        data={
            "csrf_token": token(client),
            "visibility": "public",
            "category": "lifestyle",
            "release_notes": "First",
        },
        headers=HTML,
    )
    assert rejected.status_code == 200
    assert "Version 1 was not approved" in rejected.text
    assert "instructions is required for a public GPT" in rejected.text
    assert "a public GPT needs at least one conversation starter" in rejected.text

    gpts = GptService(session, settings)
    row = await gpts.get_owned(creator, uuid.UUID(path.rsplit("/", 1)[1]))
    await gpts.update(row, GptCreate(instructions="Plan trips.", conversation_starters=["Where?"]))
    approved = await client.post(
        f"{path}/publish", data={"csrf_token": token(client), "visibility": "public"}, headers=HTML
    )
    assert "Version 2 is live" in approved.text and "Version 1" in approved.text

    await gpts.update(row, GptCreate(name="Renamed"))
    restored = await client.post(f"{path}/versions/2/restore", data={"csrf_token": token(client)})
    assert restored.status_code == 303
    assert (
        'id="builder-title">Fjord Guide<'
        in (await client.get(restored.headers["location"], headers=HTML)).text
    )

    unpublished = await client.post(f"{path}/unpublish", data={"csrf_token": token(client)})
    assert unpublished.status_code == 303
    again = await client.post(f"{path}/unpublish", data={"csrf_token": token(client)}, headers=HTML)
    assert again.status_code == 409 and "This GPT is not published" in again.text


async def test_the_publish_form_keeps_the_visibility_of_the_newest_version(
    client, session, creator, settings
):
    """A GPT shared by link is not made public by pressing Publish again after an edit."""
    path = await signed_in_draft(client, session, settings, creator, name="Fjord Guide")
    checked = 'value="{}" checked'
    fresh = await client.get(path, headers=HTML)
    assert checked.format("public") in fresh.text  # a draft never published: public, as before
    shared = await client.post(
        f"{path}/publish", data={"csrf_token": token(client), "visibility": "link"}, headers=HTML
    )
    assert "Version 1 is live" in shared.text
    for page in (shared, await client.get(path, headers=HTML), await client.get(f"{path}/publish")):
        assert checked.format("link") in page.text and checked.format("public") not in page.text


async def test_export_import_and_delete(client, session, creator, settings):
    path = await signed_in_draft(client, session, settings, creator, name="Fjord/Guide", description="Trips")
    await client.post(
        f"{path}/files", data={"csrf_token": token(client)}, files={"file": ("k.md", GUIDE.encode())}
    )
    exported = await client.get(f"{path}/export")
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    assert "Fjord-Guide.gptstore.zip" in exported.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert json.loads(archive.read("gptstore.json"))["gpt"]["name"] == "Fjord/Guide"

    imported = await client.post(
        "/builder/import",
        data={"csrf_token": token(client)},
        files={"file": ("fjord.gptstore.zip", exported.content, "application/zip")},
    )
    assert imported.status_code == 303 and "done=imported" in imported.headers["location"]
    page = (await client.get(imported.headers["location"], headers=HTML)).text
    assert 'id="builder-title">Fjord/Guide<' in page and "k.md" in page and "Imported." in page
    bad = await client.post(
        "/builder/import",
        data={"csrf_token": token(client)},
        files={"file": ("x.zip", b"not a zip")},
        headers=HTML,
    )
    assert bad.status_code == 422 and "not a zip archive" in bad.text and 'id="e-file"' in bad.text

    unconfirmed = await client.post(f"{path}/delete", data={"csrf_token": token(client)}, headers=HTML)
    assert unconfirmed.status_code == 422 and 'id="e-confirm"' in unconfirmed.text
    deleted = await client.post(f"{path}/delete", data={"csrf_token": token(client), "confirm": "yes"})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/builder"
    assert (await client.get(path, headers=HTML)).status_code == 404


@pytest.mark.parametrize(
    "path", ["/messages", "/undo", "/preview", "/files", "/publish", "/unpublish", "/delete"]
)
async def test_every_builder_post_needs_the_csrf_token(client, session, creator, settings, path):
    editor = await signed_in_draft(client, session, settings, creator)
    refused = await client.post(f"{editor}{path}", data={"content": "x"}, headers=HTML)
    assert refused.status_code == 403


async def test_a_refused_file_in_the_form_keeps_the_files_before_it_and_their_bytes(
    client, session, db, creator, settings
):
    """Each file of the form is added in a savepoint: the duplicate's rollback (its object deleted) must
    not undo the file before it, nor delete that file's stored bytes."""
    path = await signed_in_draft(client, session, settings, creator, name="Fjord Guide")
    await client.post(
        f"{path}/files", data={"csrf_token": token(client)}, files={"file": ("k.md", GUIDE.encode())}
    )
    form = [("file", ("notes.txt", b"Ferries run hourly.")), ("file", ("again.md", GUIDE.encode()))]
    answered = await client.post(
        f"{path}/files", data={"csrf_token": token(client)}, files=form, headers=HTML
    )
    assert "again.md" in answered.text  # named as refused
    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    ids = [uuid.UUID(i.split('"', 1)[0]) for i in page.split('data-file-id="')[1:]]
    assert len(ids) == 2 and "notes.txt" in page
    storage = storage_of(settings)
    assert [await storage.exists(upload_key(file_id)) for file_id in ids] == [True, True]
    assert [await ingest(db, settings, file_id) for file_id in ids] == ["completed", "completed"]


async def test_a_post_without_the_configure_fields_changes_nothing(client, session, creator, settings):
    """A stray form posted to the editor's URL (a Delete button without an action did) used to save every
    field as blank."""
    path = await signed_in_draft(
        client, session, settings, creator, name="Tide Planner", instructions="Tides."
    )
    stray = await client.post(path, data={"csrf_token": token(client)}, headers=HTML)
    assert stray.status_code == 422 and "nothing was saved" in stray.text
    gpt_id = path.rsplit("/", 1)[1]
    kept = (await client.get(f"/api/gpts/{gpt_id}", headers=auth_headers(creator, settings))).json()
    assert (kept["name"], kept["instructions"]) == ("Tide Planner", "Tides.")


async def test_a_preview_citation_links_where_the_cited_file_is_listed(
    client, session, db, creator, settings
):
    from tests.datasets.factories import create_dataset

    path = await signed_in_draft(
        client, session, settings, creator, name="Fjord Guide", instructions="Answer from the files."
    )
    gpt_id = path.rsplit("/", 1)[1]
    other = await create_user(session, settings, plan="plus", display_name="Coast Keeper")
    mine = await create_dataset(
        session, settings, creator, db=db, name="Kayak notes", access="private", license=None,
        files={"kayak.md": GUIDE},
    )  # fmt: skip
    theirs = await create_dataset(
        session, settings, other, db=db, name="Ferry facts",
        files={"ferry.md": "# Ferries\n\nThe kayak ferry to Undredal leaves at 10 am."},
    )  # fmt: skip
    await session.commit()
    headers = auth_headers(creator, settings)
    for dataset in (mine, theirs):
        attached = await client.post(
            f"/api/gpts/{gpt_id}/datasets", json={"dataset_id": str(dataset.id)}, headers=headers
        )
        assert attached.status_code == 201, attached.text

    streamed = await client.post(
        f"{path}/preview",
        data={"csrf_token": token(client), "content": "kayak ferry rental"},
        headers={**STREAM, "X-CSRF-Token": token(client)},
    )
    name, done = events(streamed.text)[-1]
    cited = {c["filename"]: c for c in done["message"]["citations"]}
    assert set(cited) == {"kayak.md", "ferry.md"}, cited
    assert cited["ferry.md"]["dataset"]["url"] == f"/datasets/{theirs.id}"  # open: its public page
    assert cited["kayak.md"]["dataset"]["url"] is None  # private: no public page
    page = (await client.get(f"{path}?c={done['conversation_id']}", headers=HTML)).text
    # Not the Knowledge tab (their rows are not there): each dataset's page, at the file's row.
    assert f'href="/creator/datasets/{mine.id}#file-{cited["kayak.md"]["file_id"]}"' in page
    assert f'href="/datasets/{theirs.id}#file-{cited["ferry.md"]["file_id"]}"' in page
    assert "?tab=knowledge#file-" not in page
    for url, file_id in (
        (f"/creator/datasets/{mine.id}", cited["kayak.md"]["file_id"]),
        (f"/datasets/{theirs.id}", cited["ferry.md"]["file_id"]),
    ):
        shown = await client.get(url, headers=HTML)
        assert shown.status_code == 200 and f'id="file-{file_id}"' in shown.text
