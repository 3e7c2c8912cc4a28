"""The statements every search and every "what I may edit" list runs are answered from indexes, whatever
the tables' sizes: no sub-select tested against every row of `dataset`, `gpt` or `knowledge_file`.

An `IN (SELECT ...)` inside an `OR` is planned as a hashed SubPlan filter over the whole outer table (the
search's scope statement took 192 ms at 100,000 datasets, docs/performance.md); `core.sql.in_select` runs
the sub-select once. The test tables are small, where a sequential scan would win anyway, so each plan is
taken with sequential scans disabled: a shape that can use its indexes then does, one that cannot still
shows the SubPlan filter (or a disabled sequential scan)."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

from retrieval.attribution import DatasetOwner
from retrieval.service import KnowledgeService
from tests.datasets.factories import create_dataset
from tests.orgs.factories import create_organization
from tests.retrieval.test_gpt_datasets import BIKES, FERRIES, add_file, attach, make_dataset, make_gpt


@contextmanager
def statements_sent(engine, marker: str):
    sent: list[tuple[str, tuple]] = []

    def record(_conn, _cursor, statement, parameters, *_):
        if marker in statement:
            sent.append((statement, tuple(parameters)))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def plan_without_seqscan(session, statement: str, parameters: tuple) -> str:
    async with session.begin():
        await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        rows = await raw.fetch("EXPLAIN (COSTS OFF) " + statement, *parameters)
    return "\n".join(r[0] for r in rows)


def assert_indexed(plan: str, *tables: str) -> None:
    assert "SubPlan" not in plan, plan
    assert "Disabled: true" not in plan, plan
    for table in tables:
        assert f"Seq Scan on {table}" not in plan, plan


async def function_statement(session, name: str) -> str:
    """The statement of a PL/pgSQL function that returns one query (`RETURN QUERY ...;`), with its
    arguments as `$1`, `$2`, ... (as the function plans it: parameters, not values)."""
    source, arguments = (
        await session.execute(
            sa.text("SELECT prosrc, proargnames FROM pg_proc WHERE proname = :name"), {"name": name}
        )
    ).one()
    await session.rollback()
    statement = source.split("RETURN QUERY", 1)[1].split(";", 1)[0]
    for number, argument in enumerate(arguments[:2], start=1):  # the IN arguments come first
        statement = re.sub(rf"\b{argument}\b", f"${number}", statement)
    return statement


async def test_the_draft_scope_reads_datasets_and_files_by_index(
    client, creator_headers, db, settings, engine, session
):
    """The draft's scope is a function (migration 0033) whose statement is planned once, for any ids (a
    generic plan): that plan reads by index."""
    gpt_id = await make_gpt(client, creator_headers, "Fjord Guide")
    shared = await make_dataset(client, creator_headers)
    await add_file(client, creator_headers, db, settings, shared, "ferries.md", FERRIES)
    assert (await attach(client, creator_headers, gpt_id, shared)).status_code == 201
    with statements_sent(engine, "sorts_off") as sent:
        hits = await KnowledgeService(session, settings).search(uuid.UUID(gpt_id), "ferry season", k=3)
    await session.commit()
    assert hits  # the attached dataset's file was in scope
    [(statement, _parameters)] = sent
    assert "gptstore_draft_scope(" in statement
    body = await function_statement(session, "gptstore_draft_scope")
    async with session.begin():
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        await raw.execute("SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan")
        await raw.execute(f"PREPARE draft_scope(uuid, uuid) AS {body}")
        ids = f"'{uuid.UUID(gpt_id)}', '{uuid.uuid4()}'"  # uuids: nothing to quote
        rows = await raw.fetch(f"EXPLAIN (COSTS OFF) EXECUTE draft_scope({ids})")
        await raw.execute("DEALLOCATE draft_scope")
    plan = "\n".join(r[0] for r in rows)
    assert_indexed(plan, "dataset", "knowledge_file", "gpt_dataset", "user_account", "organization_member")
    assert "dataset_pkey" in plan, plan


async def test_a_published_versions_scope_reads_datasets_and_files_by_index(
    client, creator_headers, db, settings, engine, session
):
    gpt_id = uuid.UUID(await make_gpt(client, creator_headers, "Fjord Guide"))
    pinned = await make_dataset(client, creator_headers, name="Ferries")
    followed = await make_dataset(client, creator_headers, name="Bikes")
    file_id = await add_file(client, creator_headers, db, settings, pinned, "ferries.md", FERRIES)
    await add_file(client, creator_headers, db, settings, followed, "bikes.md", BIKES)
    with statements_sent(engine, "sorts_off") as sent:
        hits = await KnowledgeService(session, settings).search(
            gpt_id, "ferry season bikes", k=5, file_ids=[uuid.UUID(file_id)], follow=[uuid.UUID(followed)]
        )
    await session.commit()
    assert {h.filename for h in hits} == {"ferries.md", "bikes.md"}
    [(statement, parameters)] = sent
    plan = await plan_without_seqscan(session, statement, parameters)
    assert_indexed(plan, "dataset", "knowledge_file")


async def test_lists_of_what_one_may_edit_read_by_index(client, creator_headers, engine, session):
    """`orgs.access.allowed`: my own rows or my organisations' (the GPT and dataset lists, /v1/models)."""
    await make_gpt(client, creator_headers, "Fjord Guide")
    await make_dataset(client, creator_headers)
    for path, table in (("/api/gpts", "gpt"), ("/api/datasets", "dataset")):
        with statements_sent(engine, "organization_member") as sent:
            response = await client.get(path, headers=creator_headers)
        assert response.status_code == 200, response.text
        assert sent, path
        for statement, parameters in sent:
            plan = await plan_without_seqscan(session, statement, parameters)
            assert_indexed(plan, table)


async def test_a_cited_organisations_name_comes_with_the_scope(
    client, creator, creator_headers, db, settings, engine, session
):
    """The owner a citation names (an organisation for its datasets) is read by the scope statement: a
    search stays two statements whoever owns the datasets."""
    organization = await create_organization(session, settings, creator)
    dataset = await create_dataset(
        session, settings, creator, organization_id=organization.id, files={"ferries.md": FERRIES}, db=db
    )
    gpt_id = await make_gpt(client, creator_headers, "Fjord Guide")
    assert (await attach(client, creator_headers, gpt_id, str(dataset.id))).status_code == 201
    with statements_sent(engine, "") as sent:
        hits = await KnowledgeService(session, settings).search(uuid.UUID(gpt_id), "ferry season", k=3)
    await session.commit()
    assert hits and {h.owner for h in hits} == {
        DatasetOwner("organization", organization.handle, organization.name)
    }
    assert len(sent) == 2, [s for s, _ in sent]
