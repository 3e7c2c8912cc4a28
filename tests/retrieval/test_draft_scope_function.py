"""The draft's scope function (migration 0033, `gptstore_draft_scope`) answers what the scope statement
built from the models (`retrieval.knowledge_search._scope` with `with_caller`) answers: the same columns,
by name and order, and the same rows, for every kind of dataset, file and caller. A change to the models
that the function does not follow fails here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from retrieval.knowledge_search import _DRAFT_SCOPES, GPT_ID, _scope, with_caller
from retrieval.models import Dataset, GptDataset, KnowledgeFile
from retrieval.service import KnowledgeService
from tests.datasets.factories import content, create_dataset
from tests.factories import create_user
from tests.orgs.factories import create_team
from tests.retrieval.test_gpt_datasets import make_gpt

FUNCTION = sa.text("SELECT * FROM gptstore_draft_scope(:gpt_id, :user_id)")


def models_scope() -> sa.Select:
    """The draft's scope as the models spell it: the home dataset and the attached ones, their current
    files, the caller's columns."""
    attached = sa.select(GptDataset.dataset_id).where(GptDataset.gpt_id == GPT_ID)
    datasets = sa.or_(Dataset.id == GPT_ID, Dataset.id.in_(attached))
    return with_caller(_scope(datasets, KnowledgeFile.detached_at.is_(None), sorts_off=False))


async def both(session, gpt_id: uuid.UUID, user_id: uuid.UUID | None) -> tuple[list, list]:
    params = {"gpt_id": gpt_id, "user_id": user_id}
    function = await session.execute(FUNCTION, params)
    models = await session.execute(models_scope(), params)
    assert list(function.keys()) == list(models.keys())
    return sorted(map(tuple, function.all()), key=str), sorted(map(tuple, models.all()), key=str)


@pytest.fixture
async def draft(client, creator, creator_headers, session, settings):
    """A draft of an organisation's with every kind of row in its scope: its home dataset's files (one of
    them detached), the creator's private dataset, another owner's open one, the organisation's own, and an
    empty one; and a dataset it does not use."""
    organization, people = await create_team(session, settings)
    gpt_id = uuid.UUID(await make_gpt(client, creator_headers, "Fjord Guide"))
    home = await session.get(Dataset, gpt_id)
    knowledge = KnowledgeService(session, settings)
    for name in ("ferries.md", "old-ferries.md"):
        await create_file(knowledge, home, name)
    home.organization_id = organization.id
    await session.commit()
    await session.execute(
        sa.update(KnowledgeFile)
        .where(KnowledgeFile.dataset_id == gpt_id, KnowledgeFile.filename == "old-ferries.md")
        .values(detached_at=datetime.now(UTC))
    )
    other = await create_user(session, settings, plan="plus")
    files = {"a.md": "Kayaks.", "b.md": "Bikes."}
    used = [
        await create_dataset(session, settings, creator, access="private", license=None, files=files),
        await create_dataset(session, settings, other, attribution="Fjord Lines", files={"c.md": "Ferries."}),
        await create_dataset(
            session, settings, people["owner"], organization_id=organization.id, files=files
        ),
        await create_dataset(session, settings, creator, name="Empty"),
    ]
    await create_dataset(session, settings, creator, name="Unused", files={"d.md": "Buses."})
    session.add_all(GptDataset(gpt_id=gpt_id, dataset_id=dataset.id) for dataset in used)
    await session.commit()
    return gpt_id, people


async def create_file(knowledge: KnowledgeService, dataset: Dataset, name: str) -> None:
    row = await knowledge.add_file(
        dataset, name, content(f"{name}: ferries run in May.".encode()), access="private"
    )
    row.status, row.chunk_count, row.chunks_done, row.chunks_total = "completed", 1, 1, 1


async def test_the_function_answers_what_the_models_statement_answers(draft, creator, session, settings):
    gpt_id, people = draft
    admin = await create_user(session, settings, is_admin=True)
    callers = [None, creator.id, admin.id, uuid.uuid4(), *(user.id for user in people.values())]
    for user_id in callers:
        function, models = await both(session, gpt_id, user_id)
        assert function == models, user_id
        assert len(function) == 1 + 2 + 1 + 2 + 1  # home (its detached file left out), 3 with files, empty
    function, _ = await both(session, gpt_id, people["builder"].id)
    assert {row[-1] for row in function} == {"builder"}  # the caller's role in the GPT's organisation
    function, _ = await both(session, gpt_id, admin.id)
    assert {row[-2:] for row in function} == {(True, None)}
    function, _ = await both(session, gpt_id, uuid.uuid4())
    assert {row[-2:] for row in function} == {(None, None)}  # no such user: 401 (retrieval/routes.py)


async def test_no_such_gpt_no_rows(draft, creator, session):
    function, models = await both(session, uuid.uuid4(), creator.id)
    assert function == models == []


async def test_the_statements_the_search_sends_read_the_function(draft, creator, session):
    """`_DRAFT_SCOPES`: the function's columns, and the one that turns sorts off for the search."""
    gpt_id, _ = draft
    params = {"gpt_id": gpt_id, "user_id": creator.id}
    names = list((await session.execute(models_scope(), params)).keys())
    plain = await session.execute(_DRAFT_SCOPES[False], params)
    assert list(plain.keys()) == names
    sorts_off = await session.execute(_DRAFT_SCOPES[True], params)
    assert list(sorts_off.keys()) == [*names, "sorts_off"]
    assert {row.sorts_off for row in sorts_off.all()} == {"off"}
    assert await session.scalar(sa.text("SELECT current_setting('enable_sort')")) == "off"
    await session.rollback()
