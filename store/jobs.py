"""Store jobs: roll usage counters from Redis into PostgreSQL and recompute trending."""

from __future__ import annotations

from typing import Any

from store import usage


async def flush_counters(ctx: dict[str, Any]) -> int:
    return await usage.flush(ctx["db"], ctx["redis"])


functions = [("store.flush_counters", flush_counters)]
