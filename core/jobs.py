"""Background jobs: SAQ on Redis. Job functions take ids and are named `<context>.<verb>`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from saq import CronJob, Queue, Worker
from saq.queue.redis import RedisQueue

QUEUE_NAME = "gptstore"


def create_queue(redis: Redis) -> Queue:
    # Built on our client so a unix-socket URL (embedded Redis) works as well as redis://.
    return RedisQueue(redis, name=QUEUE_NAME)


class InProcessWorker(Worker):
    """A worker sharing the web server's event loop: the server owns the signal handlers."""

    SIGNALS: list = []


def build_worker(
    queue: Queue,
    functions: Sequence[tuple[str, Any]],
    cron_jobs: Sequence[CronJob],
    context: dict[str, Any],
    *,
    in_process: bool,
    concurrency: int = 4,
) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(context)

    cls = InProcessWorker if in_process else Worker
    return cls(
        queue,
        functions=list(functions),
        cron_jobs=list(cron_jobs),
        startup=startup,
        concurrency=concurrency,
        shutdown_grace_period_s=2,  # an interrupted ingestion resumes later (retrieval.jobs)
    )
