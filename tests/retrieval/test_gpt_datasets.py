"""GPTs use datasets: attach rules, one ingestion shared by many GPTs, pinning and "follow latest"
end to end through the preview and the published store chat."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk, KnowledgeFile
from tests.factories import auth_headers, create_user

GOOD = {
    "description": "Plans fjord trips in Norway.",
    "instructions": "You help tourists plan fjord trips.",
    "conversation_starters": ["Best fjord in May?"],
    "category": "lifestyle",
}
KAYAKS = "# Rentals\n\nKayak rentals in Gudvangen open at 9 am and cost 600 NOK for half a day.\n"
FERRIES = "# Ferries\n\nThe Geirangerfjord ferry runs from May to September, four times a day.\n"
BIKES = "# Bikes\n\nElectric bikes in Flåm cost 450 NOK for a day, helmet included.\n"


async def make_gpt(client, headers, name) -> str:
    response = await client.post("/api/gpts", json={**GOOD, "name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_dataset(client, headers, **fields) -> str:
    response = await client.post("/api/datasets", json={"name": "Fjords", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def add_file(client, headers, db, settings, dataset_id, name, text) -> str:
    url = f"/api/datasets/{dataset_id}/files"
    response = await client.post(url, files={"file": (name, text.encode())}, headers=headers)
    assert response.status_code == 202, response.text
    file_id = response.json()["id"]
    assert await ingest(db, settings, uuid.UUID(file_id)) == "completed"
    return file_id


async def attach(client, headers, gpt_id, dataset_id, follow_latest=False):
    body = {"dataset_id": dataset_id, "follow_latest": follow_latest}
    return await client.post(f"/api/gpts/{gpt_id}/datasets", json=body, headers=headers)


async def preview_cites(client, headers, gpt_id, question) -> list[str]:
    url = f"/api/gpts/{gpt_id}/preview/messages"
    response = await client.post(url, json={"content": question}, headers=headers)
    assert response.status_code == 200, response.text
    return [c["filename"] for c in response.json()["message"]["citations"]]


async def store_cites(client, headers, conversation_id, question) -> list[str]:
    url = f"/api/conversations/{conversation_id}/messages"
    response = await client.post(url, json={"content": question}, headers=headers)
    assert response.status_code == 200, response.text
    return [c["filename"] for c in response.json()["message"]["citations"]]


async def publish(client, headers, gpt_id) -> dict:
    response = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=headers
    )
    assert response.status_code == 201 and response.json()["review_status"] == "approved", response.text
    return response.json()


async def test_two_gpts_share_one_ingestion_and_both_answer_from_it(
    client, creator_headers, db, settings, session
):
    dataset_id = await make_dataset(client, creator_headers)
    file_id = await add_file(client, creator_headers, db, settings, dataset_id, "kayaks.md", KAYAKS)
    first, second = [await make_gpt(client, creator_headers, name) for name in ("Kayaks", "Paddles")]
    for gpt_id in (first, second):
        attached = await attach(client, creator_headers, gpt_id, dataset_id)
        assert attached.status_code == 201, attached.text
        read = (await client.get(f"/api/gpts/{gpt_id}", headers=creator_headers)).json()
        assert [(d["id"], d["home"]) for d in read["datasets"]] == [(gpt_id, True), (dataset_id, False)]
        assert await preview_cites(client, creator_headers, gpt_id, "How much is a kayak?") == ["kayaks.md"]
    files = await session.scalar(sa.select(sa.func.count()).where(KnowledgeFile.sha256.isnot(None)))
    chunks = await session.scalar(sa.select(sa.func.count()).select_from(KnowledgeChunk))
    own = await session.scalar(
        sa.select(KnowledgeFile.chunk_count).where(KnowledgeFile.id == uuid.UUID(file_id))
    )
    assert files == 1 and chunks == own  # parsed and embedded once for both


async def test_attach_rules(client, creator_headers, session, settings):
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    gpt_id = await make_gpt(client, creator_headers, "Mine")
    theirs_private = await make_dataset(client, other)
    theirs_open = await make_dataset(client, other, access="open", license="CC-BY-4.0")
    refused = await attach(client, creator_headers, gpt_id, theirs_private)
    assert refused.status_code == 404 and refused.json()["errors"][0]["field"] == "dataset_id"
    assert (await attach(client, creator_headers, gpt_id, str(uuid.uuid4()))).status_code == 404
    assert (await attach(client, creator_headers, gpt_id, theirs_open)).status_code == 201
    assert (await attach(client, creator_headers, gpt_id, theirs_open)).status_code == 409
    assert (await attach(client, other, gpt_id, theirs_open)).status_code == 404  # not their GPT
    listed = (await client.get(f"/api/gpts/{gpt_id}/datasets", headers=creator_headers)).json()["data"]
    assert [d["id"] for d in listed] == [gpt_id, theirs_open]

    url = f"/api/gpts/{gpt_id}/datasets/{theirs_open}"
    followed = await client.patch(url, json={"follow_latest": True}, headers=creator_headers)
    assert followed.status_code == 200 and followed.json()["data"][1]["follow_latest"] is True
    bad = await client.patch(url, json={"follow_latest": "yes"}, headers=creator_headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "follow_latest"
    home = await client.delete(f"/api/gpts/{gpt_id}/datasets/{gpt_id}", headers=creator_headers)
    assert home.status_code == 409
    assert (await client.delete(url, headers=creator_headers)).status_code == 204
    assert (await client.delete(url, headers=creator_headers)).status_code == 404
    listed = (await client.get(f"/api/gpts/{gpt_id}/datasets", headers=creator_headers)).json()["data"]
    assert [d["id"] for d in listed] == [gpt_id]
    # Their private dataset was never attached, and stays unchanged and unlisted for us.
    assert (await client.get(f"/api/datasets/{theirs_private}", headers=creator_headers)).status_code == 404


async def test_published_versions_pin_dataset_versions_or_follow_the_latest(
    client, creator_headers, db, settings, session
):
    dataset_id = await make_dataset(client, creator_headers)
    kayaks = await add_file(client, creator_headers, db, settings, dataset_id, "kayaks.md", KAYAKS)
    pinned = await make_gpt(client, creator_headers, "Pinned Guide")
    following = await make_gpt(client, creator_headers, "Following Guide")
    assert (await attach(client, creator_headers, pinned, dataset_id)).status_code == 201
    assert (
        await attach(client, creator_headers, following, dataset_id, follow_latest=True)
    ).status_code == 201
    version = await publish(client, creator_headers, pinned)
    await publish(client, creator_headers, following)
    user = auth_headers(await create_user(session, settings), settings)
    chats = {
        gpt_id: (await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=user)).json()["id"]
        for gpt_id in (pinned, following)
    }
    for chat in chats.values():
        assert await store_cites(client, user, chat, "How much is a kayak?") == ["kayaks.md"]

    # The dataset changes: one file out, one in.
    url = f"/api/datasets/{dataset_id}/files/{kayaks}"
    assert (await client.delete(url, headers=creator_headers)).status_code == 204
    await add_file(client, creator_headers, db, settings, dataset_id, "ferries.md", FERRIES)
    assert (await client.get(f"/api/datasets/{dataset_id}", headers=creator_headers)).json()["version"] == 4
    refused = await client.delete(f"/api/datasets/{dataset_id}", headers=creator_headers)
    assert refused.status_code == 409 and set(refused.json()["gpt_ids"]) == {pinned, following}

    # The pinned version answers as published; the following one sees the change at once.
    assert await store_cites(client, user, chats[pinned], "How much is a kayak?") == ["kayaks.md"]
    assert "ferries.md" not in await store_cites(client, user, chats[pinned], "When does the ferry run?")
    assert "kayaks.md" not in await store_cites(client, user, chats[following], "How much is a kayak?")
    assert await store_cites(client, user, chats[following], "When does the ferry run?") == ["ferries.md"]
    # The draft's preview reads the dataset as it is now.
    assert await preview_cites(client, creator_headers, pinned, "When does the ferry run?") == ["ferries.md"]

    republished = await publish(client, creator_headers, pinned)
    assert republished["number"] == version["number"] + 1
    # A conversation keeps its version; a new one gets the republished version and the dataset as it is.
    assert await store_cites(client, user, chats[pinned], "How much is a kayak?") == ["kayaks.md"]
    chats[pinned] = (await client.post(f"/api/store/gpts/{pinned}/conversations", headers=user)).json()["id"]
    assert "kayaks.md" not in await store_cites(client, user, chats[pinned], "How much is a kayak?")
    assert await store_cites(client, user, chats[pinned], "When does the ferry run?") == ["ferries.md"]
    await add_file(client, creator_headers, db, settings, dataset_id, "bikes.md", BIKES)
    assert await store_cites(client, user, chats[following], "What does an electric bike cost?") == [
        "bikes.md"
    ]
    assert "bikes.md" not in await store_cites(
        client, user, chats[pinned], "What does an electric bike cost?"
    )


async def test_a_dataset_made_private_stops_answering_in_other_owners_gpts(
    client, creator_headers, db, settings, session
):
    dataset_id = await make_dataset(client, creator_headers, access="open", license="CC-BY-4.0")
    await add_file(client, creator_headers, db, settings, dataset_id, "kayaks.md", KAYAKS)
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    theirs = await make_gpt(client, other, "Borrowed Guide")
    mine = await make_gpt(client, creator_headers, "Own Guide")
    for headers, gpt_id in ((other, theirs), (creator_headers, mine)):
        assert (await attach(client, headers, gpt_id, dataset_id)).status_code == 201
        await publish(client, headers, gpt_id)
    user = auth_headers(await create_user(session, settings), settings)
    chat = (await client.post(f"/api/store/gpts/{theirs}/conversations", headers=user)).json()["id"]
    assert await store_cites(client, user, chat, "How much is a kayak?") == ["kayaks.md"]

    made_private = await client.patch(
        f"/api/datasets/{dataset_id}", json={"access": "private"}, headers=creator_headers
    )
    assert made_private.status_code == 200
    assert await store_cites(client, user, chat, "How much is a kayak?") == []
    assert await preview_cites(client, other, theirs, "How much is a kayak?") == []
    read = (await client.get(f"/api/gpts/{theirs}", headers=other)).json()
    assert [d["id"] for d in read["datasets"]] == [theirs]  # left their draft
    assert await preview_cites(client, creator_headers, mine, "How much is a kayak?") == ["kayaks.md"]


async def test_only_the_owners_published_gpts_hold_a_datasets_deletion_back(
    client, creator_headers, db, settings, session
):
    """Another owner's GPT that used an open dataset neither blocks its deletion nor is named to the
    deleter (a link-only GPT's id is its only secret); the owner's own published GPT is, until unpublished."""
    dataset_id = await make_dataset(client, creator_headers, access="open", license="CC0-1.0")
    await add_file(client, creator_headers, db, settings, dataset_id, "kayaks.md", KAYAKS)
    eve = auth_headers(await create_user(session, settings, plan="plus"), settings)
    theirs = await make_gpt(client, eve, "Eve's Guide")
    assert (await attach(client, eve, theirs, dataset_id)).status_code == 201
    link = await client.post(f"/api/gpts/{theirs}/publish", json={"visibility": "link"}, headers=eve)
    assert link.status_code == 201, link.text
    mine = await make_gpt(client, creator_headers, "My Guide")
    assert (await attach(client, creator_headers, mine, dataset_id)).status_code == 201
    await publish(client, creator_headers, mine)

    private = await client.patch(
        f"/api/datasets/{dataset_id}", json={"access": "private"}, headers=creator_headers
    )
    assert private.status_code == 200, private.text
    refused = await client.delete(f"/api/datasets/{dataset_id}", headers=creator_headers)
    assert refused.status_code == 409 and refused.json()["gpt_ids"] == [mine]
    assert (await client.post(f"/api/gpts/{mine}/unpublish", headers=creator_headers)).status_code == 204
    assert (await client.delete(f"/api/datasets/{dataset_id}", headers=creator_headers)).status_code == 204
    # Eve's GPT goes on, without it.
    assert (await client.get(f"/api/store/gpts/{theirs}", headers=eve)).status_code == 200


async def test_a_file_its_owner_deleted_stops_answering_in_other_owners_published_gpts(
    client, creator_headers, db, settings, session
):
    """Personal data put in an open dataset by mistake: its owner deletes the file. Another owner's published
    GPT that pinned it kept quoting it, credited to the dataset, and offered it for download."""
    dataset_id = await make_dataset(client, creator_headers, access="open", license="CC-BY-4.0")
    kayaks = await add_file(client, creator_headers, db, settings, dataset_id, "kayaks.md", KAYAKS)
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    theirs = await make_gpt(client, other, "Borrowed Guide")
    mine = await make_gpt(client, creator_headers, "Own Guide")
    for headers, gpt_id in ((other, theirs), (creator_headers, mine)):
        assert (await attach(client, headers, gpt_id, dataset_id)).status_code == 201
        await publish(client, headers, gpt_id)
    user = auth_headers(await create_user(session, settings), settings)
    chats = {
        gpt_id: (await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=user)).json()["id"]
        for gpt_id in (theirs, mine)
    }
    assert await store_cites(client, user, chats[theirs], "How much is a kayak?") == ["kayaks.md"]

    deleted = await client.delete(f"/api/datasets/{dataset_id}/files/{kayaks}", headers=creator_headers)
    assert deleted.status_code == 204
    assert await store_cites(client, user, chats[theirs], "How much is a kayak?") == []
    page = (await client.get(f"/api/store/gpts/{theirs}", headers=user)).json()
    assert [f["filename"] for f in page["knowledge"]] == []
    download = await client.get(f"/api/store/gpts/{theirs}/files/{kayaks}/download", headers=user)
    assert download.status_code == 404
    # The owner's own published version keeps what it pinned, as before.
    assert await store_cites(client, user, chats[mine], "How much is a kayak?") == ["kayaks.md"]
