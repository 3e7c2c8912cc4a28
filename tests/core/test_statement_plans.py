"""Every read the store, the builder and the APIs send can be answered from indexes: no statement filters
a table through a sub-select tested against each of its rows, and none needs a sequential scan where no
index could serve (the kind of fault that made a search read the whole `dataset` table: 221 ms per search
at 100,000 datasets, docs/performance.md, "Statements that must not grow with the tables").

The test tables are small, where the planner would choose sequential scans anyway, so each captured
statement is planned again with sequential scans disabled: a statement an index can serve then uses it,
one that cannot shows a disabled sequential scan or a SubPlan filter. `tests/retrieval/
test_scope_plans.py` checks the search's scope statement on its own."""

from __future__ import annotations

import re
from contextlib import contextmanager

import sqlalchemy as sa

from tests.retrieval.test_gpt_datasets import FERRIES, add_file, attach, make_dataset
from tests.store.test_browse_chat import published
from tests.web.test_pages import HTML, log_in


@contextmanager
def reads_sent(engine):
    sent: dict[str, tuple] = {}

    def record(_conn, _cursor, statement, parameters, *_):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.setdefault(statement, tuple(parameters or ()))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_the_reads_of_pages_and_apis_are_answered_from_indexes(
    client, creator, creator_headers, db, settings, engine, session
):
    gpt_id = await published(client, creator_headers, "Fjord Guide")
    dataset = await make_dataset(client, creator_headers, access="open", license="CC-BY-4.0")
    await add_file(client, creator_headers, db, settings, dataset, "ferries.md", FERRIES)
    assert (await attach(client, creator_headers, gpt_id, dataset)).status_code == 201
    publish = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert publish.status_code == 201, publish.text
    anonymous = [
        "/api/store/gpts", "/api/store/gpts?q=fjord", "/api/store/gpts?sort=new&category=education",
        "/api/store/categories", f"/api/store/gpts/{gpt_id}", f"/api/store/gpts/{gpt_id}/reviews",
        "/api/store/datasets", f"/api/store/datasets/{dataset}", "/", "/search?q=fjord", f"/g/{gpt_id}",
        "/datasets", f"/datasets/{dataset}",
    ]  # fmt: skip
    creators = [
        "/api/gpts", "/api/datasets", "/api/creator/gpts", "/v1/models", "/api/conversations",
        f"/api/gpts/{gpt_id}/datasets",
    ]  # fmt: skip
    pages = [
        "/builder", f"/builder/{gpt_id}", "/creator", "/creator/datasets", f"/creator/datasets/{dataset}",
        f"/creator/gpts/{gpt_id}/stats", "/chats", "/account",
    ]  # fmt: skip
    with reads_sent(engine) as sent:
        for path in anonymous:
            assert (await client.get(path)).status_code == 200, path
        for path in creators:
            assert (await client.get(path, headers=creator_headers)).status_code == 200, path
        for path in (f"/api/gpts/{gpt_id}/search", f"/api/datasets/{dataset}/search"):
            response = await client.post(path, json={"query": "ferry"}, headers=creator_headers)
            assert response.status_code == 200, path
        conversation = await client.post(
            f"/api/store/gpts/{gpt_id}/conversations", json={}, headers=creator_headers
        )
        assert conversation.status_code == 201, conversation.text
        answer = await client.post(
            f"/api/conversations/{conversation.json()['id']}/messages",
            json={"content": "When does the ferry run?"},
            headers=creator_headers,
        )
        assert answer.status_code == 200, answer.text
        await log_in(client, creator.email)
        for path in pages:
            assert (await client.get(path, headers=HTML)).status_code == 200, path
    assert len(sent) > 40  # the reads of every path above, each statement text once

    whole_table = []
    for statement, parameters in sent.items():
        async with session.begin():
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            raw = (await (await session.connection()).get_raw_connection()).driver_connection
            plan = "\n".join(r[0] for r in await raw.fetch("EXPLAIN (COSTS OFF) " + statement, *parameters))
        if re.search(r"Filter: .*SubPlan", plan) or "Disabled: true" in plan:
            whole_table.append(f"{statement}\n{plan}")
    assert not whole_table, "\n\n".join(whole_table)
