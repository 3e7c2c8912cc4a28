"""Per-user rate limits on Redis: fixed windows, answered with 429 and `Retry-After`.

They fail closed: when Redis is busy (its pool timed out) or unreachable, the request is refused with
503 and `Retry-After` (`core.errors`), because a limit that lets everything through when Redis is
overloaded would let the LLM spend it guards run unbounded exactly under load.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
import uuid
from pathlib import Path

from redis.asyncio import Redis

from core.errors import RateLimited

# One round trip, atomic, and fine on Redis 6 (no EXPIRE NX): the window starts with the first hit.
# ARGV: the window in seconds, and the cost of this hit (1 when left out).
_COUNT = """
local cost = tonumber(ARGV[2] or '1')
local count = redis.call('INCRBY', KEYS[1], cost)
if count == cost then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


async def enforce(
    redis: Redis,
    user_id: uuid.UUID | str,
    action: str,
    limit: int,
    window_seconds: int,
    *,
    name: str | None = None,
    cost: int = 1,
) -> None:
    """Count `cost` (one by default) `action`s by the user (or another subject: a visitor, a GPT, a client
    address); past `limit` in the current window, refuse with 429 (the problem's `limit` is `name`, where
    the limit is set, when given). A request that costs more than the limit is refused whole."""
    key = f"gptstore:rate:{action}:{user_id}"
    count, ttl = await redis.eval(_COUNT, 1, key, window_seconds, cost)
    if count > limit:
        retry = max(int(ttl), 1)
        raise RateLimited(
            f"Too many {_phrase(action)}: at most {limit} per {window_seconds} s. Try again in {retry} s.",
            retry_after=retry,
            **({"limit": name} if name else {}),
        )


class LoginThrottle:
    """Failed log-ins counted per account and per client IP in fixed windows (OWASP Authentication Cheat
    Sheet, "login throttling"): once either count reaches its limit, every log-in for that account or
    from that IP is refused with 429 and `Retry-After` until the window ends, even with the right password.

    Limits and window come from the settings `login_failures_per_account`, `login_failures_per_ip` and
    `login_window_seconds`. The account is keyed by a digest of its normalized e-mail, so unknown e-mails
    are counted the same way (no hint whether an account exists). A successful log-in clears the
    account's count, not the IP's.
    """

    def __init__(self, redis: Redis, *, per_account: int, per_ip: int, window_seconds: int):
        self.redis = redis
        self.window = window_seconds
        self.per_account = per_account
        self.per_ip = per_ip

    def _keys(self, email: str, ip: str | None) -> list[tuple[str, int, str]]:
        digest = hashlib.sha256(email.encode()).hexdigest()
        keys = [(f"gptstore:login-failures:account:{digest}", self.per_account, "for this account")]
        if ip:
            keys.append((f"gptstore:login-failures:ip:{ip}", self.per_ip, "from this address"))
        return keys

    async def check(self, email: str, ip: str | None) -> None:
        """Refuse with 429 when the account or the IP has used up its failed log-ins in this window."""
        keys = self._keys(email, ip)
        counts = await self.redis.mget([key for key, _, _ in keys])
        for (key, limit, whom), count in zip(keys, counts, strict=True):
            if count is not None and int(count) >= limit:
                retry = max(int(await self.redis.ttl(key)), 1)
                raise RateLimited(
                    f"Too many failed log-ins {whom}: at most {limit} per {self.window} s. "
                    f"Try again in {retry} s.",
                    retry_after=retry,
                )

    async def failed(self, email: str, ip: str | None) -> None:
        for key, _, _ in self._keys(email, ip):
            await self.redis.eval(_COUNT, 1, key, self.window)

    async def succeeded(self, email: str) -> None:
        await self.redis.delete(self._keys(email, None)[0][0])


@functools.cache
def _phrases() -> dict[str, str]:
    with (Path(__file__).parent / "data" / "rate_limit_phrases.toml").open("rb") as file:
        return tomllib.load(file)


def _phrase(action: str) -> str:
    """What a 429 calls `action` (core/data/rate_limit_phrases.toml): "messages", not "messages requests"."""
    return _phrases().get(action, f"{action} requests")
