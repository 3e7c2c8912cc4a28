"""Redis client construction (one code path for the embedded unix socket and a production URL)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from core.settings import Settings

DEFAULT_POOL_SIZE = 50
DEFAULT_POOL_TIMEOUT_SECONDS = 5.0


def create_redis(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
) -> Redis:
    """A client on a bounded pool: at most `pool_size` connections; a command waits up to `pool_timeout`
    seconds for a free one, then raises `redis.exceptions.ConnectionError("No connection available.")`
    (answered with 503 by `core.errors`). Settings: `redis_pool_size`, `redis_pool_timeout_seconds`."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=pool_timeout, health_check_interval=30
    )
    return Redis.from_pool(pool)  # the client owns the pool: `aclose()` disconnects it


def redis_from_settings(settings: Settings, url: str | None = None) -> Redis:
    return create_redis(
        url or settings.redis_url,
        pool_size=settings.redis_pool_size,
        pool_timeout=settings.redis_pool_timeout_seconds,
    )
