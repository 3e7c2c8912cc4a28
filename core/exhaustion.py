"""Exhausted or unreachable shared resources, recognised in an exception chain.

A request that waited its bounded time for a pooled resource (PostgreSQL or Redis connection, a
PostgreSQL connection slot, a file descriptor, the LLM client's connection pool) and did not get one, or
whose transaction PostgreSQL cancelled to break a deadlock with a concurrent one, or whose database or
Redis server cannot be reached (down, restarting, refusing connections), is answered with 503 and
`Retry-After` (`core.errors`), never with a 500. Pool sizes and waits come from
settings (docs/operations.md).
"""

from __future__ import annotations

import errno

import asyncpg.exceptions
import obstore.exceptions
import redis.exceptions
import sqlalchemy.exc

REDIS = "queue and cache server (Redis)"


class Unreachable(ConnectionError):
    """A server could not be connected to at all (refused, no socket file, no route, unknown host, timed
    out): raised by `core.db` from the `OSError` of a new connection, so that an `OSError` from anything
    else (a missing upload, a closed client) is not taken for an outage. `resource`: as in the 503."""

    def __init__(self, resource: str, reason: BaseException):
        super().__init__(f"the {resource} cannot be reached: {reason}")
        self.resource = resource


# exception type -> the resource named in the 503's detail ("The <resource> is busy or unavailable")
_RESOURCES: tuple[tuple[type[BaseException], str], ...] = (
    (sqlalchemy.exc.TimeoutError, "database connection pool"),  # QueuePool: waited pool_timeout
    (asyncpg.exceptions.TooManyConnectionsError, "database connection slots"),  # max_connections
    (asyncpg.exceptions.CannotConnectNowError, "database"),  # starting up or shutting down
    # The server went away under an open connection: stopped, crashed, restarted, or the socket broke.
    (asyncpg.exceptions.AdminShutdownError, "database"),
    (asyncpg.exceptions.CrashShutdownError, "database"),
    (asyncpg.exceptions.PostgresConnectionError, "database"),  # ConnectionDoesNotExistError and kin
    # MaxConnectionsError and "No connection available." (BlockingConnectionPool) are ConnectionErrors,
    # and so is a refused or missing server; SAQ's enqueue fails with these too.
    (redis.exceptions.ConnectionError, REDIS),
    (redis.exceptions.TimeoutError, REDIS),
    # Two transactions that waited on each other's locks: PostgreSQL cancels one, and the same request
    # sent again succeeds (PostgreSQL manual, 13.3.4 Deadlocks; 13.2.3 for serialization failures).
    (asyncpg.exceptions.DeadlockDetectedError, "database (a concurrent request held the same rows)"),
    (asyncpg.exceptions.SerializationError, "database (a concurrent request held the same rows)"),
    # The bucket of uploads unreachable, timing out or failing after obstore's retries (core/storage.py).
    (obstore.exceptions.GenericError, "object storage"),
)
_DESCRIPTOR_ERRNOS = {errno.EMFILE, errno.ENFILE}


def exhausted_resource(exc: BaseException | None) -> str | None:
    """The name of the exhausted resource behind `exc` (its cause, SQLAlchemy's `orig`, its context), or
    None when `exc` is not about an exhausted or unreachable resource."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Unreachable):
            return current.resource
        # SQLAlchemy's verdict on a driver error: the connection is gone (asyncpg's "connection is
        # closed", a reset socket), and the pool has dropped it.
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return "database"
        for kind, name in _RESOURCES:
            if isinstance(current, kind):
                return name
        if isinstance(current, OSError) and current.errno in _DESCRIPTOR_ERRNOS:
            return "file descriptors"
        pending += [current.__context__, current.__cause__, getattr(current, "orig", None)]
    return None
