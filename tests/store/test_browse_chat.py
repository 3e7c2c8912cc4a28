"""Browsing, search, pages, chatting with published GPTs, usage counters and the OpenAI-compatible API."""

import uuid

import openai
import pytest
import sqlalchemy as sa

from retrieval.jobs import ingest
from store import usage
from store.models import Conversation
from tests.factories import auth_headers, create_user
from tests.fake_openai import text

BASE = {
    "description": "A helpful assistant.",
    "instructions": "Help people.",
    "conversation_starters": ["Hi"],
    "category": "education",
}


async def published(client, headers, name, visibility="public", **fields) -> str:
    gpt = (await client.post("/api/gpts", json={**BASE, "name": name, **fields}, headers=headers)).json()
    version = await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": visibility}, headers=headers
    )
    assert version.json()["review_status"] == "approved", version.text
    return gpt["id"]


async def test_categories_sorts_and_stable_cursor_pagination(client, creator_headers):
    names = ["Algebra Coach", "History Buff", "Spelling Bee", "Chemistry Lab", "Geography Quiz"]
    ids = [await published(client, creator_headers, name) for name in names]
    await published(client, creator_headers, "Code Buddy", category="programming")
    categories = {c["slug"]: c["count"] for c in (await client.get("/api/store/categories")).json()}
    assert categories["education"] == 5 and categories["programming"] == 1 and categories["writing"] == 0

    seen, cursor = [], None
    while True:
        url = "/api/store/gpts?sort=new&category=education&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url)).json()
        seen += [g["id"] for g in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))  # newest first, each exactly once
    bad = await client.get("/api/store/gpts?cursor=garbage")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert (await client.get("/api/store/gpts?sort=random")).status_code == 422
    assert (await client.get("/api/store/gpts?limit=1000")).status_code == 422


async def test_category_counts_are_cached_until_the_listings_change(client, creator_headers):
    def counts(response) -> dict[str, int]:
        return {c["slug"]: c["count"] for c in response.json()}

    first = await published(client, creator_headers, "Algebra Coach")
    assert counts(await client.get("/api/store/categories"))["education"] == 1  # now cached
    await published(client, creator_headers, "History Buff")
    assert counts(await client.get("/api/store/categories"))["education"] == 2  # publishing invalidates
    await client.post(f"/api/gpts/{first}/unpublish", headers=creator_headers)
    assert counts(await client.get("/api/store/categories"))["education"] == 1


async def test_search_matches_name_tags_and_creator_with_fusion(client, creator_headers, creator):
    fjord = await published(
        client, creator_headers, "Fjord Guide", description="Plans trips to Norwegian fjords."
    )
    await published(client, creator_headers, "Math Tutor", description="Explains algebra step by step.")
    found = (await client.get("/api/store/gpts?q=fjord trips")).json()["data"]
    assert found[0]["id"] == fjord
    by_meaning = (await client.get("/api/store/gpts?q=help with equations")).json()["data"]
    assert by_meaning[0]["name"] == "Math Tutor"
    by_creator = (await client.get(f"/api/store/gpts?q={creator.handle}")).json()["data"]
    assert {g["name"] for g in by_creator} == {"Fjord Guide", "Math Tutor"}


async def test_featured_is_the_admin_order(client, creator_headers, session, settings):
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    first, second = [await published(client, creator_headers, name) for name in ("Alpha Bot", "Beta Helper")]
    response = await client.put("/api/admin/featured", json={"gpt_ids": [second, first]}, headers=admin)
    assert response.status_code == 200
    listed = (await client.get("/api/store/gpts?sort=featured")).json()["data"]
    assert [g["id"] for g in listed] == [second, first]
    missing = await client.put("/api/admin/featured", json={"gpt_ids": [str(uuid.uuid4())]}, headers=admin)
    assert missing.status_code == 404  # an id the caller cannot use
    repeated = await client.put("/api/admin/featured", json={"gpt_ids": [first, first]}, headers=admin)
    assert repeated.status_code == 422 and repeated.json()["errors"][0]["field"] == "gpt_ids"


async def test_chat_pins_the_version_cites_open_files_and_counts_usage(
    client, creator_headers, session, settings, db, redis
):
    gpt = (
        await client.post("/api/gpts", json={**BASE, "name": "Fjord Guide"}, headers=creator_headers)
    ).json()
    file = (
        await client.post(
            f"/api/gpts/{gpt['id']}/files",
            files={
                "file": (
                    "kayaks.md",
                    b"# Kayaks\n\nKayak rentals in Gudvangen cost 600 NOK for half a day.\n",
                )
            },
            data={"access": "open", "license": "CC-BY-4.0"},
            headers=creator_headers,
        )
    ).json()
    await ingest(db, settings, uuid.UUID(file["id"]))
    await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    page = (await client.get(f"/api/store/gpts/{gpt['id']}")).json()
    assert page["knowledge"][0]["license"] == "CC-BY-4.0"
    download = await client.get(page["knowledge"][0]["download_url"])
    assert b"600 NOK" in download.content
    # with its terms, as a dataset's downloads
    assert download.headers["dataset-license"] == "CC-BY-4.0"
    assert (
        'rel="license"' in download.headers["link"]
        and f'/g/{gpt["id"]}>; rel="describedby"' in (download.headers["link"])
    )

    user = await create_user(session, settings)
    headers = auth_headers(user, settings)
    conversation = (await client.post(f"/api/store/gpts/{gpt['id']}/conversations", headers=headers)).json()
    # A draft change after publishing does not reach users.
    await client.patch(
        f"/api/gpts/{gpt['id']}", json={"instructions": "Talk like a pirate."}, headers=creator_headers
    )
    reply = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"content": "What does a kayak cost?"},
        headers=headers,
    )
    assert reply.status_code == 200, reply.text
    message = reply.json()["message"]
    assert "600 NOK" in message["content"]
    assert message["citations"][0]["filename"] == "kayaks.md"
    history = (await client.get(f"/api/conversations/{conversation['id']}/messages", headers=headers)).json()[
        "data"
    ]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert (
        await client.get(f"/api/conversations/{conversation['id']}/messages", headers=creator_headers)
    ).status_code == 404
    assert [c["id"] for c in (await client.get("/api/conversations", headers=headers)).json()["data"]] == [
        conversation["id"]
    ]

    assert await usage.flush(db, redis) == 1
    page = (await client.get(f"/api/store/gpts/{gpt['id']}")).json()
    assert (page["conversations"], page["conversations_label"]) == (1, "1")
    trending = (await client.get("/api/store/gpts?sort=trending")).json()["data"]
    assert trending[0]["id"] == gpt["id"]


async def test_opening_a_chat_again_reuses_the_empty_one_and_counts_with_the_first_answer(
    client, creator_headers, session, settings, db, redis
):
    gpt_id = await published(client, creator_headers, "Ferry Finder")
    headers = auth_headers(await create_user(session, settings), settings)
    start = f"/api/store/gpts/{gpt_id}/conversations"
    opened = [(await client.post(start, headers=headers)).json()["id"] for _ in range(5)]
    assert len(set(opened)) == 1  # clicks, reloads and retries: one empty chat, not five
    assert len((await client.get("/api/conversations", headers=headers)).json()["data"]) == 1

    # republished meanwhile: the empty chat answers from the live version
    await client.patch(f"/api/gpts/{gpt_id}", json={"description": "Finds ferries."}, headers=creator_headers)
    second = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert second.json()["number"] == 2
    assert (await client.post(start, headers=headers)).json()["id"] == opened[0]
    url = f"/api/conversations/{opened[0]}/messages"
    assert (await client.post(url, json={"content": "Hi"}, headers=headers)).status_code == 200
    pinned = await session.scalar(
        sa.select(Conversation.version).where(Conversation.id == uuid.UUID(opened[0]))
    )
    assert pinned == 2

    # once used, opening a chat starts a new one
    fresh = (await client.post(start, headers=headers)).json()["id"]
    assert fresh != opened[0]
    await usage.flush(db, redis)
    assert (await client.get(f"/api/store/gpts/{gpt_id}")).json()["conversations"] == 1  # the answered one


async def test_message_rate_limit_is_429_with_retry_after(client, creator_headers, session, settings):
    settings.rate_limit_messages_per_minute = 1
    gpt_id = await published(client, creator_headers, "Quick Bot")
    headers = auth_headers(await create_user(session, settings), settings)
    conversation = (await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=headers)).json()
    url = f"/api/conversations/{conversation['id']}/messages"
    approvals = f"/api/conversations/{conversation['id']}/approvals"
    for _ in range(3):  # refused (no such call waits): checked first, so the limit is not used up
        refused = await client.post(approvals, json={"call_id": "call_x", "approve": True}, headers=headers)
        assert refused.status_code == 404, refused.text
    assert (await client.post(url, json={"content": "hi"}, headers=headers)).status_code == 200
    limited = await client.post(url, json={"content": "hi again"}, headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


@pytest.fixture
async def api_server(llm_settings, db, redis):
    """The app on a real loopback port, for the official openai SDK."""
    import asyncio
    import socket

    import uvicorn

    from core.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(llm_settings, db=db, redis=redis), host="127.0.0.1", port=port, log_config=None
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no startup event
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_openai_sdk_lists_gpts_and_chats_with_one(llm_client, api_server, creator_headers, fake_openai):
    gpt_id = await published(llm_client, creator_headers, "Fjord Guide", instructions="Answer about fjords.")
    key = (await llm_client.post("/api/me/api-keys", json={"name": "sdk"}, headers=creator_headers)).json()[
        "key"
    ]
    sdk = openai.AsyncOpenAI(base_url=f"{api_server}/v1", api_key=key, max_retries=0)
    models = await sdk.models.list()
    assert gpt_id in [m.id for m in models.data]

    fake_openai.script(text("Geiranger is lovely in May."))
    completion = await sdk.chat.completions.create(
        model=gpt_id,
        messages=[
            {"role": "system", "content": "Answer in haiku."},
            {"role": "user", "content": "Best fjord?"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Geiranger is lovely in May."
    assert completion.choices[0].finish_reason == "stop"
    system = fake_openai.chat_requests[-1]["messages"][0]["content"]
    # A client's system message adds to the GPT's instructions, after them; it never replaces them.
    assert system.index("Answer about fjords.") < system.index("Answer in haiku.")

    fake_openai.script(text("Streamed answer."))
    stream = await sdk.chat.completions.create(
        model=gpt_id, messages=[{"role": "user", "content": "Stream please"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == "Streamed answer."

    with pytest.raises(openai.NotFoundError):
        await sdk.chat.completions.create(
            model=str(uuid.uuid4()), messages=[{"role": "user", "content": "x"}]
        )
    bad = openai.AsyncOpenAI(base_url=f"{api_server}/v1", api_key="gsk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.models.list()


async def test_reindex_gives_old_listings_the_current_model(client, creator_headers, session, settings):
    import sqlalchemy as sa

    from store.models import Listing
    from store.service import reembed_listings

    gpt_id = await published(client, creator_headers, "Fjord Guide", description="Plans fjord trips.")
    await session.execute(sa.update(Listing).values(embedding_model="an-old-model"))
    assert (await client.get("/api/store/gpts?q=vacation in norwegian fjords")).json()["data"] == []
    assert await reembed_listings(session, settings) == 1
    await session.commit()
    listing = await session.get(Listing, uuid.UUID(gpt_id))
    assert listing.embedding_model == "minilm-l6-v2-int8"
