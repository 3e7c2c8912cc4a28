"""The dataset directory at scale: browsing, searching and a dataset's page with "used by" counts.

Loads (with SQL, in seconds) N listed GPTs, each with its home dataset, and M open datasets; a third of the
GPTs use one open dataset (drawn with a Zipf skew, so a few are used by thousands), and times
`refresh_used_by` (the flush job's recompute of every open dataset's "used by"), `DatasetDirectory.browse`
(sort `used`, `new`, a text search) and `.page`; with `--compare` also the design it replaced, counting
each dataset's users per request through the GIN index on `gpt_version.datasets` (sort `used`); last, a
page without that index. Prints medians and ratios.

    .venv/bin/python bench/dataset_directory.py [--gpts 100000] [--datasets 2000] [--runs 15] [--compare]

GPTSTORE_BENCH_DATABASE_URL: an admin URL to use instead of an embedded PostgreSQL (bench/_servers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._servers import bench_servers
from core.db import Database, create_engine
from core.settings import Settings
from store.datasets import DatasetDirectory, refresh_used_by

PER_REQUEST_USED = """
    SELECT d.id FROM dataset d WHERE d.access = 'open'
    ORDER BY (SELECT count(*) FROM gpt_version v
              JOIN listing l ON l.gpt_id = v.gpt_id AND l.live_version = v.number AND l.listed
              WHERE v.datasets @> jsonb_build_array(jsonb_build_object('id', d.id::text))) DESC, d.id
    LIMIT 25
"""

LOAD = [
    """INSERT INTO user_account (id, email, password_hash, display_name, handle, plan, is_admin)
       VALUES (:owner, 'bench@example.com', 'x', 'Bench', 'bench', 'plus', false)""",
    """INSERT INTO dataset (id, owner_id, name, description, access, license, version, text_search_config)
       SELECT md5('d' || i)::uuid, :owner,
              'Open dataset ' || i || CASE WHEN i % 10 = 0 THEN ' ferries' ELSE '' END,
              'Measurements number ' || i || ' of the fjords', 'open',
              (ARRAY['CC-BY-4.0', 'CC0-1.0', 'ODbL-1.0'])[1 + i % 3], 1, 'simple'
       FROM generate_series(1, :datasets) i""",
    """INSERT INTO gpt (id, owner_id, name, description, instructions, welcome_message, conversation_starters,
                        category, tags, language, top_k, created_at, updated_at)
       SELECT md5('g' || i)::uuid, :owner, 'GPT ' || i, '', '', '', '[]', 'other', '[]', 'en', 6, now(), now()
       FROM generate_series(1, :gpts) i""",
    """INSERT INTO dataset (id, home_gpt_id, owner_id, text_search_config)
       SELECT md5('g' || i)::uuid, md5('g' || i)::uuid, :owner, 'simple' FROM generate_series(1, :gpts) i""",
    # A third of the GPTs use one open dataset, Zipf-skewed: dataset k is drawn with weight ~ 1/k.
    """INSERT INTO gpt_version (id, gpt_id, number, visibility, review_status, review_reasons, config,
                                file_ids, datasets, created_at)
       SELECT gen_random_uuid(), md5('g' || i)::uuid, 1, 'public', 'approved', '[]', '{}', '[]',
              jsonb_build_array(jsonb_build_object('id', md5('g' || i)::uuid::text, 'version', 1))
              || CASE WHEN i % 3 = 0 THEN jsonb_build_array(jsonb_build_object(
                   'id', md5('d' || (1 + floor(exp(random() * ln(:datasets))))::int)::uuid::text,
                   'version', 1)) ELSE '[]'::jsonb END,
              now()
       FROM generate_series(1, :gpts) i""",
    """INSERT INTO listing (gpt_id, owner_id, live_version, visibility, listed, hidden_by_reports, name,
                            description, tags, creator_handle, search_text, conversations, users,
                            messages, rating_count, rating_sum, rating_distribution, trending_score,
                            top_score, updated_at)
       SELECT md5('g' || i)::uuid, :owner, 1, 'public', true, false, 'GPT ' || i, '', '[]', 'bench', '',
              i % 100, 0, 0, 0, 0, '[0,0,0,0,0]', 0, 0, now()
       FROM generate_series(1, :gpts) i""",
]


async def timed(runs: int, call) -> float:
    """The median milliseconds of `runs` calls (after one warm-up)."""
    await call()
    times = []
    for _ in range(runs):
        tick = time.perf_counter()
        await call()
        times.append((time.perf_counter() - tick) * 1000)
    return statistics.median(times)


async def measure(
    db: Database, settings: Settings, runs: int, popular: uuid.UUID, compare: bool
) -> dict[str, float]:
    async with db.session_scope() as session:
        directory = DatasetDirectory(session, settings)

        def browse(q: str | None, sort: str | None):
            return lambda: directory.browse(q=q, license=None, sort=sort, limit=24, cursor=None)

        cases = {
            "refresh_used_by (job)": lambda: refresh_used_by(session),
            "browse, sort used": browse(None, "used"),
            "browse, sort new": browse(None, "new"),
            "search 'ferries'": browse("ferries", None),
            "page of the most used": lambda: directory.page(popular),
        }
        if compare:
            cases["per-request count, used"] = lambda: session.execute(sa.text(PER_REQUEST_USED))
        return {name: await timed(runs, call) for name, call in cases.items()}


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as workdir:
        async with bench_servers(Path(workdir), "bench_datasets", redis=False) as servers:
            engine = create_engine(servers.database_url, pool_size=2)
            settings = Settings(database_url=servers.database_url, data_dir=Path(workdir) / "data")
            params = {"owner": uuid.uuid4(), "gpts": args.gpts, "datasets": args.datasets}
            tick = time.perf_counter()
            async with engine.begin() as conn:
                for statement in LOAD:
                    await conn.execute(sa.text(statement), params)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text("VACUUM (ANALYZE) dataset, gpt_version, listing, knowledge_file"))
            print(f"loaded {args.gpts:,} listed GPTs and {args.datasets:,} open datasets in "
                  f"{time.perf_counter() - tick:.1f} s")  # fmt: skip
            db = Database(engine)
            popular = uuid.UUID(
                await _scalar(engine, "SELECT md5('d1')::uuid::text")  # the Zipf head: the most used
            )
            results = await measure(db, settings, args.runs, popular, args.compare)
            async with engine.begin() as conn:
                await conn.execute(sa.text("DROP INDEX ix_gpt_version_datasets_gin"))
            async with db.session_scope() as session:
                bare = await timed(args.runs, lambda: DatasetDirectory(session, settings).page(popular))
            await engine.dispose()
    print(f"\n{'median ms':<28}{'':>10}")
    for name, ms in results.items():
        print(f"{name:<28}{ms:>10.1f}")
    if args.compare:
        used, per_request = results["browse, sort used"], results["per-request count, used"]
        print(f"\nsort used: per-request counting / counter table = {per_request / used:.1f}")
    page = results["page of the most used"]
    print(f"page without / with the GIN index = {bare / page:.1f} ({bare:.1f} ms without)")


async def _scalar(engine, sql: str) -> str:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text(sql))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpts", type=int, default=100_000, help="listed GPTs (default 100,000)")
    parser.add_argument("--datasets", type=int, default=2_000, help="open datasets (default 2,000)")
    parser.add_argument("--runs", type=int, default=15, help="timed calls per case (default 15)")
    parser.add_argument(
        "--compare", action="store_true", help="also time the per-request counting it replaced (slow)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
