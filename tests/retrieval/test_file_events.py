"""Many files followed in one Server-Sent Events stream (`GET .../files/events?ids=`): the events of each
file's own stream, each naming its file, until none is left in progress; bounded and checked as the
per-file stream is (docs/retrieval.md)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa

from retrieval.file_handling import files_progress_events
from retrieval.jobs import ingest
from retrieval.models import Dataset
from retrieval.schemas import MAX_FOLLOWED_FILES
from retrieval.service import KnowledgeService
from tests.factories import auth_headers, create_user
from tests.retrieval.test_files import create_gpt, upload
from tests.retrieval.test_ingestion import FakeEmbedder, server_sent_events


def note(i: int) -> bytes:
    return f"# Quay {i}\n\nThe ferry from quay {i} leaves at {i % 24:02d}:40 every morning.\n".encode()


async def upload_notes(client, headers, gpt_id: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        response = await upload(client, headers, gpt_id, f"quay-{i}.md", note(i))
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def home_dataset(session, gpt_id: str) -> Dataset:
    return await session.scalar(sa.select(Dataset).where(Dataset.home_gpt_id == uuid.UUID(gpt_id)))


async def take(stream, count: int) -> list[tuple[str, dict]]:
    return [(e["event"], json.loads(e["data"])) for e in [await anext(stream) for _ in range(count)]]


async def test_one_stream_follows_each_file_from_progress_to_its_end(live, settings):
    gpt_id = await create_gpt(live.client, live.headers)
    first, second, gone = await upload_notes(live.client, live.headers, gpt_id, 3)
    async with live.db.session_scope() as session:
        dataset_id = (await home_dataset(session, gpt_id)).id
    stream = files_progress_events(live.db, dataset_id, [uuid.UUID(i) for i in (first, second, gone)])

    # The stream reads the files only when asked for its next event: each step below happens between two
    # of its reads, so what it sends is exact.
    started = await take(stream, 3)
    assert [(name, data["id"], data["status"]) for name, data in started] == [
        ("progress", first, "in_progress"),
        ("progress", second, "in_progress"),
        ("progress", gone, "in_progress"),
    ]
    assert await ingest(live.db, settings, uuid.UUID(first), embedder=FakeEmbedder()) == "completed"
    deleted = await live.client.delete(f"/api/gpts/{gpt_id}/files/{gone}", headers=live.headers)
    assert deleted.status_code == 204
    (done, finished), (went, its) = await take(stream, 2)
    assert (done, finished["id"], finished["status"]) == ("done", first, "completed")
    assert finished["chunk_count"] >= 1
    assert (went, its) == ("deleted", {"id": gone})

    assert await ingest(live.db, settings, uuid.UUID(second), embedder=FakeEmbedder()) == "completed"
    [(done, finished)] = await take(stream, 1)
    assert (done, finished["id"], finished["status"]) == ("done", second, "completed")
    with pytest.raises(StopAsyncIteration):  # none is left in progress: the stream ends
        await anext(stream)


async def test_the_endpoint_streams_every_named_file_until_all_are_final(live, settings):
    gpt_id = await create_gpt(live.client, live.headers)
    ids = await upload_notes(live.client, live.headers, gpt_id, 4)
    url = f"/api/gpts/{gpt_id}/files/events?ids={','.join(ids)}"
    streamed = asyncio.create_task(live.client.get(url, headers=live.headers))
    for file_id in ids:
        assert await ingest(live.db, settings, uuid.UUID(file_id), embedder=FakeEmbedder()) == "completed"
    response = await asyncio.wait_for(streamed, 60)  # it ends by itself once every file is final

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = server_sent_events(response.text)
    assert {data["id"] for _, data in events} == set(ids)
    last = {data["id"]: (name, data["status"]) for name, data in events}
    assert last == {file_id: ("done", "completed") for file_id in ids}
    for file_id in ids:  # each file's events as its own stream sends them: `done` once, last
        names = [name for name, data in events if data["id"] == file_id]
        assert names[-1] == "done" and set(names[:-1]) <= {"progress"}


async def test_without_ids_the_stream_follows_the_files_in_progress(
    client, creator_headers, db, settings, session
):
    gpt_id = await create_gpt(client, creator_headers)
    ids = await upload_notes(client, creator_headers, gpt_id, 3)
    assert await ingest(db, settings, uuid.UUID(ids[0]), embedder=FakeEmbedder()) == "completed"
    service = KnowledgeService(session, settings)
    dataset = await home_dataset(session, gpt_id)
    assert [str(i) for i in await service.followed_files(dataset, None)] == ids[1:]  # upload order
    assert [str(i) for i in await service.followed_files(dataset, None, limit=1)] == ids[1:2]

    for file_id in ids[1:]:
        assert await ingest(db, settings, uuid.UUID(file_id), embedder=FakeEmbedder()) == "completed"
    idle = await client.get(f"/api/gpts/{gpt_id}/files/events", headers=creator_headers)
    assert idle.status_code == 200 and server_sent_events(idle.text) == []  # nothing in progress: it ends


async def test_other_users_files_are_neither_followed_nor_shown(
    client, creator_headers, db, settings, session
):
    gpt_id = await create_gpt(client, creator_headers)
    [mine] = await upload_notes(client, creator_headers, gpt_id, 1)
    assert await ingest(db, settings, uuid.UUID(mine), embedder=FakeEmbedder()) == "completed"
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    their_gpt = await create_gpt(client, other)
    secret = await upload(client, other, their_gpt, "crew-secrets.md", b"# Crew\n\nThe safe code is 4711.\n")
    theirs = secret.json()["id"]

    # Their GPT's stream is refused as its per-file stream is: 404, nothing streamed.
    refused = await client.get(f"/api/gpts/{their_gpt}/files/events?ids={theirs}", headers=creator_headers)
    assert refused.status_code == 404
    assert (
        await client.get(f"/api/gpts/{their_gpt}/files/events", headers=creator_headers)
    ).status_code == 404
    # Their file named in my stream reads as a file that is not there: its id back, nothing of it.
    mixed = await client.get(f"/api/gpts/{gpt_id}/files/events?ids={mine},{theirs}", headers=creator_headers)
    assert mixed.status_code == 200
    assert [(name, data["id"]) for name, data in server_sent_events(mixed.text)] == [
        ("done", mine),
        ("deleted", theirs),
    ]
    assert "crew-secrets" not in mixed.text and server_sent_events(mixed.text)[1][1] == {"id": theirs}
    missing = str(uuid.uuid4())
    unknown = await client.get(f"/api/gpts/{gpt_id}/files/events?ids={missing}", headers=creator_headers)
    assert server_sent_events(unknown.text) == [("deleted", {"id": missing})]  # the same answer


async def test_the_ids_are_bounded_and_checked(client, creator_headers, db, settings):
    gpt_id = await create_gpt(client, creator_headers)
    [mine] = await upload_notes(client, creator_headers, gpt_id, 1)
    assert await ingest(db, settings, uuid.UUID(mine), embedder=FakeEmbedder()) == "completed"
    url = f"/api/gpts/{gpt_id}/files/events"

    too_many = ",".join(str(uuid.uuid4()) for _ in range(MAX_FOLLOWED_FILES + 1))
    messages = {}
    for ids in (too_many, "quay-1.md", f"{mine},,{mine}", ""):
        refused = await client.get(url, params={"ids": ids}, headers=creator_headers)
        assert refused.status_code == 422, (ids, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        [error] = refused.json()["errors"]
        assert error["field"] == "ids" and error["source"] == "query"
        messages[ids] = error["message"]
    assert f"at most {MAX_FOLLOWED_FILES} file ids" in messages[too_many]

    repeated = await client.get(url, params={"ids": f"{mine},{mine}"}, headers=creator_headers)
    assert [(name, data["id"]) for name, data in server_sent_events(repeated.text)] == [("done", mine)]


async def test_a_dataset_streams_its_files_too(client, creator, creator_headers, db, settings, session):
    dataset = Dataset(owner_id=creator.id, name="Quays")
    session.add(dataset)
    await session.commit()
    url = f"/api/datasets/{dataset.id}/files"
    ids = []
    for i in range(2):
        response = await client.post(url, files={"file": (f"quay-{i}.md", note(i))}, headers=creator_headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
        assert await ingest(db, settings, uuid.UUID(ids[-1]), embedder=FakeEmbedder()) == "completed"
    streamed = await client.get(f"{url}/events?ids={','.join(ids)}", headers=creator_headers)
    assert [(name, data["id"]) for name, data in server_sent_events(streamed.text)] == [
        ("done", ids[0]),
        ("done", ids[1]),
    ]
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    assert (await client.get(f"{url}/events?ids={ids[0]}", headers=other)).status_code == 404


async def test_a_stream_ends_once_its_caller_logs_out(live, settings, redis, monkeypatch):
    """Access was checked only when a stream opened: a logged-out token (or a member removed from the
    organisation) kept receiving a private file's progress until it ended. The stream asks again every
    `core.sse.RECHECK_SECONDS` (here every tick) and ends with `error`."""
    from core import sse
    from core.auth import AccountService
    from retrieval.file_handling import still_editor

    monkeypatch.setattr(sse, "RECHECK_SECONDS", 0.0)
    gpt_id = await create_gpt(live.client, live.headers)
    (file_id,) = await upload_notes(live.client, live.headers, gpt_id, 1)
    async with live.db.session_scope() as session:
        dataset_id = (await home_dataset(session, gpt_id)).id
    token = live.headers["Authorization"].split(" ", 1)[1]
    check = still_editor(token, settings, redis, dataset_id)
    stream = files_progress_events(live.db, dataset_id, [uuid.UUID(file_id)], check)

    assert [name for name, _ in await take(stream, 1)] == ["progress"]  # allowed: the file as it is
    async with live.db.session_scope() as session:
        await AccountService(session, settings, redis).revoke_token(token)  # logged out elsewhere
    ((name, data),) = await take(stream, 1)
    assert name == "error" and "access ended" in data["message"]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
