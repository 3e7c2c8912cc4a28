"""A small JSON cache on Redis with generation-based invalidation.

A busy or unreachable Redis makes a lookup a miss (the value is computed from the database), never an
error; invalidation (`bump`) does fail, so a write that cannot invalidate is rolled back (503) rather
than leave a stale page cached for `cache_ttl_seconds`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "gptstore:cache:"
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
logger = logging.getLogger("gptstore.cache")


async def generation(redis: Redis, scope: str) -> int:
    value = await redis.get(f"{PREFIX}gen:{scope}")
    return int(value or 0)


async def bump(redis: Redis, *scopes: str) -> None:
    """Invalidate every entry cached under these scopes."""
    async with redis.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.incr(f"{PREFIX}gen:{scope}")
        await pipe.execute()


async def cached(redis: Redis, scope: str, key: str, ttl: int, compute: Callable[[], Awaitable[Any]]) -> Any:
    """The JSON value of `compute()`, kept for `ttl` seconds or until `bump(scope)`; computed afresh
    when Redis is busy (its pool timed out) or unreachable, and always when `ttl` is 0 (caching off)."""
    if ttl <= 0:
        return await compute()
    try:
        full = f"{PREFIX}{scope}:{await generation(redis, scope)}:{key}"
        hit = await redis.get(full)
    except UNAVAILABLE as exc:
        logger.warning("cache lookup skipped: %s", exc)
        return await compute()
    if hit is not None:
        return json.loads(hit)
    value = await compute()
    try:
        await redis.set(full, json.dumps(value, default=str), ex=ttl)
    except UNAVAILABLE as exc:
        logger.warning("cache store skipped: %s", exc)
    return value
