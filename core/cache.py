"""A small JSON cache on Redis with generation-based invalidation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

PREFIX = "gptstore:cache:"


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
    """The JSON value of `compute()`, kept for `ttl` seconds or until `bump(scope)`."""
    full = f"{PREFIX}{scope}:{await generation(redis, scope)}:{key}"
    hit = await redis.get(full)
    if hit is not None:
        return json.loads(hit)
    value = await compute()
    await redis.set(full, json.dumps(value, default=str), ex=ttl)
    return value
