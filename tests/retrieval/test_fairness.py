"""Fair ingestion between owners: one owner's big batch never makes another owner's single file wait for
all of it (retrieval.scheduling). Measured in bench/fairness.py; here the order of completion."""

from __future__ import annotations

import asyncio
import time
import uuid

import sqlalchemy as sa
from pydantic import SecretStr

from core.app import cron_jobs, job_functions
from core.db import Database, utcnow
from core.jobs import build_worker, create_queue
from core.models import User
from retrieval.models import Dataset, KnowledgeFile
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.retrieval.test_files import create_gpt
from tests.retrieval.test_ingestion import harbour_log

SLOTS = 2


async def finished(db: Database, owners: list[uuid.UUID]) -> list[tuple[uuid.UUID, str, object]]:
    async with db.session_scope() as session:
        rows = await session.execute(
            sa.select(KnowledgeFile.id, KnowledgeFile.status, KnowledgeFile.updated_at)
            .where(KnowledgeFile.owner_id.in_(owners))
            .order_by(KnowledgeFile.updated_at)
        )
        return [tuple(row) for row in rows.all()]


async def test_a_single_file_is_not_starved_by_another_owners_batch(
    engine, settings, redis, fake_openai_server
):
    settings.embedding_provider, settings.llm_base_url = "openai", fake_openai_server.base_url
    settings.llm_api_key = SecretStr("sk-test")
    settings.ingestion_slots_per_owner = SLOTS
    settings.ingestion_lease_seconds = 2  # a job SAQ's sweep aborts (tobymao/saq#277) resumes quickly
    db = Database(engine)
    async with db.session_scope() as session:
        big_owner = await create_user(session, settings, plan="plus")
        small_owner = await create_user(session, settings, plan="plus")
        dataset = Dataset(owner_id=big_owner.id, name="Archive")
        session.add(dataset)
    owners = [big_owner.id, small_owner.id]
    queue = create_queue(redis)
    context = {"settings": settings, "db": db, "redis": redis, "queue": queue}
    worker = build_worker(
        queue, job_functions(), cron_jobs(settings), context, in_process=True, concurrency=1
    )
    running = asyncio.create_task(worker.start())
    fake_openai_server.embedding_delay = 0.1  # each file takes a moment, as with a real model
    try:
        async with app_client_for(settings, db=db, redis=redis) as client:
            files = [("file", (f"log-{i}.md", harbour_log(3, f"port {i}"))) for i in range(12)]
            batch = await client.post(
                f"/api/datasets/{dataset.id}/file_batches",
                files=files,
                headers=auth_headers(big_owner, settings),
            )
            assert batch.status_code == 202, batch.text
            small_headers = auth_headers(small_owner, settings)
            gpt_id = await create_gpt(client, small_headers)
            single = await client.post(
                f"/api/gpts/{gpt_id}/files",
                files={"file": ("mine.md", harbour_log(3, "bay"))},
                headers=small_headers,
            )
            assert single.status_code == 202, single.text
            arrived = utcnow()
            single_id = uuid.UUID(single.json()["id"])

        deadline = time.monotonic() + 90
        rows = await finished(db, owners)
        while any(status == "in_progress" for _, status, _ in rows):
            assert time.monotonic() < deadline, f"never finished: {rows}"
            await asyncio.sleep(0.2)
            rows = await finished(db, owners)
    finally:
        fake_openai_server.embedding_delay = 0.0
        await worker.stop()
        running.cancel()
    try:
        assert {status for _, status, _ in rows} == {"completed"}
        single_done = next(at for file_id, _, at in rows if file_id == single_id)
        # Files of the batch that finished after the single file arrived and before it: at most those that
        # were already queued (the owner's slots), never the rest of the batch.
        overtaking = [f for f, _, at in rows if f != single_id and arrived < at < single_done]
        assert len(overtaking) <= SLOTS
        assert len([f for f, _, at in rows if at > single_done]) >= 12 - 2 * SLOTS  # not behind the batch
    finally:
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id.in_(owners)))
