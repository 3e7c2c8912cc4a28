"""Which errors count as an exhausted resource (503) wherever they sit in an exception's chain."""

from __future__ import annotations

import errno

import asyncpg.exceptions
import pytest
import redis.exceptions
import sqlalchemy.exc

from core.exhaustion import exhausted_resource


def _wrapped(inner: BaseException) -> BaseException:
    """`inner` as the cause of a SQLAlchemy DBAPIError, as asyncpg errors reach our handlers."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", None, exc) from exc
    except sqlalchemy.exc.DBAPIError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "resource"),
    [
        (
            sqlalchemy.exc.TimeoutError("QueuePool limit of size 3 overflow 0 reached"),
            "database connection pool",
        ),
        (
            _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients")),
            "database connection slots",
        ),
        (
            _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
            "database",
        ),
        (redis.exceptions.MaxConnectionsError("Too many connections"), "Redis"),
        (redis.exceptions.ConnectionError("No connection available."), "Redis"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "Redis"),
        (OSError(errno.EMFILE, "Too many open files"), "file descriptors"),
        (RuntimeError("enqueue failed"), None),
        (OSError(errno.ENOENT, "No such file"), None),
        (ValueError("bad input"), None),
    ],
)
def test_exhausted_resources_are_recognised(error, resource):
    assert exhausted_resource(error) == resource


def test_an_exhaustion_behind_another_error_is_found():
    try:
        try:
            raise redis.exceptions.ConnectionError("No connection available.")
        except redis.exceptions.ConnectionError as exc:
            raise RuntimeError("SAQ could not enqueue the job") from exc
    except RuntimeError as outer:
        assert exhausted_resource(outer) == "Redis"
