"""Which errors count as an exhausted or unreachable resource (503) wherever they sit in an exception's
chain, and what a client sees while the database or Redis cannot be reached."""

from __future__ import annotations

import errno

import asyncpg.exceptions
import pytest
import redis.exceptions
import sqlalchemy.exc

from core.app import create_app
from core.exhaustion import REDIS, Unreachable, exhausted_resource
from core.settings import Settings
from tests.asgi import app_client


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
        (redis.exceptions.MaxConnectionsError("Too many connections"), REDIS),
        (redis.exceptions.ConnectionError("No connection available."), REDIS),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), REDIS),
        (OSError(errno.EMFILE, "Too many open files"), "file descriptors"),
        # The database down: no server on the port or socket, and a connection it dropped mid-query.
        (
            Unreachable("database", ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")),
            "database",
        ),
        (Unreachable("database", FileNotFoundError(errno.ENOENT, "No such file")), "database"),
        (_wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")), "database"),
        (_wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")), "database"),
        (redis.exceptions.ConnectionError("Error 2 connecting to unix socket: /x/redis.sock."), REDIS),
        # The same errnos from anything but a new server connection are not an outage (a missing upload)
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), None),
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
        assert exhausted_resource(outer) == REDIS


def test_a_dropped_connection_is_recognised_by_sqlalchemys_verdict():
    dropped = sqlalchemy.exc.InterfaceError("SELECT 1", None, Exception("connection is closed"))
    dropped.connection_invalidated = True
    assert exhausted_resource(dropped) == "database"


def _unreachable(settings: Settings, tmp_path, **urls: str) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data", **urls})


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql+asyncpg://postgres@/gptstore?host=/nonexistent/run",  # the socket file is gone
        "postgresql+asyncpg://postgres@127.0.0.1:9/gptstore",  # nothing listens: connection refused
    ],
)
async def test_an_unreachable_database_answers_503_to_api_and_pages(settings, tmp_path, database_url):
    settings = _unreachable(settings, tmp_path, database_url=database_url)
    async with app_client(create_app(settings)) as client:
        api = await client.get("/api/store/gpts")
        page = await client.get("/", headers={"Accept": "text/html"})
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert api.status_code == 503, api.text
    assert api.headers["content-type"].startswith("application/problem+json")
    assert int(api.headers["retry-after"]) >= 1
    assert api.json()["detail"].startswith("The database is busy or unavailable")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "unavailable" in page.text
    assert health.status_code == 200  # the process itself is alive
    assert ready.status_code == 503 and "database" in ready.json()["detail"]


async def test_an_unreachable_redis_answers_503_in_words_for_users(settings, tmp_path):
    settings = _unreachable(settings, tmp_path, redis_url=f"unix://{tmp_path}/gone/redis.sock")
    async with app_client(create_app(settings)) as client:
        login = await client.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 12})
    assert login.status_code == 503, login.text
    assert int(login.headers["retry-after"]) >= 1
    assert login.json()["detail"].startswith("The queue and cache server (Redis) is busy or unavailable")
