"""Citations name a dataset, its owner and its license on every answer path, and are counted per dataset,
day and citing GPT for its contributors (`GET /api/datasets/{id}/stats`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from store import dataset_stats
from tests.datasets.factories import create_dataset, create_gpt_using
from tests.factories import auth_headers, create_user
from tests.trust.helpers import upload
from tests.web.test_pages import HTML, log_in

FERRIES = (
    "# Ferry timetable\n\nThe first ferry from Bergen to Stavanger leaves at 06:30 every weekday morning, "
    "and the crossing takes about four and a half hours in calm weather.\n"
)
HOME_NOTE = "# Planner notes\n\nThe planner suggests the ferry to Stavanger for travellers with bicycles.\n"
QUESTION = "When does the first ferry from Bergen to Stavanger leave?"


async def _dataset(session, settings, creator, db):
    return await create_dataset(
        session, settings, creator, db=db, attribution="Ferry data: Statens vegvesen",
        files={"ferries.md": FERRIES},
    )  # fmt: skip


async def _store_chat(client, headers, gpt_id: str) -> dict:
    started = await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=headers)
    assert started.status_code == 201, started.text
    reply = await client.post(
        f"/api/conversations/{started.json()['id']}/messages", json={"content": QUESTION}, headers=headers
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["message"]


async def test_citations_name_the_dataset_its_owner_and_license_on_every_path(
    client, session, settings, db, creator, creator_headers
):
    dataset = await _dataset(session, settings, creator, db)
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset], publish=False)
    await upload(client, creator_headers, db, settings, gpt_id, "planner.md", HOME_NOTE, "open")
    published = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert published.status_code == 201, published.text
    expected = {
        "id": str(dataset.id),
        "name": "Fjord ferry timetables",
        "license": "CC-BY-4.0",
        "license_url": "https://spdx.org/licenses/CC-BY-4.0.html",
        "attribution": "Ferry data: Statens vegvesen",
        "owner": {
            "type": "user", "handle": creator.handle, "name": creator.display_name,
            "url": f"/creators/{creator.handle}",
        },
        "url": f"/datasets/{dataset.id}",  # an open dataset's public page
    }  # fmt: skip

    # An API client is elsewhere: the links it is given are whole URLs on this site.
    site = str(client.base_url).rstrip("/")
    expected["url"], expected["owner"]["url"] = site + expected["url"], site + expected["owner"]["url"]

    def check(citations: list[dict]) -> None:
        by_file = {c["filename"]: c for c in citations}
        assert by_file["ferries.md"]["dataset_id"] == str(dataset.id)
        assert by_file["ferries.md"]["dataset"] == expected
        assert by_file["ferries.md"].get("quote", "annotation")  # the fields of before stay
        if "planner.md" in by_file:  # the GPT's own (home) dataset: its id, and nothing to attribute
            assert by_file["planner.md"]["dataset_id"] == gpt_id
            assert by_file["planner.md"]["dataset"] is None

    message = await _store_chat(client, creator_headers, gpt_id)
    check(message["citations"])
    await log_in(client, creator.email)  # the chat page says it too
    conversation = await client.get("/api/conversations", headers=creator_headers)
    page = await client.get(f"/chats/{conversation.json()['data'][0]['id']}", headers=HTML)
    cited = f'(from <a href="/datasets/{dataset.id}#file-'  # the file's row on the dataset's public page
    assert (
        cited in page.text
        and f"Fjord ferry timetables</a> by {creator.display_name}, CC-BY-4.0)" in page.text
    )
    completion = await client.post(
        "/v1/chat/completions",
        json={"model": gpt_id, "messages": [{"role": "user", "content": QUESTION}]},
        headers=creator_headers,
    )
    assert completion.status_code == 200, completion.text
    check(completion.json()["choices"][0]["message"]["citations"])
    response = await client.post(
        "/v1/responses", json={"model": gpt_id, "input": QUESTION}, headers=creator_headers
    )
    assert response.status_code == 200, response.text
    [message] = [item for item in response.json()["output"] if item["type"] == "message"]
    annotations = message["content"][0]["annotations"]
    assert annotations and all(a["type"] == "file_citation" for a in annotations)
    check(annotations)
    conversation = await client.post(
        "/v1/responses",
        json={"model": gpt_id, "input": QUESTION, "conversation": (await client.post(
            "/v1/conversations", json={}, headers=creator_headers)).json()["id"]},
        headers=creator_headers,
    )  # fmt: skip
    items = await client.get(
        f"/v1/conversations/{conversation.json()['conversation']['id']}/items", headers=creator_headers
    )
    [answer] = [item for item in items.json()["data"] if item["role"] == "assistant"]
    check(answer["content"][0]["annotations"])


async def test_citations_are_counted_per_dataset_day_and_listed_gpt(
    client, session, settings, db, redis, creator, creator_headers
):
    dataset = await _dataset(session, settings, creator, db)
    listed = await create_gpt_using(client, creator_headers, session, [dataset])
    unlisted = await create_gpt_using(
        client, creator_headers, session, [dataset], name="Link only", publish=False
    )
    link = await client.post(
        f"/api/gpts/{unlisted}/publish", json={"visibility": "link"}, headers=creator_headers
    )
    assert link.status_code == 201, link.text
    reader = await create_user(session, settings)
    reader_headers = auth_headers(reader, settings)

    await _store_chat(client, reader_headers, listed)
    await _store_chat(client, reader_headers, listed)
    completion = await client.post(
        "/v1/chat/completions",
        json={"model": unlisted, "messages": [{"role": "user", "content": QUESTION}]},
        headers=creator_headers,
    )
    assert completion.status_code == 200, completion.text
    assert await dataset_stats.flush(db, redis) == 2  # (dataset, GPT) rows of today
    assert await dataset_stats.flush(db, redis) == 0  # moved once

    stats = await client.get(f"/api/datasets/{dataset.id}/stats", params={"days": 7}, headers=creator_headers)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["totals"] == {"citations": 3, "answers": 3, "gpts": 2}
    assert len(body["daily"]) == 7 and body["daily"][-1]["date"] == datetime.now(UTC).date().isoformat()
    assert body["daily"][-1]["citations"] == 3 and sum(d["citations"] for d in body["daily"][:-1]) == 0
    # the listed GPT is named; the link-only one counts in the totals but is not named
    assert [(g["id"], g["citations"]) for g in body["top_gpts"]] == [(listed, 2)]

    # a reader sees the open dataset but not its numbers
    assert (await client.get(f"/api/datasets/{dataset.id}/stats", headers=reader_headers)).status_code == 403
    assert (await client.get(f"/api/datasets/{dataset.id}/stats")).status_code == 401
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    assert (await client.get(f"/api/datasets/{dataset.id}/stats", headers=admin)).status_code == 200
    bad = await client.get(f"/api/datasets/{dataset.id}/stats", params={"days": 0}, headers=creator_headers)
    assert bad.status_code == 422


async def test_an_answer_that_cites_nothing_counts_nothing(
    client, session, settings, db, redis, creator, creator_headers
):
    dataset = await _dataset(session, settings, creator, db)
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset])
    started = await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=creator_headers)
    reply = await client.post(
        f"/api/conversations/{started.json()['id']}/messages",
        json={"content": "xyzzy plugh quux"},
        headers=creator_headers,
    )
    assert reply.status_code == 200 and reply.json()["message"]["citations"] == []
    assert await dataset_stats.flush(db, redis) == 0


async def test_conversation_items_take_back_annotations_with_their_dataset_and_check_its_type(
    client, creator_headers
):
    note = {"type": "file_citation", "file_id": str(uuid.uuid4()), "filename": "ferries.md", "index": 0}
    cited = {"id": str(uuid.uuid4()), "name": "Fjord ferry timetables", "license": "CC-BY-4.0"}

    def body(annotation: dict) -> dict:
        part = {"type": "output_text", "text": "At 06:30 [1].", "annotations": [annotation]}
        return {"items": [{"type": "message", "role": "assistant", "content": [part]}]}

    returned = body({**note, "dataset_id": cited["id"], "dataset": cited})
    back = await client.post("/v1/conversations", json=returned, headers=creator_headers)
    assert back.status_code == 200, back.text  # an output goes back in unchanged
    for field, value in (("dataset", [None, None]), ("dataset_id", 7)):
        wrong = body({**note, field: value})
        refused = await client.post("/v1/conversations", json=wrong, headers=creator_headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"].endswith(f"annotations[0].{field}")
