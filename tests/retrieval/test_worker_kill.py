"""kill -9 of a real worker process mid-file: a second worker finishes the file with every chunk exactly
once, and the batch counts come out right (docs/ingestion.md, "Crashes")."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import Database
from core.models import User
from retrieval.models import Dataset, KnowledgeChunk, KnowledgeFile
from tests.asgi import app_client_for
from tests.conftest import TEST_SECRET
from tests.factories import auth_headers, create_user
from tests.retrieval.test_ingestion import harbour_log

LEASE_SECONDS = 3


def worker_env(database_url: str, redis_url: str, settings, fake_openai) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")}
    env.update(
        GPTSTORE_DATABASE_URL=database_url,
        GPTSTORE_REDIS_URL=redis_url,
        GPTSTORE_DATA_DIR=str(settings.data_dir),
        GPTSTORE_SECRET_KEY=TEST_SECRET,
        GPTSTORE_EMBEDDING_PROVIDER="openai",  # the local fake: a steady, known pace
        GPTSTORE_LLM_BASE_URL=fake_openai.base_url,
        GPTSTORE_LLM_API_KEY="sk-test",
        GPTSTORE_INGESTION_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    return env


async def start_worker(env: dict[str, str], log) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "worker", "--concurrency", "2", env=env, stderr=log
    )


async def _other_files(db: Database, dataset_id: uuid.UUID) -> list:
    """(status, dispatched, count) of the files of other datasets: work the workers may be busy with."""
    async with db.session_scope() as session:
        query = (
            sa.select(KnowledgeFile.status, KnowledgeFile.dispatched, sa.func.count())
            .where(KnowledgeFile.dataset_id != dataset_id)
            .group_by(KnowledgeFile.status, KnowledgeFile.dispatched)
        )
        return [tuple(r) for r in (await session.execute(query)).all()]


def _story(row: KnowledgeFile, others: list, log: Path) -> str:
    """The file's progress, the other files, and what the workers logged besides their HTTP requests
    (a failure's clue)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if '"httpx' not in line]
    requests = log.read_text(errors="replace").count("/v1/embeddings")
    progress = f"{row.chunks_done}/{row.chunks_total} chunks, attempt {row.attempts}"
    head = f"still {row.status} after two minutes: {progress}, {requests} calls to embed; others {others}"
    return "\n".join([head, *lines[-40:]])


async def file_row(db: Database, file_id: uuid.UUID) -> KnowledgeFile:
    async with db.session_scope() as session:
        return await session.get(KnowledgeFile, file_id)


async def test_a_worker_killed_mid_file_loses_and_duplicates_nothing(
    engine, database_url, server_urls, settings, redis, fake_openai_server, tmp_path
):
    settings.embedding_provider, settings.llm_base_url = "openai", fake_openai_server.base_url
    db = Database(engine)  # committed transactions: the workers are other processes
    async with db.session_scope() as session:
        user = await create_user(session, settings, plan="plus")
        dataset = Dataset(owner_id=user.id, name="Logs", chunk_size=100, chunk_overlap=10)
        session.add(dataset)
    files = [("big.md", harbour_log(400)), ("a.md", harbour_log(5, "bay")), ("b.md", harbour_log(5, "cove"))]
    async with app_client_for(settings, db=db, redis=redis) as client:
        response = await client.post(
            f"/api/datasets/{dataset.id}/file_batches",
            files=[("file", item) for item in files],
            headers=auth_headers(user, settings),
        )
        assert response.status_code == 202, response.text
        batch_id = response.json()["id"]
    async with db.session_scope() as session:
        big = await session.scalar(sa.select(KnowledgeFile.id).where(KnowledgeFile.filename == "big.md"))

    fake_openai_server.embedding_delay = 0.25  # 13 calls of 32 chunks: about 3 s for the big file
    env = worker_env(database_url, server_urls[1], settings, fake_openai_server)
    log = (tmp_path / "worker.log").open("wb")
    first = await start_worker(env, log)
    second = None
    try:
        deadline = time.monotonic() + 60
        row = await file_row(db, big)
        while not (row.chunks_total and 0 < row.chunks_done < row.chunks_total):
            assert time.monotonic() < deadline and row.status == "in_progress", "never saw the file mid-way"
            await asyncio.sleep(0.05)
            row = await file_row(db, big)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = (await file_row(db, big)).chunks_done
        assert 0 < killed_at < row.chunks_total

        second = await start_worker(env, log)
        deadline = time.monotonic() + 120  # a loaded machine starves the processes, not the test's point
        while (row := await file_row(db, big)).status == "in_progress":
            if time.monotonic() > deadline:
                others = await _other_files(db, row.dataset_id)
                pytest.fail(_story(row, others, tmp_path / "worker.log"))
            await asyncio.sleep(0.2)
        assert row.status == "completed", row.error_message
        assert (
            row.attempts >= 2
        )  # the killed run, then one that continued it (a stalled one may lose its lease)
        async with db.session_scope() as session:
            ords = list(
                await session.scalars(
                    sa.select(KnowledgeChunk.ord)
                    .where(KnowledgeChunk.file_id == big)
                    .order_by(KnowledgeChunk.ord)
                )
            )
        assert ords == list(range(row.chunks_total))  # no gap, no duplicate
        assert row.chunk_count == row.chunks_done == row.chunks_total

        deadline = time.monotonic() + 30
        async with app_client_for(settings, db=db, redis=redis) as client:
            while True:
                batch = (
                    await client.get(
                        f"/api/datasets/{dataset.id}/file_batches/{batch_id}",
                        headers=auth_headers(user, settings),
                    )
                ).json()
                if batch["status"] != "in_progress" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        assert batch["status"] == "completed"
        assert batch["file_counts"] == {
            "in_progress": 0,
            "completed": 3,
            "failed": 0,
            "cancelled": 0,
            "total": 3,
        }
    finally:
        fake_openai_server.embedding_delay = 0.0
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        log.close()
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id == user.id))
