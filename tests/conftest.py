"""Real PostgreSQL+pgvector and Redis for every test; each test runs in a rolled-back transaction."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core import auth, migrate
from core.db import Database, create_engine
from core.embedded import EmbeddedServers
from core.redis import create_redis
from core.settings import Settings
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.fake_openai import FakeOpenAI

TEST_SECRET = "test-secret-" + "x" * 40

# Passwords in tests are hashed with argon2id at its lowest cost (1 pass over 1 MiB, 1 lane: ~3 ms) instead
# of the production cost (3 passes over 64 MiB, 4 lanes: 0.1-1.5 s on 2 busy cores), as PostgreSQL runs
# with fsync off: every signup, log-in and `create_user` still hashes and verifies for real, through the
# same code, and a production hash still verifies (argon2 reads the cost from the hash). The servers that
# tests start as processes (`gptstore serve`) keep the production cost.
auth.password_hash = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
auth._DUMMY_HASH = auth.password_hash.hash("dummy password of the tests")


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """URLs of the servers: GPTSTORE_TEST_* when set, else embedded servers started for this run."""
    database_url = os.environ.get("GPTSTORE_TEST_DATABASE_URL")
    redis_url = os.environ.get("GPTSTORE_TEST_REDIS_URL")
    servers = None
    if not (database_url and redis_url):
        servers = EmbeddedServers(
            tmp_path_factory.mktemp("servers"),
            postgres=not database_url,
            redis=not redis_url,
            postgres_options={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
        ).start()
        database_url = database_url or servers.database_url
        redis_url = redis_url or servers.redis_url
    yield database_url, redis_url
    if servers is not None:
        servers.stop()


async def _recreate_database(admin_url: str, name: str, template: str | None = None) -> str:
    """An empty database `name` (dropped first if it exists), or a copy of the database `template`."""
    engine = create_engine(admin_url, pool_size=1)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    await engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def migrated_template(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """Name of a database migrated once to the head revision, which no test connects to.

    Every other database a test needs already migrated is a copy of it (`migrated_database`): PostgreSQL
    copies a database in a fraction of a second, where running the migrations again takes seconds.
    """
    name = f"gptstore_template_{os.getpid()}"
    url = await _recreate_database(server_urls[0], name)
    await asyncio.to_thread(migrate.upgrade, url)
    yield name
    await _drop_database(server_urls[0], name)


async def migrated_database(admin_url: str, name: str, template: str) -> str:
    """A fresh database `name` at the head revision, copied from `template` (`migrated_template`)."""
    return await _recreate_database(admin_url, name, template=template)


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, pool_size=1)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str], migrated_template: str) -> str:
    """A fresh database for this run at the head revision (a copy of the migrated template)."""
    return await migrated_database(server_urls[0], f"gptstore_test_{os.getpid()}", migrated_template)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        try:
            await transaction.rollback()
        except Exception:
            # A connection left mid-operation (a background task still using it when the test ended)
            # cannot roll back: close it, so the server aborts the transaction and frees its locks for
            # the next tests instead of holding them for the rest of the run.
            await conn.invalidate()
            raise


@pytest.fixture
def db(engine: AsyncEngine, connection: AsyncConnection) -> Database:
    """Sessions joined to the test's outer transaction: their commits become savepoints."""
    return Database(
        engine,
        async_sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False),
    )


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session:
        yield session


@pytest.fixture(scope="session")
async def redis_server(server_urls: tuple[str, str]) -> AsyncIterator[Redis]:
    client = create_redis(server_urls[1])
    yield client
    await client.aclose()


@pytest.fixture
async def redis(redis_server: Redis) -> Redis:
    await redis_server.flushdb()
    return redis_server


@pytest.fixture
def settings(database_url: str, server_urls: tuple[str, str], tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=server_urls[1],
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        llm_provider="offline",
    )


S3_KEYS = {"storage_access_key_id": "testing", "storage_secret_access_key": SecretStr("testing")}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-protocol server (moto in server mode) on a free local port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_bucket(endpoint: str) -> str:
    """A new, empty bucket on the test S3 server."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:16]}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test settings with uploads in the data dir (`local`), or in a fresh bucket of the S3 server
    (`s3`, under a prefix, as `s3://bucket/prefix` is configured in production)."""
    if request.param == "local":
        return settings
    endpoint = request.getfixturevalue("s3_server")
    return settings.model_copy(
        update={
            "storage_url": f"s3://{s3_bucket(endpoint)}/uploads",
            "storage_endpoint": endpoint,
            "storage_region": "us-east-1",
            **S3_KEYS,
        }
    )


@pytest.fixture
async def client(settings: Settings, db: Database, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client_for(settings, db=db, redis=redis) as client:
        yield client


@pytest.fixture
async def creator(session: AsyncSession, settings: Settings):
    """A user on the paid `plus` plan."""
    return await create_user(session, settings, plan="plus", is_admin=False)


@pytest.fixture
def creator_headers(creator, settings: Settings) -> dict[str, str]:
    return auth_headers(creator, settings)


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """The local OpenAI-compatible server (scripted replies, streaming, tool calls, embeddings)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The server with an empty script, no pending failures and no recorded requests."""
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def llm_settings(settings: Settings, fake_openai: FakeOpenAI) -> Settings:
    """Settings with the chat model on the local server; embeddings stay on the offline model."""
    return settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_openai.base_url,
            "llm_api_key": SecretStr("test-key"),
            "embedding_provider": "minilm",
            "llm_max_retries": 0,
        }
    )


@pytest.fixture
async def llm_client(llm_settings: Settings, db: Database, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client_for(llm_settings, db=db, redis=redis) as client:
        yield client
