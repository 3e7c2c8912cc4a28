"""Statements that must not grow with the tables: a search's scope statement and a "what I may edit" list.

    .venv/bin/python bench/scope.py                   # 100,000 other datasets and GPTs, 300,000 files
    .venv/bin/python bench/scope.py --rows 10000      # quicker

One creator with a GPT (its home dataset and one attached dataset, 10 files each): the draft's scope
statement, a published version's (pinning those 20 files) and the first page of the creator's GPT list,
each timed (p50 of 50) beside the same statement with `IN (SELECT ...)` inside its `OR` (the shape before
`core.sql.in_select`), first with only the creator's rows, then after `--rows` other owners' datasets
(3 files each) and GPTs are added and analysed. Prints each p50 and its growth (at size / alone): a
statement answered from its indexes stays near 1x; one that reads the whole table grows with it.
A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from builder.models import Gpt
from core.db import Database, create_engine
from core.models import User
from orgs import access
from orgs.models import OrganizationMember
from retrieval import knowledge_search
from retrieval.knowledge_search import GPT_ID, _scope, version_files, version_scope
from retrieval.models import Dataset, GptDataset, KnowledgeFile

REPS = 50
EDITORS = [role for role in access.roles() if access.allows(role, "edit")]


def before_scope() -> sa.Select:
    """The draft's scope statement as it was: the attached datasets as `IN (SELECT ...)` in the `OR`."""
    return _scope(
        sa.or_(
            Dataset.id == GPT_ID,
            Dataset.id.in_(sa.select(GptDataset.dataset_id).where(GptDataset.gpt_id == GPT_ID)),
        ),
        KnowledgeFile.detached_at.is_(None),
    )


def before_version_scope(file_ids: list[uuid.UUID]) -> sa.Select:
    """A published version's scope as it was: the datasets holding its files as `IN (SELECT ...)`."""
    holding = sa.select(KnowledgeFile.dataset_id).where(KnowledgeFile.id.in_(file_ids))
    datasets = sa.or_(Dataset.id == GPT_ID, Dataset.id.in_(holding), Dataset.id.in_([]))
    return _scope(datasets, version_files(file_ids, []))


def my_gpts(user: User, before: bool) -> sa.Select:
    """The first page of the GPT list (`builder.service.list_owned`'s statement: newest first, 20)."""
    if before:
        mine = sa.select(OrganizationMember.organization_id).where(
            OrganizationMember.user_id == user.id, OrganizationMember.role.in_(EDITORS)
        )
        where = sa.or_(
            sa.and_(Gpt.organization_id.is_(None), Gpt.owner_id == user.id), Gpt.organization_id.in_(mine)
        )
    else:
        where = access.allowed(user, Gpt.owner_id, Gpt.organization_id, "edit")
    return sa.select(Gpt).where(where).order_by(Gpt.updated_at.desc(), Gpt.id.desc()).limit(21)


async def p50(db: Database, statement: sa.Select, parameters: dict) -> float:
    times = []
    async with db.session_scope() as session:
        for _ in range(REPS):
            tick = time.perf_counter()
            (await session.execute(statement, parameters)).all()
            times.append((time.perf_counter() - tick) * 1000)
    return statistics.median(times)


async def seed(db: Database) -> tuple[User, uuid.UUID, list[uuid.UUID]]:
    async with db.session_scope() as session:
        user = User(email="ada@example.com", handle="ada", display_name="Ada", password_hash="x")
        session.add(user)
        await session.flush()
        gpt = Gpt(owner_id=user.id, name="Fjord Guide")
        session.add(gpt)
        await session.flush()
        home = Dataset(id=gpt.id, owner_id=user.id, home_gpt_id=gpt.id, name="Fjord Guide")
        shared = Dataset(owner_id=user.id, name="Ferries")
        session.add_all([home, shared])
        await session.flush()
        session.add(GptDataset(gpt_id=gpt.id, dataset_id=shared.id))
        for dataset in (home, shared):
            for i in range(10):
                session.add(
                    KnowledgeFile(
                        dataset_id=dataset.id,
                        owner_id=user.id,
                        filename=f"notes-{i}.md",
                        media_type="text/markdown",
                        bytes=1000,
                        sha256=f"{i:064d}",
                        chunk_size=512,
                        chunk_overlap=64,
                        embedding_model="bench",
                        status="completed",
                    )
                )
        await session.flush()
        files = list(await session.scalars(sa.select(KnowledgeFile.id)))
        session.expunge(user)
    return user, gpt.id, files


async def grow(db: Database, rows: int) -> float:
    """`rows` other owners' datasets (3 files each) and GPTs, copied from the seeded ones; seconds."""
    tick = time.perf_counter()
    async with db.session_scope() as session:
        session.add(User(email="grace@example.com", handle="grace", display_name="Grace", password_hash="x"))
        await session.flush()
        for table, extra in (("gpt", {}), ("dataset", {"home_gpt_id": None})):
            await session.execute(
                sa.text(
                    f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(t)"
                    " || jsonb_build_object('id', gen_random_uuid(), 'owner_id',"
                    " (SELECT id FROM user_account WHERE handle = 'grace')) || CAST(:extra AS jsonb))).*"
                    f" FROM (SELECT * FROM {table} LIMIT 1) t, generate_series(1, :rows)"
                ),
                {"rows": rows, "extra": json.dumps(extra)},
            )
        await session.execute(
            sa.text(
                "INSERT INTO knowledge_file SELECT (jsonb_populate_record(NULL::knowledge_file, to_jsonb(f)"
                " || jsonb_build_object('id', gen_random_uuid(), 'dataset_id', d.id))).*"
                " FROM dataset d CROSS JOIN LATERAL (SELECT * FROM knowledge_file WHERE dataset_id ="
                " (SELECT id FROM dataset WHERE home_gpt_id IS NOT NULL) ORDER BY filename LIMIT 3) f"
                " WHERE d.owner_id = (SELECT id FROM user_account WHERE handle = 'grace')"
            )
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - tick


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gptstore-scope-") as tmp:
        async with bench_servers(Path(tmp), "scope", redis=False) as servers:
            engine = create_engine(servers.database_url, pool_size=2)
            db = Database(engine)
            try:
                user, gpt_id, files = await seed(db)
                # the draft's scope function (migration 0033), with the column that turns sorts off
                draft_scope = knowledge_search._DRAFT_SCOPES[True]
                statements = {
                    "scope, IN (SELECT) in the OR (before)": (before_scope(), {"gpt_id": gpt_id}),
                    "scope, ANY(ARRAY(SELECT)) (now)": (draft_scope, {"gpt_id": gpt_id, "user_id": None}),
                    "version scope, IN (SELECT) (before)": (before_version_scope(files), {"gpt_id": gpt_id}),
                    "version scope, ANY(ARRAY(SELECT)) (now)": (version_scope(files, []), {"gpt_id": gpt_id}),
                    "my GPTs page, IN (SELECT) (before)": (my_gpts(user, before=True), {}),
                    "my GPTs page, ANY(ARRAY(SELECT)) (now)": (my_gpts(user, before=False), {}),
                }
                alone = {name: await p50(db, s, p) for name, (s, p) in statements.items()}
                seconds = await grow(db, args.rows)
                grown = {name: await p50(db, s, p) for name, (s, p) in statements.items()}
            finally:
                await engine.dispose()
    print(
        f"\ngptstore scope statements: one creator's GPT (2 datasets, 20 files) alone, then beside"
        f" {args.rows:,} other datasets ({3 * args.rows:,} files) and {args.rows:,} GPTs"
        f" (added in {seconds:.0f} s); p50 of {REPS}"
    )
    print(f"{'statement':44} {'alone ms':>9} {'at size ms':>11} {'growth':>7}")
    for name in statements:
        print(f"{name:44} {alone[name]:9.2f} {grown[name]:11.2f} {grown[name] / alone[name]:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="other owners' datasets and GPTs")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
