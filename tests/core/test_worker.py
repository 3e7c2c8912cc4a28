"""`gptstore worker` on its own, as docker-compose runs it: it takes queued ingestions from Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import sqlalchemy as sa

from builder.service import GptService
from core.db import Database
from core.jobs import create_queue
from core.models import User
from core.redis import create_redis
from retrieval.jobs import enqueue_ingestion
from retrieval.models import KnowledgeFile
from retrieval.service import KnowledgeService
from tests.conftest import TEST_SECRET
from tests.factories import create_user


async def _content():
    yield b"# Ferries\n\nThe Geirangerfjord ferry runs from May to September.\n"


async def test_worker_process_ingests_a_queued_file(engine, database_url, server_urls, settings, tmp_path):
    db = Database(engine)  # committed transactions: the worker is another process
    async with db.session_scope() as session:
        user = await create_user(session, settings, plan="plus")
        gpt = await GptService(session, settings).create(user)
        knowledge = KnowledgeService(session, settings)
        file = await knowledge.add_file(await knowledge.knowledge_base_of(gpt.id), "ferries.md", _content())
        user_id, file_id = user.id, file.id
    redis = create_redis(server_urls[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")}
    env.update(
        GPTSTORE_DATABASE_URL=database_url,
        GPTSTORE_REDIS_URL=server_urls[1],
        GPTSTORE_DATA_DIR=str(settings.data_dir),
        GPTSTORE_SECRET_KEY=TEST_SECRET,
    )
    log = (tmp_path / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "worker", env=env, stderr=log
    )
    try:
        await enqueue_ingestion(create_queue(redis), file_id)
        status, deadline = "in_progress", time.monotonic() + 90
        while status == "in_progress" and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            async with db.session_scope() as session:
                status = await session.scalar(
                    sa.select(KnowledgeFile.status).where(KnowledgeFile.id == file_id)
                )
        assert status == "completed", (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)
        log.close()
        await redis.aclose()
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id == user_id))
    assert worker.returncode in (0, -signal.SIGTERM)
