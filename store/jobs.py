"""Store jobs: roll usage and citation counters from Redis into PostgreSQL and recompute trending."""

from __future__ import annotations

from typing import Any

from store import dataset_stats, usage


async def flush_counters(ctx: dict[str, Any]) -> int:
    """Usage counters (GPT-days moved) and then the datasets' citation counters."""
    moved = await usage.flush(ctx["db"], ctx["redis"])
    await dataset_stats.flush(ctx["db"], ctx["redis"])
    return moved


functions = [("store.flush_counters", flush_counters)]
