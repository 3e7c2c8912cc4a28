"""Store jobs: roll usage and citation counters from Redis into PostgreSQL and recompute trending."""

from __future__ import annotations

from typing import Any

from store import dataset_stats, usage
from store.datasets import refresh_used_by


async def flush_counters(ctx: dict[str, Any]) -> int:
    """Usage counters (GPT-days moved), then the datasets' citation counters and "used by" numbers."""
    moved = await usage.flush(ctx["db"], ctx["redis"])
    await dataset_stats.flush(ctx["db"], ctx["redis"])
    async with ctx["db"].session_scope() as session:
        await refresh_used_by(session)
    return moved


functions = [("store.flush_counters", flush_counters)]
