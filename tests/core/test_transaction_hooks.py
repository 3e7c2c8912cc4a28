"""`after_commit` / `after_rollback` (core/concurrency.py): outside effects follow the rows."""

from __future__ import annotations

import sqlalchemy as sa

from core.concurrency import after_commit, after_rollback


async def touch(session) -> None:
    await session.execute(sa.text("SELECT 1"))


async def test_commit_runs_after_commit_and_forgets_after_rollback(db):
    ran = []
    async with db.sessionmaker() as session:
        await touch(session)
        after_commit(session, lambda: ran.append("commit"))
        after_rollback(session, lambda: ran.append("rollback"))
        assert ran == []
        await session.commit()
        assert ran == ["commit"]
        await touch(session)
        await session.rollback()  # a later transaction of the same session
    assert ran == ["commit"]


async def test_rollback_or_close_without_commit_runs_after_rollback(db):
    ran = []
    async with db.sessionmaker() as session:
        await touch(session)
        after_commit(session, lambda: ran.append("commit"))
        after_rollback(session, lambda: ran.append("rollback"))
        await session.rollback()
        await session.commit()
    assert ran == ["rollback"]
    async with db.sessionmaker() as session:
        await touch(session)
        after_rollback(session, lambda: ran.append("closed"))
    assert ran == ["rollback", "closed"]


async def test_a_savepoint_rolled_back_later_does_not_undo_earlier_work(db):
    """As the builder's upload form: each file in a savepoint of its own, the second refused."""
    ran = []
    async with db.sessionmaker() as session:
        await touch(session)
        async with session.begin_nested():
            after_rollback(session, lambda: ran.append("first undone"))
            after_commit(session, lambda: ran.append("first committed"))
        try:
            async with session.begin_nested():
                after_rollback(session, lambda: ran.append("second undone"))
                after_commit(session, lambda: ran.append("second committed"))
                raise ValueError("refused")
        except ValueError:
            pass
        assert ran == ["second undone"]
        await session.commit()
    assert ran == ["second undone", "first committed"]


async def test_the_transaction_around_a_released_savepoint_still_undoes_it(db):
    ran = []
    async with db.sessionmaker() as session:
        await touch(session)
        async with session.begin_nested():
            after_rollback(session, lambda: ran.append("undone"))
            after_commit(session, lambda: ran.append("committed"))
        assert ran == []  # a release is no commit
        await session.rollback()
    assert ran == ["undone"]
