"""A small JSON cache on Redis with generation-based invalidation.

A busy or unreachable Redis makes a lookup a miss (the value is computed from the database), never an
error; invalidation (`bump`) does fail, so a write that cannot invalidate is rolled back (503) rather
than leave a stale page cached for `cache_ttl_seconds`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "gptstore:cache:"
# How long a scope remembers its last change (for values read on a lagging replica: `cached`).
CHANGE_MARK_SECONDS = 300
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
logger = logging.getLogger("gptstore.cache")


def gpt_scope(gpt_id: object) -> str:
    """The scope of one GPT's cached store page (`store.service.StoreService.cached_page`)."""
    return f"gpt:{gpt_id}"


async def bump(redis: Redis, *scopes: str) -> None:
    """Invalidate every entry cached under these scopes, and mark when they changed."""
    async with redis.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.incr(f"{PREFIX}gen:{scope}")
            pipe.set(f"{PREFIX}changed:{scope}", repr(time.time()), ex=CHANGE_MARK_SECONDS)
        await pipe.execute()


async def cached(
    redis: Redis,
    scope: str,
    key: str,
    ttl: int,
    compute: Callable[[], Awaitable[Any]],
    *,
    lag: float = 0.0,
) -> Any:
    """The JSON value of `compute()`, kept for `ttl` seconds or until `bump(scope)`; computed afresh
    when Redis is busy (its pool timed out) or unreachable, and always when `ttl` is 0 (caching off).

    `lag`: seconds by which `compute` may trail the latest writes (it reads a replica,
    `core.db.replica_lag`). A value computed within `lag` of the scope's last change is served but not
    kept: it may predate the change, and kept it would outlive the invalidation by `ttl`.
    """
    if ttl <= 0:
        return await compute()
    try:
        current, changed = await redis.mget(f"{PREFIX}gen:{scope}", f"{PREFIX}changed:{scope}")
        full = f"{PREFIX}{scope}:{int(current or 0)}:{key}"
        hit = await redis.get(full)
    except UNAVAILABLE as exc:
        logger.warning("cache lookup skipped: %s", exc)
        return await compute()
    if hit is not None:
        return json.loads(hit)
    value = await compute()
    if lag > 0 and changed is not None and time.time() - float(changed) < lag:
        return value
    try:
        await redis.set(full, json.dumps(value, default=str), ex=ttl)
    except UNAVAILABLE as exc:
        logger.warning("cache store skipped: %s", exc)
    return value
