"""Races around datasets: requests sent at the same moment answer exactly as the same requests one by one
(fixtures: conftest.py here)."""

from __future__ import annotations

import sqlalchemy as sa

from retrieval.models import GptDataset, KnowledgeFile
from tests.factories import auth_headers
from tests.hardening.concurrency import PARALLEL, count, new_user, statuses, stored_blobs, together

GOOD = {
    "name": "Canteen Guide",
    "description": "What the canteen serves.",
    "instructions": "Answer from the menu.",
    "conversation_starters": ["Soup today?"],
    "category": "lifestyle",
}


async def new_dataset(client, headers) -> str:
    response = await client.post("/api/datasets", json={"name": "Menu"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def gpt_and_dataset(client, db, settings) -> tuple[dict[str, str], str, str]:
    """A creator's headers, a GPT draft of theirs and a dataset of theirs."""
    headers = auth_headers(await new_user(db, settings, plan="plus"), settings)
    gpt_id = (await client.post("/api/gpts", json=GOOD, headers=headers)).json()["id"]
    return headers, gpt_id, await new_dataset(client, headers)


def upload(client, dataset_id: str, headers, content: bytes):
    return client.post(
        f"/api/datasets/{dataset_id}/files",
        files={"file": ("menu.txt", content, "text/plain")},
        headers=headers,
    )


async def test_uploads_racing_the_deletion_of_their_dataset_leave_nothing_behind(
    race_client, race_db, race_settings
):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    dataset_id = await new_dataset(race_client, headers)
    uploads = [upload(race_client, dataset_id, headers, f"Dish {n}.\n".encode()) for n in range(PARALLEL - 1)]

    *uploaded, deleted = await together(
        [*uploads, race_client.delete(f"/api/datasets/{dataset_id}", headers=headers)]
    )

    assert deleted.status_code == 204
    assert set(statuses(uploaded)) <= {202, 404}
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == 0
    assert stored_blobs(race_settings) == []


async def test_parallel_attaches_of_one_dataset_attach_it_once(race_client, race_db, race_settings):
    headers, gpt_id, dataset_id = await gpt_and_dataset(race_client, race_db, race_settings)
    body = {"dataset_id": dataset_id}

    responses = await together(
        [
            race_client.post(f"/api/gpts/{gpt_id}/datasets", json=body, headers=headers)
            for _ in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    assert await count(race_db, sa.select(GptDataset).where(GptDataset.dataset_id == dataset_id)) == 1


async def test_a_publish_racing_the_deletion_of_its_dataset_keeps_them_consistent(
    race_client, race_db, race_settings
):
    headers, gpt_id, dataset_id = await gpt_and_dataset(race_client, race_db, race_settings)
    attached = await race_client.post(
        f"/api/gpts/{gpt_id}/datasets", json={"dataset_id": dataset_id}, headers=headers
    )
    assert attached.status_code == 201

    published, deleted = await together(
        [
            race_client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=headers),
            race_client.delete(f"/api/datasets/{dataset_id}", headers=headers),
        ]
    )

    assert published.status_code == 201, published.text
    versions = (await race_client.get(f"/api/gpts/{gpt_id}/versions", headers=headers)).json()["data"]
    assert len(versions) == 1
    async with race_db.session_scope() as session:
        pinned = await session.scalar(
            sa.text("SELECT datasets FROM gpt_version WHERE gpt_id = :id"), {"id": gpt_id}
        )
    # Either the deletion came first (the version does not name the dataset) or it was refused.
    if deleted.status_code == 204:
        assert dataset_id not in {d["id"] for d in pinned}
    else:
        assert deleted.status_code == 409 and dataset_id in {d["id"] for d in pinned}


async def test_uploads_racing_a_change_of_access_all_end_with_the_new_access(
    race_client, race_db, race_settings
):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    body = {"name": "Menu", "access": "open", "license": "CC-BY-4.0"}
    dataset_id = (await race_client.post("/api/datasets", json=body, headers=headers)).json()["id"]
    uploads = [upload(race_client, dataset_id, headers, f"Dish {n}.\n".encode()) for n in range(PARALLEL - 1)]
    change = race_client.patch(f"/api/datasets/{dataset_id}", json={"access": "private"}, headers=headers)

    *uploaded, changed = await together([*uploads, change])

    assert changed.status_code == 200 and statuses(uploaded) == {202: PARALLEL - 1}
    async with race_db.session_scope() as session:
        rights = set(
            (
                await session.execute(
                    sa.select(KnowledgeFile.access, KnowledgeFile.license).where(
                        KnowledgeFile.dataset_id == dataset_id
                    )
                )
            ).all()
        )
    assert rights == {("private", "CC-BY-4.0")}


async def test_changing_an_attachment_while_it_is_detached_is_a_404_not_a_500(
    race_client, race_db, race_settings
):
    headers, gpt_id, dataset_id = await gpt_and_dataset(race_client, race_db, race_settings)
    url = f"/api/gpts/{gpt_id}/datasets/{dataset_id}"
    for _ in range(5):
        attached = await race_client.post(
            f"/api/gpts/{gpt_id}/datasets", json={"dataset_id": dataset_id}, headers=headers
        )
        assert attached.status_code == 201, attached.text
        changes = [
            race_client.patch(url, json={"follow_latest": True}, headers=headers) for _ in range(PARALLEL - 1)
        ]
        *changed, detached = await together([*changes, race_client.delete(url, headers=headers)])
        assert detached.status_code == 204
        assert set(statuses(changed)) <= {200, 404}
