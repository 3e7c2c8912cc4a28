"""A search sends two statements, the scope and the search, whatever its strategy: no `SET LOCAL
enable_sort` and `RESET` around an HNSW-strategy search (the scope statement turns sorts off, the search
statement turns them back on as it runs: retrieval.search.SORTS_OFF / SORTS_BACK_ON). Whatever path the
search takes, later statements of the transaction plan with sorts on again, and the hits are those of the
plan with a `SET LOCAL` of its own."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from retrieval import search as search_module
from retrieval.embedding import get_embedder
from retrieval.jobs import ingest
from retrieval.models import Dataset, KnowledgeFile
from retrieval.search import search_chunks
from retrieval.service import KnowledgeService
from tests.factories import auth_headers, create_user
from tests.retrieval.test_gpt_datasets import BIKES, FERRIES, KAYAKS, add_file, attach, make_dataset, make_gpt

NOTES = "# Ferries\n\n" + "\n\n".join(
    f"## Route {i}\nThe ferry to island {i} leaves at {6 + i} o'clock and carries {i * 40} cars. "
    + "Seagulls, harbour walls and timetables. " * (10 + i)
    for i in range(1, 9)
)  # fmt: skip


@pytest.fixture
async def gpt_id(client, creator_headers, db, settings) -> uuid.UUID:
    gpt = (await client.post("/api/gpts", json={"name": "Ferries"}, headers=creator_headers)).json()
    response = await client.post(
        f"/api/gpts/{gpt['id']}/files",
        files={"file": ("ferries.md", NOTES.encode())},
        headers=creator_headers,
    )
    assert response.status_code == 202, response.text
    assert await ingest(db, settings, uuid.UUID(response.json()["id"])) == "completed"
    return uuid.UUID(gpt["id"])


@pytest.fixture(params=["hnsw", "exact"])
def strategy(request, monkeypatch) -> str:
    if request.param == "hnsw":  # every GPT counts as large: the HNSW index with iterative scans
        monkeypatch.setattr(search_module, "EXACT_SCAN_MAX_CHUNKS", 0)
    return request.param


@contextmanager
def statements_sent(engine):
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_):
        sent.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _sorts(session) -> str:
    return await session.scalar(sa.text("SELECT current_setting('enable_sort')"))


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
async def test_a_search_is_two_statements_and_leaves_sorts_on(
    session, settings, engine, gpt_id, strategy, mode
):
    service = KnowledgeService(session, settings)
    await service.search(gpt_id, "warm up", k=3)  # the embedder loaded, the statements prepared
    with statements_sent(engine) as sent:
        hits = await service.search(gpt_id, "when does the ferry to island 5 leave", k=4, mode=mode)
    assert hits
    assert len(sent) == 2, sent
    assert not any("RESET" in s or "SET LOCAL" in s for s in sent)
    assert await _sorts(session) == "on"


async def test_the_hits_are_those_of_a_search_planned_by_its_own_set_local(
    session, settings, gpt_id, strategy
):
    """The search statement with `sorts_off` (the scope turned them off) and without (it turns them off
    itself first) finds the same chunks with the same scores."""
    service = KnowledgeService(session, settings)
    hits = await service.search(gpt_id, "how many cars does the ferry to island 3 carry", k=6)
    embedder = get_embedder(settings)
    config = await session.scalar(sa.select(Dataset.text_search_config).where(Dataset.id == gpt_id))
    files = list(await session.scalars(sa.select(KnowledgeFile.id).where(KnowledgeFile.dataset_id == gpt_id)))
    again = await search_chunks(
        session,
        dataset_ids=[gpt_id],
        model_id=embedder.model_id,
        dimensions=embedder.dimensions,
        query_vector=await embedder.embed_query("how many cars does the ferry to island 3 carry"),
        query_text="how many cars does the ferry to island 3 carry",
        text_search_config=config,
        k=6,
        chunk_total=1,  # below or above EXACT_SCAN_MAX_CHUNKS as `strategy` set it
        file_ids=files,
    )
    assert [(h.chunk_id, h.score) for h in again] == [(s.hit.chunk_id, s.hit.score) for s in hits]
    assert await _sorts(session) == "on"


async def test_nothing_in_scope_leaves_sorts_on(session, settings, client, creator_headers, gpt_id, strategy):
    service = KnowledgeService(session, settings)
    empty = (await client.post("/api/gpts", json={"name": "Empty"}, headers=creator_headers)).json()
    assert await service.search(uuid.UUID(empty["id"]), "ferry", k=3) == []  # a home dataset, no file
    assert await _sorts(session) == "on"
    assert await service.search(gpt_id, "ferry", k=3, only=[uuid.uuid4()]) == []  # a filter outside it
    assert await _sorts(session) == "on"


class QueriesDown:
    """The test embedder, except that embedding a query fails (a remote embedding API down)."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimensions = embedder.dimensions
        self.remote = True

    async def load(self) -> None:
        await self.embedder.load()

    async def embed_documents(self, texts):
        return await self.embedder.embed_documents(texts)

    async def embed_query(self, text: str) -> list[float]:
        raise ConnectionError("the embedding service is down")


async def test_a_failed_query_embedding_leaves_sorts_on(session, settings, gpt_id, strategy):
    service = KnowledgeService(session, settings, embedder=QueriesDown(get_embedder(settings)))
    with pytest.raises(ConnectionError):
        await service.search(gpt_id, "ferry", k=3)
    assert await _sorts(session) == "on"


# The retrieval test endpoint: the edit check on the home dataset's row the scope statement read --------


async def endpoint_search(client, headers, gpt_id, query, **body) -> list[str]:
    response = await client.post(f"/api/gpts/{gpt_id}/search", json={"query": query, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return [hit["filename"] for hit in response.json()["data"]]


async def test_the_endpoint_reads_the_home_dataset_once(client, creator_headers, engine, gpt_id, strategy):
    await endpoint_search(client, creator_headers, gpt_id, "warm up")
    with statements_sent(engine) as sent:
        found = await endpoint_search(
            client, creator_headers, gpt_id, "when does the ferry to island 5 leave"
        )
    assert found and set(found) == {"ferries.md"}
    # the scope (datasets, files, the home dataset for the edit check, the access token's user and their
    # role beside them: the draft's scope function, migration 0033), the search; in tests inside a
    # SAVEPOINT (served: on the search pool, no transaction)
    sent = [s for s in sent if "SAVEPOINT" not in s]
    assert len(sent) == 2, sent
    assert "gptstore_draft_scope(" in sent[0]
    assert not any("user_account" in s or "FROM dataset" in s for s in sent)  # no statement of their own


async def test_the_endpoint_refuses_before_it_searches(
    client, creator_headers, session, settings, gpt_id, engine
):
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    for headers, gpt in ((other, gpt_id), (creator_headers, uuid.uuid4())):
        with statements_sent(engine) as sent:
            response = await client.post(f"/api/gpts/{gpt}/search", json={"query": "ferry"}, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == "No such GPT"
        assert not any("knowledge_chunk" in s for s in sent)  # nothing searched for them


async def test_the_endpoint_follows_attached_datasets_filters_and_access(
    client, creator_headers, db, settings, session
):
    """Another owner's open dataset answers in my GPT until it is made private; a detached one no longer
    answers; a file filter narrows the scope and never widens it (another GPT's file finds nothing)."""
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    theirs = await make_dataset(client, other, access="open", license="CC-BY-4.0")
    await add_file(client, other, db, settings, theirs, "kayaks.md", KAYAKS)
    shelf = await make_dataset(client, creator_headers)
    await add_file(client, creator_headers, db, settings, shelf, "bikes.md", BIKES)
    gpt = await make_gpt(client, creator_headers, "Fjord Guide")
    home_file = await add_file(client, creator_headers, db, settings, gpt, "ferries.md", FERRIES)
    for dataset_id in (theirs, shelf):
        assert (await attach(client, creator_headers, gpt, dataset_id)).status_code == 201
    question = "kayak rentals ferry electric bikes"
    assert set(await endpoint_search(client, creator_headers, gpt, question)) == {
        "kayaks.md",
        "bikes.md",
        "ferries.md",
    }
    only_home = await endpoint_search(client, creator_headers, gpt, question, file_ids=[home_file])
    assert set(only_home) == {"ferries.md"}
    elsewhere = await make_gpt(client, creator_headers, "Elsewhere")
    stranger = await add_file(client, creator_headers, db, settings, elsewhere, "ferries.md", FERRIES)
    assert await endpoint_search(client, creator_headers, gpt, question, file_ids=[stranger]) == []

    detached = await client.delete(f"/api/gpts/{gpt}/datasets/{shelf}", headers=creator_headers)
    assert detached.status_code == 204, detached.text
    assert set(await endpoint_search(client, creator_headers, gpt, question)) == {"kayaks.md", "ferries.md"}
    made_private = await client.patch(f"/api/datasets/{theirs}", json={"access": "private"}, headers=other)
    assert made_private.status_code == 200, made_private.text
    assert set(await endpoint_search(client, creator_headers, gpt, question)) == {"ferries.md"}


async def test_a_blank_query_is_refused_naming_it(client, creator_headers, engine, gpt_id):
    """Spaces and line breaks only, or characters that show nothing (zero-width spaces, a word joiner, a
    Hangul filler): a 422 naming `query`, nothing searched, on the GPT's search and a dataset's (it used to
    embed the blank and answer the knowledge's arbitrary passages, where an empty query was refused)."""
    for url in (f"/api/gpts/{gpt_id}/search", f"/api/datasets/{gpt_id}/search"):
        for query in ("   ", "\n\t ", "\u200b\u200b", " \u2060\u200d ", "\u3164"):
            with statements_sent(engine) as sent:
                response = await client.post(url, json={"query": query}, headers=creator_headers)
            assert response.status_code == 422, (url, repr(query), response.text)
            assert response.json()["errors"][0]["field"] == "query"
            assert not any("knowledge_chunk" in s for s in sent)
