"""Per-user rate limits on Redis: fixed windows, answered with 429 and `Retry-After`.

They fail closed: when Redis is busy (its pool timed out) or unreachable, the request is refused with
503 and `Retry-After` (`core.errors`), because a limit that lets everything through when Redis is
overloaded would let the LLM spend it guards run unbounded exactly under load.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from core.errors import RateLimited

# One round trip, atomic, and fine on Redis 6 (no EXPIRE NX): the window starts with the first hit.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


async def enforce(
    redis: Redis, user_id: uuid.UUID | str, action: str, limit: int, window_seconds: int
) -> None:
    """Count one `action` by the user (or another subject: a visitor, a GPT, a client address); past
    `limit` in the current window, refuse with 429."""
    key = f"gptstore:rate:{action}:{user_id}"
    count, ttl = await redis.eval(_COUNT, 1, key, window_seconds)
    if count > limit:
        retry = max(int(ttl), 1)
        raise RateLimited(
            f"Too many {action} requests: at most {limit} per {window_seconds} s. Try again in {retry} s.",
            retry_after=retry,
        )
