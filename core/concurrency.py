"""Check-then-write under concurrency, and actions tied to a transaction's end.

A check followed by a write ("is the email free? then insert", "under 20 files? then add one") is only
true under concurrency when no other transaction can slip in between. Two tools, nothing else:
`serialize` makes the checks of one scope take turns, `unique_or_conflict` turns the database's own
refusal of a duplicate into the same 409 the check gives. `after_commit` / `after_rollback` run an action
once the transaction that asked for it has ended that way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict

UNIQUE_CONSTRAINTS_FILE = Path(__file__).parent / "data" / "unique_constraints.json"


@cache
def unique_constraints() -> dict[str, dict[str, str]]:
    """Constraint or unique index name -> {field, detail} of its 409 (core/data/unique_constraints.json)."""
    table = json.loads(UNIQUE_CONSTRAINTS_FILE.read_text(encoding="utf-8"))
    return {name: rule for name, rule in table.items() if not name.startswith("_")}


async def serialize(session: AsyncSession, scope: str, key: object = "") -> None:
    """Wait until no other transaction holds `scope:key`, then hold it until this transaction ends.

    A transaction-scoped PostgreSQL advisory lock (`pg_advisory_xact_lock` on a 64-bit hash of the
    name): take it before counting or checking, so the check still holds when the write commits.
    """
    name = f"{scope}:{key}"
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(name, 0))))


def after_commit(session: AsyncSession, action: Callable[[], object]) -> None:
    """Run `action` once this session's transaction has committed; never when it rolls back.

    For side effects outside the database (deleting stored files) that must not happen for rows that stay.
    """
    _on_transaction_end(session, "after_commit", action)


def after_rollback(session: AsyncSession, action: Callable[[], object]) -> None:
    """Run `action` if this session's transaction rolls back; never once it has committed.

    For undoing side effects outside the database (an object stored for a row that is not kept).
    """
    _on_transaction_end(session, "after_rollback", action)


def _on_transaction_end(session: AsyncSession, event: str, action: Callable[[], object]) -> None:
    """Run `action` when the work done so far is committed for good (`after_commit`) or undone
    (`after_rollback`), and forget it when it goes the other way.

    Undone: the transaction or SAVEPOINT open now, or one around it, rolls back (or the outermost one
    ends without a commit). Committed: the outermost transaction commits; a SAVEPOINT's release is not
    enough, since the transaction around it may still roll back. So a file refused in a savepoint of its
    own never undoes the files added before it.
    """
    sync = session.sync_session
    chain = []
    current = sync.get_nested_transaction() or sync.get_transaction()
    while current is not None:
        chain.append(current)
        current = current.parent
    done = False

    def finish(committed: bool, during: str) -> None:
        nonlocal done
        if done:
            return
        done = True
        for name, listener in listeners.items():  # never the one running: its list is being iterated
            if name != during and sa.event.contains(sync, name, listener):
                sa.event.remove(sync, name, listener)
        if committed == (event == "after_commit"):
            action()

    def committed(_session: object) -> None:
        if not sync.in_nested_transaction():
            finish(True, "after_commit")

    def rolled_back(_session: object, previous: object) -> None:
        if any(previous is transaction for transaction in chain):
            finish(False, "after_soft_rollback")

    def ended(_session: object, transaction: object) -> None:
        if chain and transaction is chain[-1]:  # the outermost one closed without a commit
            finish(False, "after_transaction_end")

    listeners = {
        "after_commit": committed,
        "after_soft_rollback": rolled_back,
        "after_transaction_end": ended,
    }
    for name, listener in listeners.items():
        sa.event.listen(sync, name, listener)


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the unique constraint or index behind an IntegrityError (asyncpg), else None."""
    cause = getattr(error.orig, "__cause__", None)
    if getattr(cause, "sqlstate", None) != "23505":  # unique_violation
        return None
    return getattr(cause, "constraint_name", None)


@asynccontextmanager
async def unique_or_conflict(
    session: AsyncSession, existing: Callable[[], Awaitable[None]] | None = None
) -> AsyncIterator[None]:
    """Flush the block's writes in a SAVEPOINT; a unique violation there becomes a 409 `Conflict`.

    Only the savepoint is rolled back, so the transaction stays usable. `existing` is the caller's own
    duplicate check: it runs again (the winner has committed by then, so it sees it) and raises the
    409 naming the existing item, exactly as without a race. Failing that, the 409 comes from
    `unique_constraints()`. Violations of constraints not in that table propagate.
    """
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as error:
        rule = unique_constraints().get(violated_constraint(error) or "")
        if rule is None:
            raise
        if existing is not None:
            await existing()
        raise Conflict(rule["detail"], errors=[{"field": rule["field"], "message": "taken"}]) from None
