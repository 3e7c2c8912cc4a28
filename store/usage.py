"""Usage counters: incremented in Redis on the chat path, rolled into PostgreSQL by `store.flush_counters`."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.dialects.postgresql import insert

from builder.models import Gpt
from core.db import Database
from store.models import Listing, UsageDaily
from store.publishing import invalidate
from store.ranking import TRENDING_HALF_LIFE_DAYS, TRENDING_WINDOW_DAYS

PREFIX = "gptstore:usage"
DIRTY = f"{PREFIX}:dirty"
DAY_TTL = 9 * 24 * 3600
logger = logging.getLogger("gptstore.usage")


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def count(
    redis: Redis, gpt_id: uuid.UUID, user_id: uuid.UUID, *, conversations: int = 0, messages: int = 0
) -> None:
    """One pipelined round trip: never slows or fails a chat. Counters are statistics: when Redis is busy
    (its pool timed out) or unreachable, the increment is logged and dropped (fails open)."""
    try:
        await _count(redis, gpt_id, user_id, conversations=conversations, messages=messages)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        logger.warning(
            "usage count dropped",
            extra={
                "gpt_id": str(gpt_id),
                "conversations": conversations,
                "messages": messages,
                "error": str(exc),
            },
        )


async def _count(
    redis: Redis, gpt_id: uuid.UUID, user_id: uuid.UUID, *, conversations: int, messages: int
) -> None:
    day = _today()
    key = f"{PREFIX}:{day}:{gpt_id}"
    async with redis.pipeline(transaction=False) as pipe:
        if conversations:
            pipe.hincrby(key, "conversations", conversations)
        if messages:
            pipe.hincrby(key, "messages", messages)
        pipe.pfadd(f"{key}:users", str(user_id))
        pipe.pfadd(f"{PREFIX}:total:{gpt_id}:users", str(user_id))
        pipe.expire(key, DAY_TTL)
        pipe.expire(f"{key}:users", DAY_TTL)
        pipe.sadd(DIRTY, f"{day}|{gpt_id}")
        await pipe.execute()


TRENDING_SQL = sa.text(
    f"""
    UPDATE listing SET trending_score = coalesce(t.score, 0)
    FROM listing l LEFT JOIN (
        SELECT gpt_id,
               sum(power(2.0, -extract(epoch FROM now() - last_start) / 86400.0 / {TRENDING_HALF_LIFE_DAYS}))
               AS score
        FROM (
            SELECT gpt_id, user_id, max(created_at) AS last_start FROM conversation
            WHERE created_at > now() - interval '{TRENDING_WINDOW_DAYS} days'
            GROUP BY gpt_id, user_id
        ) starts GROUP BY gpt_id
    ) t ON t.gpt_id = l.gpt_id
    WHERE listing.gpt_id = l.gpt_id AND listing.trending_score IS DISTINCT FROM coalesce(t.score, 0)
    """
)


async def flush(db: Database, redis: Redis) -> int:
    """Move counted usage into `usage_daily` and the listings; recompute trending. Returns GPT-days moved."""
    members = await redis.smembers(DIRTY)
    moved: set[uuid.UUID] = set()
    for member in members:
        await redis.srem(DIRTY, member)
        day_text, gpt_text = member.decode().split("|")
        key = f"{PREFIX}:{day_text}:{gpt_text}"
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            pipe.pfcount(f"{key}:users")
            pipe.pfcount(f"{PREFIX}:total:{gpt_text}:users")
            counts, _, day_users, total_users = await pipe.execute()
        conversations = int(counts.get(b"conversations", 0))
        messages = int(counts.get(b"messages", 0))
        gpt_id = uuid.UUID(gpt_text)
        async with db.session_scope() as session:
            # KEY SHARE: a deletion of the GPT waits for this flush, or this flush sees it gone.
            exists = await session.scalar(
                sa.select(Gpt.id)
                .join(Listing, Listing.gpt_id == Gpt.id)
                .where(Gpt.id == gpt_id)
                .with_for_update(key_share=True, of=Gpt)
            )
            if exists is None:  # the GPT was deleted meanwhile
                continue
            statement = insert(UsageDaily).values(
                gpt_id=gpt_id, day=date.fromisoformat(day_text), conversations=conversations, users=day_users,
                messages=messages,
            )  # fmt: skip
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["gpt_id", "day"],
                    set_={
                        "conversations": UsageDaily.conversations + conversations,
                        "messages": UsageDaily.messages + messages,
                        "users": sa.func.greatest(UsageDaily.users, day_users),
                    },
                )
            )
            await session.execute(
                sa.update(Listing)
                .where(Listing.gpt_id == gpt_id)
                .values(
                    conversations=Listing.conversations + conversations,
                    messages=Listing.messages + messages,
                    users=sa.func.greatest(Listing.users, total_users),
                )
            )
        moved.add(gpt_id)
    async with db.session_scope() as session:
        await session.execute(TRENDING_SQL)
    for gpt_id in moved:
        await invalidate(redis, gpt_id)
    await invalidate(redis)  # trending moved too
    return len(moved)
