"""The retrieval test endpoint on the search pool (`core.db.Database.search_session`), as it is served:
no transaction (no `BEGIN`/`COMMIT` reaches PostgreSQL), planned with sorts off by the connection's own
setting, two statements (the scope with the caller's row, the search), and the same answers as on the
request's transaction: the same hits, and the same 401 / 403 / 404 for every kind of caller.

The database is a committed copy of the migrated template: the pool's connections see only committed rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from core.auth import AccountService
from core.db import Database
from core.models import User
from core.settings import Settings
from retrieval.jobs import ingest
from retrieval.service import KnowledgeService
from tests.asgi import app_client_for
from tests.conftest import _drop_database, migrated_database
from tests.factories import auth_headers, create_user
from tests.orgs.factories import create_team
from tests.retrieval.test_search_round_trips import NOTES


@pytest.fixture
async def pool_db(server_urls: tuple[str, str], migrated_template: str, settings: Settings) -> AsyncIterator:
    """(settings, Database.from_settings) on a fresh committed database: with its search pool."""
    name = f"gptstore_search_pool_{os.getpid()}"
    url = await migrated_database(server_urls[0], name, migrated_template)
    settings = settings.model_copy(update={"database_url": url})
    db = Database.from_settings(settings, url)
    assert db.search is not None
    yield settings, db
    await db.dispose()
    await _drop_database(server_urls[0], name)


@pytest.fixture
def queries_sent(pool_db):
    """What the search pool's connections send: the statements (SQLAlchemy's cursor executions) and what
    asyncpg runs as plain queries, where its transactions' `BEGIN;` / `COMMIT;` would show."""
    _, db = pool_db
    sent: list[str] = []

    def logged(record) -> None:
        sent.append(record.query)

    def connected(dbapi_connection, _record) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    def executed(_conn, _cursor, statement, *_) -> None:
        sent.append(statement)

    sa.event.listen(db.search.sync_engine, "connect", connected)
    sa.event.listen(db.search.sync_engine, "before_cursor_execute", executed)
    yield sent
    sa.event.remove(db.search.sync_engine, "connect", connected)
    sa.event.remove(db.search.sync_engine, "before_cursor_execute", executed)


async def gpt_with_notes(client, headers, db, settings, **fields) -> uuid.UUID:
    created = await client.post("/api/gpts", json={"name": "Ferries", **fields}, headers=headers)
    assert created.status_code == 201, created.text
    gpt = created.json()
    response = await client.post(
        f"/api/gpts/{gpt['id']}/files", files={"file": ("ferries.md", NOTES.encode())}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert await ingest(db, settings, uuid.UUID(response.json()["id"])) == "completed"
    return uuid.UUID(gpt["id"])


async def search(client, headers, gpt_id, query="when does the ferry to island 5 leave", **body):
    return await client.post(f"/api/gpts/{gpt_id}/search", json={"query": query, **body}, headers=headers)


@pytest.mark.parametrize("strategy", ["exact", "hnsw"])
async def test_no_transaction_two_statements_the_same_hits(
    pool_db, queries_sent, redis: Redis, monkeypatch, strategy
):
    settings, db = pool_db
    if strategy == "hnsw":  # every GPT counts as large: the HNSW index with iterative scans
        monkeypatch.setattr("retrieval.search.EXACT_SCAN_MAX_CHUNKS", 0)
    async with db.session_scope() as session:
        creator = await create_user(session, settings, plan="plus")
    headers = auth_headers(creator, settings)
    async with app_client_for(settings, db=db, redis=redis) as client:
        gpt_id = await gpt_with_notes(client, headers, db, settings)
        await search(client, headers, gpt_id, "warm up")  # the pool's connection opened, the embedder loaded
        queries_sent.clear()
        response = await search(client, headers, gpt_id)
    assert response.status_code == 200, response.text
    found = response.json()["data"]
    assert found and found[0]["filename"] == "ferries.md"
    assert len(queries_sent) == 2, queries_sent  # the scope with the caller's row, the search
    assert "gptstore_draft_scope(" in queries_sent[0]  # migration 0033
    assert not any(q.strip(" ;").upper() in ("BEGIN", "COMMIT", "ROLLBACK") for q in queries_sent)
    assert not any("enable_sort" in q for q in queries_sent)  # the connection plans without sorts

    # The same hits, scores and order as a search in a transaction that turns sorts off itself.
    async with db.session_scope() as session:
        hits = await KnowledgeService(session, settings).search(
            gpt_id, "when does the ferry to island 5 leave", k=8
        )
        assert await session.scalar(sa.text("SELECT current_setting('enable_sort')")) == "on"
    assert [(h["chunk_id"], h["score"]) for h in found] == [(str(s.hit.chunk_id), s.hit.score) for s in hits]
    async with db.search_session() as session:  # the pool's own setting, kept
        assert await session.scalar(sa.text("SELECT current_setting('enable_sort')")) == "off"


async def test_every_caller_is_answered_as_on_the_request_transaction(pool_db, redis: Redis):
    """401 for a missing, malformed, revoked or orphaned credential; 404 to a stranger and for no such GPT;
    403 naming the role to a member of the GPT's organisation; an API key and a builder are served; a site
    administrator sees no private passage (private knowledge stays with its owners)."""
    settings, db = pool_db
    async with db.session_scope() as session:
        creator = await create_user(session, settings, plan="plus")
        stranger = await create_user(session, settings, plan="plus")
        admin = await create_user(session, settings, is_admin=True)
        gone = await create_user(session, settings)
        organization, people = await create_team(session, settings)
        _, api_key = await AccountService(session, settings).create_api_key(creator, "ci")
    headers = auth_headers(creator, settings)
    async with app_client_for(settings, db=db, redis=redis) as client:
        gpt_id = await gpt_with_notes(client, headers, db, settings)
        builder_headers = auth_headers(people["builder"], settings)
        org_gpt = await gpt_with_notes(
            client, builder_headers, db, settings, organization_id=str(organization.id)
        )
        # the GPT's file is private: its owner sees it, an administrator's look does not
        assert (await search(client, headers, gpt_id)).json()["data"]
        by_admin = await search(client, auth_headers(admin, settings), gpt_id)
        assert by_admin.status_code == 200, by_admin.text
        assert by_admin.json()["data"] == []

        by_key = await search(client, {"Authorization": f"Bearer {api_key}"}, gpt_id)
        assert by_key.status_code == 200 and by_key.json()["data"], by_key.text
        # the key's use is recorded (committed, on a pool without transactions)
        async with db.session_scope() as session:
            used = await session.scalar(
                sa.text("SELECT last_used_at FROM api_key WHERE user_id = :id"), {"id": creator.id}
            )
        assert used is not None

        revoked = auth_headers(creator, settings)
        await AccountService(None, settings, redis).revoke_token(revoked["Authorization"].split()[1])
        gone_headers = auth_headers(gone, settings)
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id == gone.id))
        refusals = {
            "Authentication required": {},
            "Use 'Authorization: Bearer <access token or API key>'": {"Authorization": "Basic x"},
            "Invalid access token": {"Authorization": "Bearer not-a-token"},
            "Invalid or revoked API key": {"Authorization": "Bearer gsk_unknown"},
            "The access token was revoked (logged out)": revoked,
            "The account behind this credential no longer exists": gone_headers,
        }
        for detail, refused in refusals.items():
            response = await search(client, refused, gpt_id)
            assert (response.status_code, response.json()["detail"]) == (401, detail)

        for who, gpt in ((auth_headers(stranger, settings), gpt_id), (headers, uuid.uuid4())):
            response = await search(client, who, gpt)
            assert (response.status_code, response.json()["detail"]) == (404, "No such GPT")

        member = await search(client, auth_headers(people["member"], settings), org_gpt)
        assert member.status_code == 403, member.text
        assert member.json()["required_role"] == "builder"
        builder = await search(client, builder_headers, org_gpt)  # an editor: private passages too
        assert builder.status_code == 200 and builder.json()["data"], builder.text
        outsider = await search(client, auth_headers(people["other"], settings), org_gpt)
        assert (outsider.status_code, outsider.json()["detail"]) == (404, "No such GPT")


@pytest.mark.parametrize("other_server", ["embedding", "reranker"])
async def test_a_search_waiting_on_another_server_holds_no_connection(
    pool_db, redis: Redis, fake_openai, other_server
):
    """While a search waits for the query's embedding (a hosted model) or for a reranker, its connection
    is back in the search pool: with a pool of one connection, searches at the same time are all
    answered, not refused with 503 after the pool's timeout while the database has nothing to do."""
    settings, db = pool_db
    await db.dispose()
    waits = {
        "embedding": {"embedding_provider": "openai", "llm_base_url": fake_openai.base_url},
        "reranker": {
            "rerank_provider": "http",
            "rerank_base_url": fake_openai.base_url,
            "rerank_model": "scripted-reranker",
            "rerank_timeout_seconds": 5.0,
        },
    }
    settings = settings.model_copy(
        update={"db_search_pool_size": 1, "db_pool_timeout_seconds": 1.0, **waits[other_server]}
    )
    db = Database.from_settings(settings, settings.database_url)
    async with db.session_scope() as session:
        creator = await create_user(session, settings, plan="plus")
    headers = auth_headers(creator, settings)
    try:
        async with app_client_for(settings, db=db, redis=redis) as client:
            gpt_id = await gpt_with_notes(client, headers, db, settings)
            assert (await search(client, headers, gpt_id, "warm up")).status_code == 200
            if other_server == "embedding":
                fake_openai.embedding_delay = 2.0  # twice the pool's timeout
            else:
                fake_openai.script_rerank({"island 5": 0.9}, delay=2.0)
            answers = await asyncio.gather(*(search(client, headers, gpt_id) for _ in range(3)))
    finally:
        fake_openai.embedding_delay = 0.0
        await db.dispose()
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    assert all(a.json()["data"][0]["filename"] == "ferries.md" for a in answers)
