"""Fair ingestion: each owner has at most `ingestion_slots_per_owner` files on the job queue at once.

SAQ's Redis queue is one FIFO list (its job priorities exist only on its PostgreSQL queue), so a batch of
2,000 files enqueued at once would make another owner's single file wait for all of them. Instead every
new file waits in its owner's *backlog* (`knowledge_file.dispatched = false`), and `dispatch` hands the
oldest ones to the queue while the owner has fewer than the slot count dispatched and still in progress.
Each finished ingestion calls `dispatch` for its owner again, so the next file of a big batch joins the
queue *behind* whatever other owners queued meanwhile: owners take turns, round robin, and another owner's
file waits for about one file of each busy owner rather than for their whole batches (bench/fairness.py).

Dispatching marks the files in one transaction (under a per-owner advisory lock, so concurrent dispatches
never exceed the slots) and enqueues them after it commits; a process killed in between leaves files
marked but not queued, which `retrieval.jobs.resume_stale` queues again after the lease.
"""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from saq import Queue
from saq.job import Status

from core.concurrency import serialize
from core.db import Database, utcnow
from core.settings import Settings
from retrieval.models import KnowledgeFile

logger = logging.getLogger("gptstore.retrieval")

ACTIVE = "in_progress"


async def enqueue_ingestion(
    queue: Queue, file_id: uuid.UUID, attempt: int = 0, *, resume: bool = False
) -> None:
    """Put one file's ingestion on the job queue (a second enqueue of the same attempt is ignored).

    `resume` (`retrieval.jobs.resume_stale`: the file made no progress for a lease and no run holds its
    lock): SAQ ignores an enqueue whose key it still holds, in any state, and a worker killed after taking
    the job but before the run counted its attempt leaves that job "active" for good (its jobs have no
    timeout), so the same key would never run again. A key whose job is not waiting to run is skipped for
    the next free one (`ingest:<file>:<attempt>:1`, `:2`, ...); a job still waiting keeps its key and
    runs once.
    """
    key = f"ingest:{file_id}:{attempt}"
    if resume:
        base, n = key, 0
        while (job := await queue.job(key)) is not None and job.status not in (Status.NEW, Status.QUEUED):
            n += 1
            key = f"{base}:{n}"
    await queue.enqueue("retrieval.ingest_file", key=key, file_id=str(file_id), timeout=0, retries=1)


async def dispatch(db: Database, settings: Settings, queue: Queue, owner_id: uuid.UUID) -> int:
    """Queue the owner's oldest waiting files into its free ingestion slots; returns how many were queued."""
    async with db.session_scope() as session:
        await serialize(session, "ingestion-slots", owner_id)
        mine = (KnowledgeFile.owner_id == owner_id, KnowledgeFile.status == ACTIVE)
        busy = await session.scalar(
            sa.select(sa.func.count()).where(*mine, KnowledgeFile.dispatched.is_(True))
        )
        room = settings.ingestion_slots_per_owner - busy
        if room <= 0:
            return 0
        ids = list(
            await session.scalars(
                sa.select(KnowledgeFile.id)
                .where(*mine, KnowledgeFile.dispatched.is_(False))
                .order_by(KnowledgeFile.created_at, KnowledgeFile.id)
                .limit(room)
            )
        )
        if ids:
            await session.execute(
                sa.update(KnowledgeFile)
                .where(KnowledgeFile.id.in_(ids))
                .values(dispatched=True, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    for file_id in ids:
        await enqueue_ingestion(queue, file_id)
    return len(ids)


async def dispatch_waiting(db: Database, settings: Settings, queue: Queue) -> int:
    """`dispatch` for every owner with a backlog (the resume cron: heals a dispatch a crash lost)."""
    async with db.session_scope() as session:
        owners = list(
            await session.scalars(
                sa.select(KnowledgeFile.owner_id)
                .where(KnowledgeFile.status == ACTIVE, KnowledgeFile.dispatched.is_(False))
                .distinct()
            )
        )
    queued = 0
    for owner_id in owners:
        queued += await dispatch(db, settings, queue, owner_id)
    return queued


async def owner_of(db: Database, file_id: uuid.UUID) -> uuid.UUID | None:
    async with db.session_scope() as session:
        return await session.scalar(sa.select(KnowledgeFile.owner_id).where(KnowledgeFile.id == file_id))
