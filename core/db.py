"""Database engine, sessions and the transaction boundary.

A request (or a job, or a CLI command through `session_scope`) owns its transaction; services only
flush. Tests hand in a session factory bound to one connection whose outer transaction is rolled back.
Reads that tolerate replica lag may go to a read replica (`Database.replica_session`, docs/scaling.md).
The retrieval test's searches run without a transaction on a pool of their own (`Database.search_session`).
"""

from __future__ import annotations

import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pgvector.sqlalchemy
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import Field

from core.exhaustion import Unreachable
from core.settings import Settings


class Vector(pgvector.sqlalchemy.Vector):
    """pgvector's `vector` of any dimension, passed to asyncpg's binary codec (numpy arrays) untouched."""

    cache_ok = True

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> uuid.UUID:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> datetime:
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
        nullable=False,
    )


def updated_at_field() -> datetime:
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now(), "onupdate": utcnow},
        nullable=False,
    )


SERVER_SETTINGS = {
    # A generic plan for a per-GPT filtered vector query would pick one strategy for every GPT size;
    # custom plans let the planner see the actual filter each time.
    "plan_cache_mode": "force_custom_plan",
    "jit": "off",
    # pgvector 0.8: keep scanning the HNSW graph until enough rows pass the per-GPT filter.
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.ef_search": "100",
    # ... which stops at `hnsw.max_scan_tuples` (20,000) or at `work_mem` x this (pgvector's default 1, so
    # 4 MB), whichever comes first. At 1 the memory ended the scan first: a 15-chunk GPT among 3,000 near
    # copies of its chunks in other GPTs got 9 of its top 10 (tests/retrieval/test_ingestion.py, HNSW
    # strategy); 2 still did, 4 finds all ten. Up to 16 MB, only for a search that walks that far.
    "hnsw.scan_mem_multiplier": "4",
}


# Sessions on a replica: read-only even where the server would take writes (a replica URL pointing at a
# primary by mistake), and named in pg_stat_activity.
REPLICA_SERVER_SETTINGS = {"default_transaction_read_only": "on", "application_name": "gptstore-replica"}
# A replica that does not answer a connection within this many seconds counts as down (asyncpg's default
# is 60 s, which a store page would wait out).
REPLICA_CONNECT_TIMEOUT_SECONDS = 5.0

# The search pool's connections (`Database.search_session`): every statement plans with sorts off, as the
# HNSW strategy needs (retrieval.search.SORTS_OFF), so a search needs no transaction to hold the setting.
SEARCH_SERVER_SETTINGS = {"enable_sort": "off", "application_name": "gptstore-search"}

logger = logging.getLogger("gptstore.db")
REPLICA_INFO = "replica"  # key in `AsyncSession.info` of sessions on the replica
SORTS_OFF_INFO = "plans_without_sorts"  # key in `AsyncSession.info` of sessions on the search pool
AUTOCOMMIT_INFO = "outside_transaction"  # key in `AsyncSession.info` of sessions on the search pool


def plans_without_sorts(session: AsyncSession) -> bool:
    """Whether every statement of `session` is planned with sorts off, outside any transaction (a session of
    `Database.search_session` on the search pool): no statement needs to turn them off or back on."""
    return bool(session.info.get(SORTS_OFF_INFO))


async def release_connection(session: AsyncSession) -> None:
    """Give the connection of a session outside any transaction (`Database.search_session`) back to its
    pool until the session's next statement, before a wait on another server (a hosted model's query
    embedding, a reranker): the search pool is small, and a connection held through that wait keeps other
    searches waiting for it, then answers them 503, while the database has nothing to do. Nothing reaches
    the server (autocommit: no `COMMIT`); the next statement checks a connection out again (~0.1 ms). A
    session in a transaction keeps its connection and its snapshot."""
    if session.info.get(AUTOCOMMIT_INFO):
        await session.commit()


def replica_lag(session: AsyncSession, settings: Settings) -> float:
    """Seconds `session`'s reads may trail the primary: `database_replica_lag_seconds` for a session on
    the replica, 0 on the primary (for `core.cache.cached`)."""
    return settings.database_replica_lag_seconds if session.info.get(REPLICA_INFO) else 0.0


@sa.event.listens_for(Session, "do_orm_execute")
def _locked_rows_fresh(state: ORMExecuteState) -> None:
    """An ORM read that locks rows (`FOR UPDATE` / `FOR SHARE`, `Session.get(..., with_for_update=...)`)
    refreshes the objects the session already holds. Without this the lock is taken but an object loaded
    before it (a route's access check reads the draft first) keeps its old values, so two parallel
    read-modify-writes each start from the same state and one silently undoes the other. Pending changes
    are flushed before the read (autoflush), so none is lost."""
    if state.is_select and state.statement._for_update_arg is not None:  # no public accessor
        state.update_execution_options(populate_existing=True)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
    server_settings: dict[str, str] | None = None,
    connect_timeout: float | None = None,
    isolation_level: str | None = None,
) -> AsyncEngine:
    """An engine with at most `pool_size + max_overflow` (default twice `pool_size`) connections; a
    checkout waits up to `pool_timeout` seconds, then raises `sqlalchemy.exc.TimeoutError` (answered
    with 503 by `core.errors`). Settings: `db_pool_size`, `db_max_overflow`, `db_pool_timeout_seconds`.
    `server_settings` are added to SERVER_SETTINGS; `connect_timeout` bounds opening a connection;
    `isolation_level` "AUTOCOMMIT" sends no `BEGIN`/`COMMIT` (asyncpg: decided in the client, no round
    trip)."""
    connect_args: dict = {"server_settings": {**SERVER_SETTINGS, **(server_settings or {})}}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
        **({"isolation_level": isolation_level} if isolation_level else {}),
    )
    sa.event.listen(engine.sync_engine, "do_connect", connect_or_unreachable)
    sa.event.listen(engine.sync_engine, "connect", _register_vector_codec)
    sa.event.listen(engine.sync_engine, "checkin", _checked_in)
    sa.event.listen(engine.sync_engine, "checkout", _alive_check(engine.sync_engine.dialect))
    return engine


# A pooled connection given back this recently is taken as alive without asking the server (HikariCP's
# `aliveBypassWindowMs`, 500 ms by default). SQLAlchemy's `pool_pre_ping` asks on every checkout, and
# for asyncpg that is three round trips (BEGIN, ";", ROLLBACK): more than a search request's own
# statements (docs/performance.md, "Search endpoint overhead").
ALIVE_BYPASS_SECONDS = 0.5
_CHECKED_IN = "gptstore_checked_in"  # key in the pool record's `info`: when the connection came back


def _checked_in(_dbapi_connection, record) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _alive_check(dialect: sa.Dialect) -> Callable[..., None]:
    """A pool `checkout` listener: a connection the server closed (a restart, `pg_terminate_backend`,
    an idle timeout: asyncpg saw the socket close) is replaced without a round trip; one idle for more
    than `ALIVE_BYPASS_SECONDS` is pinged first, as `pool_pre_ping` would; a fresh one is used as is.
    Raising `DisconnectionError` makes the pool discard the connection and check out another (a failed
    ping discards every older pooled connection too, as `pool_pre_ping` does)."""

    def check(dbapi_connection, record, _proxy) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise sa.exc.DisconnectionError("the server closed the connection")
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in <= ALIVE_BYPASS_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.InvalidatePoolError(f"ping failed: {error}") from error

    return check


def connect_or_unreachable(dialect: sa.Dialect, _record, cargs, cparams):
    """A `do_connect` listener (on every engine of ours, the migrations' too): a new connection, or
    `core.exhaustion.Unreachable` (answered with 503) when the server cannot be reached. asyncpg lets the
    socket's `OSError` through (ConnectionRefusedError, FileNotFoundError for a missing unix socket, a DNS
    failure, TimeoutError), which would otherwise read as any other bug."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise Unreachable("database", exc) from exc


def _register_vector_codec(dbapi_connection, _record) -> None:
    """Binary codecs for COPY: pgvector's `vector` (numpy arrays) and `regconfig` (as its OID)."""
    from pgvector.asyncpg import register_vector

    async def register(conn) -> None:
        await conn.set_type_codec(
            "regconfig",
            schema="pg_catalog",
            encoder=lambda oid: struct.pack("!I", oid),
            decoder=lambda data: struct.unpack("!I", data)[0],
            format="binary",
        )
        try:
            await register_vector(conn)
        except ValueError:  # "unknown type: public.vector": the extension is not created yet
            pass

    dbapi_connection.run_async(register)


class Database:
    """The engine and session factory of one running app (or test), and its read replica if it has one.

    `replica`: an engine on a streaming replica (`create_engine(..., server_settings=
    REPLICA_SERVER_SETTINGS)`); None keeps every read on the primary. `replica_retry_seconds`: after a
    failed connection to it, reads stay on the primary this long before the replica is tried again.
    `search`: an engine on the primary with `SEARCH_SERVER_SETTINGS`, in autocommit, for `search_session`;
    None (the tests' sessions joined to one connection) runs those reads in a `session_scope` instead.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        *,
        replica: AsyncEngine | None = None,
        replica_retry_seconds: float = 10.0,
        search: AsyncEngine | None = None,
    ):
        self.engine = engine
        self.search = search
        self._search_sessionmaker = search and async_sessionmaker(
            search,
            expire_on_commit=False,
            info={SORTS_OFF_INFO: True, AUTOCOMMIT_INFO: True},
        )
        self.sessionmaker = sessionmaker or async_sessionmaker(engine, expire_on_commit=False)
        self.replica = replica
        self.replica_retry_seconds = replica_retry_seconds
        self._replica_sessionmaker = replica and async_sessionmaker(
            replica, expire_on_commit=False, info={REPLICA_INFO: True}
        )
        self._replica_down_until = 0.0

    @property
    def concurrent_sessions(self) -> bool:
        """Whether two sessions may run statements at once: not when every session joins one connection
        (the tests' transaction per test, `tests/conftest.py`)."""
        return not isinstance(self.sessionmaker.kw.get("bind"), AsyncConnection)

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> Database:
        """Pools from the `db_*` settings: the primary's, the search pool (`db_search_pool_size`
        connections at most, opened on first use); a replica engine when `database_replica_url` is
        set."""
        pools = {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_seconds,
        }
        replica = None
        if settings.database_replica_url:
            replica = create_engine(
                settings.database_replica_url,
                **pools,
                server_settings=REPLICA_SERVER_SETTINGS,
                connect_timeout=REPLICA_CONNECT_TIMEOUT_SECONDS,
            )
        return cls(
            create_engine(url, **pools),
            replica=replica,
            replica_retry_seconds=settings.database_replica_retry_seconds,
            search=create_engine(
                url,
                pool_size=settings.db_search_pool_size,
                max_overflow=0,
                pool_timeout=settings.db_pool_timeout_seconds,
                server_settings=SEARCH_SERVER_SETTINGS,
                isolation_level="AUTOCOMMIT",
            ),
        )

    async def replica_session(self) -> AsyncSession | None:
        """A read-only session with its connection open on the replica; None when there is no replica or
        it cannot be reached (logged once per `replica_retry_seconds`; the caller reads on the primary).

        A write through it raises (`default_transaction_read_only`). The caller closes it. A full replica
        pool is not a failure of the replica: its `sqlalchemy.exc.TimeoutError` (503) propagates.
        """
        if self._replica_sessionmaker is None or time.monotonic() < self._replica_down_until:
            return None
        session = self._replica_sessionmaker()
        try:
            await session.connection()
        except sa.exc.TimeoutError:
            await session.close()
            raise
        except Exception as error:  # refused, unreachable, timed out, wrong credentials, no such database
            await session.close()
            self._replica_down_until = time.monotonic() + self.replica_retry_seconds
            logger.warning(
                "read replica unavailable, store reads go to the primary for %.0f s: %s",
                self.replica_retry_seconds,
                f"{type(error).__name__}: {error}",
            )
            return None
        return session

    @asynccontextmanager
    async def read_session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that tolerate replica lag: on the replica when there is one and it answers,
        else `session_scope()` on the primary. For jobs and commands; requests use `read_session`."""
        session = await self.replica_session()
        if session is None:
            async with self.session_scope() as primary:
                yield primary
            return
        async with session:  # closing rolls the read-only transaction back and returns the connection
            yield session

    @asynccontextmanager
    async def search_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a read-only search request (the retrieval test, `POST /api/gpts/{id}/search`):
        on the search pool, in autocommit (no `BEGIN`/`COMMIT`: each statement is its own transaction,
        with its own snapshot) and planned with sorts off (`plans_without_sorts`); a `session_scope()`
        when there is no search pool. Read on the primary, never the replica: the creator tests what
        they just uploaded. docs/performance.md, "Search endpoint overhead"."""
        if self._search_sessionmaker is None:
            async with self.session_scope() as session:
                yield session
            return
        async with self._search_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.search is not None:
            await self.search.dispose()
        if self.replica is not None:
            await self.replica.dispose()
