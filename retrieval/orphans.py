"""Collecting stored uploads that no knowledge file names any more.

An upload is stored before its row is written and deleted once its row's deletion commits, so a row never
names a missing object; what a crash, a failed commit or an unreachable bucket leaves behind is an object
without a row. This job deletes those once they are older than `storage_orphan_grace_seconds` (an upload in
flight has its object for seconds before its row commits), and spool files of uploads as old.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.db import Database
from core.settings import Settings
from core.storage import storage_of
from retrieval.models import KnowledgeFile
from retrieval.uploads import upload_key

logger = logging.getLogger("gptstore.retrieval")

UPLOADS_PREFIX = "files"


def _file_id(key: str) -> uuid.UUID | None:
    """The file id of an upload's key (`files/ab/<id>`); None for any other key (a spooled `.part`)."""
    try:
        file_id = uuid.UUID(key.rsplit("/", 1)[-1])
    except ValueError:
        return None
    return file_id if upload_key(file_id) == key else None


async def collect_orphans(db: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete stored uploads older than the grace period that no file row names, and spool files left by a
    process that died; returns how many."""
    storage = storage_of(settings)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.storage_orphan_grace_seconds)
    deleted = await asyncio.to_thread(storage.sweep_spool, cutoff)
    async for keys in storage.keys_older_than(UPLOADS_PREFIX, cutoff):
        # A local upload's spool file (`<key>.part`) never outlives its request.
        spooled = [key for key in keys if key.endswith(".part") and _file_id(key.removesuffix(".part"))]
        await storage.delete(spooled)
        deleted += len(spooled)
        ids = {file_id: key for key in keys if (file_id := _file_id(key)) is not None}
        if not ids:
            continue
        async with db.session_scope() as session:
            known = set(await session.scalars(sa.select(KnowledgeFile.id).where(KnowledgeFile.id.in_(ids))))
        orphans = [key for file_id, key in ids.items() if file_id not in known]
        await storage.delete(orphans)
        deleted += len(orphans)
    if deleted:
        logger.info("deleted %d stored uploads that no file names", deleted)
    return deleted


async def collect_orphan_uploads(ctx: dict[str, Any]) -> int:
    return await collect_orphans(ctx["db"], ctx["settings"])


functions = [("retrieval.collect_orphan_uploads", collect_orphan_uploads)]
