"""Fairness benchmark: the wait of one owner's single file queued behind another owner's 2,000-file batch,
next to the same file's wait on an idle worker, measured in one run.

    .venv/bin/python bench/fairness.py [--files 2000] [--concurrency 4] [--slots 4] [--unfair-files 40]

Embedded PostgreSQL and Redis (or GPTSTORE_BENCH_*), the app in-process, a SAQ worker in-process with
`--concurrency` jobs; each file is parsed in a real parse child, the model is replaced by an embedder of a
steady pace (`--embed-ms` per call) so that the figures measure the scheduling, not the model. Also
printed: how long the 2,000-file batch request took to be accepted, and (`--unfair-files`) the wait behind
a smaller batch when every file of it is queued at once, as before `retrieval.scheduling` (slots without
bound). A benchmark, not a test: nothing here asserts a time. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from core.app import create_app, cron_jobs, job_functions
from core.auth import AccountService
from core.db import Database, create_engine
from core.jobs import build_worker, create_queue
from core.models import User
from core.redis import create_redis
from core.settings import Settings
from retrieval import embedding as embedding_module
from retrieval.models import Dataset, KnowledgeFile
from tests.asgi import app_client


class PacedEmbedder:
    """A model's steady pace (`seconds` per call) without its cost: the figures measure scheduling."""

    model_id = "bench-paced"
    dimensions = 8
    remote = False

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def load(self) -> None:
        pass

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        await asyncio.sleep(self.seconds)
        return [[1.0] + [0.0] * 7 for _ in texts]

    async def embed_query(self, text: str) -> list[float]:
        return [1.0] + [0.0] * 7


def note(owner: str, i: int) -> bytes:
    return f"# {owner} note {i}\n\nShip {i} of {owner} moored at quay {i % 17} on day {i}.\n".encode()


async def wait_done(db: Database, file_id: uuid.UUID, poll: float = 0.01) -> None:
    while True:
        async with db.session_scope() as session:
            status = await session.scalar(sa.select(KnowledgeFile.status).where(KnowledgeFile.id == file_id))
        if status != "in_progress":
            return
        await asyncio.sleep(poll)


async def single_wait(client, db: Database, headers: dict[str, str], gpt_id: str, label: str) -> float:
    """Seconds from the upload's answer to the file's completion."""
    response = await client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (f"{label}.md", note(label, 0))}, headers=headers
    )
    assert response.status_code == 202, response.text
    start = time.perf_counter()
    await wait_done(db, uuid.UUID(response.json()["id"]))
    return time.perf_counter() - start


async def scenario(args, servers, workdir: Path, files: int, slots: int) -> dict[str, float]:
    settings = Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        data_dir=workdir / f"data-{files}-{slots}",
        secret_key="bench-secret-" + "x" * 40,
        llm_provider="offline",
        embedding_provider="minilm",
        ingestion_slots_per_owner=slots,
        max_files_per_batch=max(files, 1),
        max_files_per_gpt=100,
    )
    embedding_module._embedders[embedding_module.embedder_key(settings)] = PacedEmbedder(args.embed_ms / 1000)
    engine = create_engine(settings.database_url, pool_size=20)
    db, redis = Database(engine), create_redis(settings.redis_url)
    await redis.flushdb()
    queue = create_queue(redis)
    context = {"settings": settings, "db": db, "redis": redis, "queue": queue}
    worker = build_worker(
        queue, job_functions(), cron_jobs(settings), context, in_process=True, concurrency=args.concurrency
    )
    running = asyncio.create_task(worker.start())
    users = []
    try:
        async with db.session_scope() as session:
            for name in ("big", "small"):
                tag = uuid.uuid4().hex[:8]
                user = User(
                    email=f"{name}-{tag}@example.com",
                    password_hash="x",
                    display_name=name,
                    handle=f"{name}-{tag}",
                    plan="plus",
                )
                session.add(user)
                users.append(user)
            await session.flush()
            dataset = Dataset(owner_id=users[0].id, name="Archive")
            session.add(dataset)
        headers = [
            {"Authorization": f"Bearer {AccountService(None, settings).issue_token(u)[0]}"}  # type: ignore[arg-type]
            for u in users
        ]
        async with app_client(create_app(settings, db=db, redis=redis)) as client:
            gpt = await client.post("/api/gpts", json={"name": "Small"}, headers=headers[1])
            gpt_id = gpt.json()["id"]
            idle = [await single_wait(client, db, headers[1], gpt_id, f"idle-{i}") for i in range(3)]
            parts = [("file", (f"n{i}.md", note("big", i))) for i in range(files)]
            start = time.perf_counter()
            batch = await client.post(
                f"/api/datasets/{dataset.id}/file_batches", files=parts, headers=headers[0]
            )
            accepted = time.perf_counter() - start
            assert batch.status_code == 202, batch.text
            await asyncio.sleep(0.5)  # the batch is under way
            loaded = await single_wait(client, db, headers[1], gpt_id, "behind")
            cancel = f"/api/datasets/{dataset.id}/file_batches/{batch.json()['id']}/cancel"
            counts = (await client.post(cancel, headers=headers[0])).json()["file_counts"]
        return {
            "idle": statistics.median(idle),
            "loaded": loaded,
            "accepted": accepted,
            "done_before_cancel": counts["completed"],
        }
    finally:
        await worker.stop()
        running.cancel()
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id.in_([u.id for u in users])))
        await redis.aclose()
        await engine.dispose()
        del embedding_module._embedders[embedding_module.embedder_key(settings)]


async def run(args, workdir: Path) -> None:
    print(
        f"fairness on {os.cpu_count()} cores, worker concurrency {args.concurrency},"
        f" {args.embed_ms} ms per embedding call",
        flush=True,
    )
    async with bench_servers(workdir, "gptstore_bench_fairness") as servers:
        fair = await scenario(args, servers, workdir, args.files, args.slots)
        print(
            f"  {args.files:,}-file batch accepted in {fair['accepted']:.1f} s"
            " (202, bytes stored, rows inserted)"
        )
        print(f"  single file, idle worker:                 {fair['idle'] * 1000:8.0f} ms (median of 3)")
        print(
            f"  single file behind {args.files:,} files, {args.slots} slots: {fair['loaded'] * 1000:8.0f} ms"
            f"  ratio {fair['loaded'] / fair['idle']:.1f}x idle"
            f" ({fair['done_before_cancel']} batch files done meanwhile)",
            flush=True,
        )
        if args.unfair_files:
            unfair = await scenario(args, servers, workdir, args.unfair_files, 1_000_000)
            print(
                f"  single file behind {args.unfair_files:,} files, no slots:"
                f"  {unfair['loaded'] * 1000:8.0f} ms  ratio {unfair['loaded'] / unfair['idle']:.1f}x idle"
                " (every file queued at once, as before)"
            )
    print(f"  load average {os.getloadavg()[0]:.1f} (other processes on the machine skew every figure)")


def main() -> None:
    for name in ("gptstore.access", "httpx", "saq", "gptstore.retrieval"):
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="files in the big batch (default 2,000)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker jobs at once (default 4)")
    parser.add_argument("--slots", type=int, default=4, help="ingestion slots per owner (default 4)")
    parser.add_argument("--embed-ms", type=float, default=20.0, help="milliseconds per embedding call")
    parser.add_argument(
        "--unfair-files", type=int, default=40, help="batch size of the comparison without slots (0: skip)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
