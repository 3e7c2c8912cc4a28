"""Contributor numbers: how often each dataset is cited, per day and per citing GPT.

Every answer of a published GPT version (store chat and its MCP `ask`, `/v1/chat/completions`,
`/v1/responses`, the embedded chat) counts its citations here, by dataset, in Redis: one pipelined round
trip that never slows or fails an answer (like the usage counters, `store.usage`). `store.flush_counters`
moves them into `dataset_citation_daily`; `GET /api/datasets/{id}/stats` reads them (docs/data-library.md).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import NotFound
from core.models import User
from retrieval.answer import Answer, Citation
from retrieval.dataset_access import can_edit, require_edit
from retrieval.models import Dataset
from store.dataset_schemas import CitationDay, CitationTotals, CitingGpt, DatasetStatsRead
from store.models import DatasetCitationDaily, Listing

PREFIX = "gptstore:citations"
DIRTY = f"{PREFIX}:dirty"
DAY_TTL = 9 * 24 * 3600  # a day's counters outlive a week of flush failures, then expire
TOP_GPTS = 10
logger = logging.getLogger("gptstore.dataset_stats")

UPSERT = sa.text(
    """
    INSERT INTO dataset_citation_daily (dataset_id, day, gpt_id, citations, answers)
    SELECT c.dataset_id, :day, c.gpt_id, c.citations, c.answers
    FROM unnest(CAST(:dataset_ids AS uuid[]), CAST(:gpt_ids AS uuid[]), CAST(:citations AS int[]),
                CAST(:answers AS int[])) AS c(dataset_id, gpt_id, citations, answers)
    JOIN dataset d ON d.id = c.dataset_id
    JOIN gpt g ON g.id = c.gpt_id
    ON CONFLICT (dataset_id, day, gpt_id) DO UPDATE
    SET citations = dataset_citation_daily.citations + EXCLUDED.citations,
        answers = dataset_citation_daily.answers + EXCLUDED.answers
    """
)


def _day_key(day: str) -> str:
    return f"{PREFIX}:{day}"


async def count_citations(redis: Redis, gpt_id: uuid.UUID, citations: Iterable[Citation]) -> None:
    """Count an answer's citations of each dataset for `gpt_id` (the published GPT that answered). Fails
    open: when Redis is busy or unreachable the count is logged and dropped."""
    per_dataset = Counter(c.dataset_id for c in citations if c.dataset_id is not None)
    if not per_dataset:
        return
    day = datetime.now(UTC).date().isoformat()
    key = _day_key(day)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for dataset_id, n in per_dataset.items():
                pipe.hincrby(key, f"{dataset_id}|{gpt_id}|c", n)
                pipe.hincrby(key, f"{dataset_id}|{gpt_id}|a", 1)
            pipe.expire(key, DAY_TTL)
            pipe.sadd(DIRTY, day)
            await pipe.execute()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        logger.warning("citation count dropped", extra={"gpt_id": str(gpt_id), "error": str(exc)})


async def flush(db: Database, redis: Redis) -> int:
    """Move the counted citations into `dataset_citation_daily` (one statement per day; rows of datasets or
    GPTs deleted meanwhile are dropped). Returns the (dataset, GPT, day) rows written."""
    written = 0
    for member in await redis.smembers(DIRTY):
        day = member.decode()
        await redis.srem(DIRTY, member)
        moving = f"{_day_key(day)}:flushing:{uuid.uuid4().hex}"
        try:  # new counts go to a fresh key while these are written
            await redis.rename(_day_key(day), moving)
        except ResponseError:  # no such key: flushed already
            continue
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(moving)
            pipe.delete(moving)
            counts, _ = await pipe.execute()
        rows: dict[tuple[str, str], list[int]] = {}
        for field, value in counts.items():
            dataset_id, gpt_id, kind = field.decode().split("|")
            row = rows.setdefault((dataset_id, gpt_id), [0, 0])
            row[0 if kind == "c" else 1] += int(value)
        if not rows:
            continue
        keys = sorted(rows)  # one order for every flush: concurrent upserts cannot deadlock
        try:
            async with db.session_scope() as session:
                await session.execute(
                    UPSERT,
                    {
                        "day": date.fromisoformat(day),
                        "dataset_ids": [uuid.UUID(d) for d, _ in keys],
                        "gpt_ids": [uuid.UUID(g) for _, g in keys],
                        "citations": [rows[k][0] for k in keys],
                        "answers": [rows[k][1] for k in keys],
                    },
                )
        except Exception:  # put the counts back for the next flush, then fail the job as it would
            async with redis.pipeline(transaction=False) as pipe:
                for field, value in counts.items():
                    pipe.hincrby(_day_key(day), field, int(value))
                pipe.expire(_day_key(day), DAY_TTL)
                pipe.sadd(DIRTY, day)
                await pipe.execute()
            raise
        written += len(keys)
    return written


async def may_see_stats(session: AsyncSession, user: User, dataset: Dataset) -> bool:
    """Who sees a dataset's contributor numbers: those who may edit it (its owner, its organisation's
    builders and up, a site admin: `retrieval.dataset_access.can_edit`)."""
    return await can_edit(session, user, dataset)


async def dataset_stats(
    session: AsyncSession, user: User, dataset_id: uuid.UUID, days: int
) -> DatasetStatsRead:
    """The last `days` days (UTC, today included) of a dataset's citations: a series with a zero for
    quiet days, totals, and the listed GPTs that cited it most. 404 to those who may not see the dataset,
    403 to those who see it but may not change it (naming `required_role` for an organisation's)."""
    dataset = await session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound("No such dataset")
    await require_edit(session, user, dataset, doing="Reading the contributor numbers of")
    end = datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    in_period = sa.and_(
        DatasetCitationDaily.dataset_id == dataset_id, DatasetCitationDaily.day.between(start, end)
    )
    by_day: dict[date, Any] = {
        row.day: row
        for row in await session.execute(
            sa.select(
                DatasetCitationDaily.day,
                sa.func.sum(DatasetCitationDaily.citations).label("citations"),
                sa.func.sum(DatasetCitationDaily.answers).label("answers"),
            )
            .where(in_period)
            .group_by(DatasetCitationDaily.day)
        )
    }
    daily = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        row = by_day.get(day)
        citations, answers = (int(row.citations), int(row.answers)) if row else (0, 0)
        daily.append(CitationDay(date=day, citations=citations, answers=answers))
    gpts = await session.scalar(
        sa.select(sa.func.count(sa.distinct(DatasetCitationDaily.gpt_id))).where(in_period)
    )
    citations = sa.func.sum(DatasetCitationDaily.citations)
    top = await session.execute(
        sa.select(
            Listing.gpt_id,
            Listing.name,
            Listing.creator_handle,
            citations.label("citations"),
            sa.func.sum(DatasetCitationDaily.answers).label("answers"),
        )
        .join(Listing, Listing.gpt_id == DatasetCitationDaily.gpt_id)
        .where(in_period, Listing.listed)
        .group_by(Listing.gpt_id, Listing.name, Listing.creator_handle)
        .order_by(citations.desc(), Listing.gpt_id)
        .limit(TOP_GPTS)
    )
    return DatasetStatsRead(
        dataset_id=dataset.id,
        name=dataset.name,
        days=days,
        totals=CitationTotals(
            citations=sum(d.citations for d in daily), answers=sum(d.answers for d in daily), gpts=gpts or 0
        ),
        daily=daily,
        top_gpts=[
            CitingGpt(
                id=row.gpt_id,
                name=row.name,
                creator_handle=row.creator_handle,
                url=f"/g/{row.gpt_id}",
                citations=int(row.citations),
                answers=int(row.answers),
            )
            for row in top
        ],
    )


async def counted_choices(redis: Redis, gpt_id: uuid.UUID, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Chat Completions' `(index, Delta | Answer)` events passed on unchanged, each choice's `Answer`
    counted (`count_citations`) as it passes."""
    async for event in events:
        if isinstance(event, tuple) and isinstance(event[1], Answer):
            await count_citations(redis, gpt_id, event[1].citations)
        yield event
