"""What `cjk_bigrams` (the `tsv_ngram` of every chunk) costs a chunk write: 0022's function against 0030's.

    .venv/bin/python bench/script_terms.py            # 2,350 chunks of ~1 KB per kind of text, 7 rounds

Starts an embedded PostgreSQL (or uses GPTSTORE_BENCH_DATABASE_URL as an admin URL) and runs the migrations
(0030's function is `cjk_bigrams`); 0022's is created beside it as `cjk_bigrams_0022`. For four kinds of
chunk text (Latin only, Japanese with identifiers glued to it, Korean, Chinese), in interleaved rounds
(medians, so the machine's load falls on all alike):

- the function alone over the chunks (`SELECT sum(length(f(text)))`), s;
- the COPY of the chunk rows (binary, asyncpg) into a table with the generated `tsv` and `tsv_ngram` and
  their GIN indexes, as `knowledge_chunk` has them, one per function, s.

A benchmark, not a test: nothing here asserts a time. docs/performance.md shows a run.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers

CHUNKS = 2_350  # a 1 MB file's chunk rows (docs/performance.md, Stop 21)
ROUNDS = 7
OLD = importlib.import_module("migrations.versions.0030_script_boundaries")


def _texts(kind: str, rng: random.Random) -> list[str]:
    latin = "harbour fees invoice ferry timetable magma eruption weekday staff notes March".split()
    ja = [
        "会議は金曜日です。",
        "コードはJP-{n}です。",
        "東京タワーは東京にあります。",
        "請求書の原本を提出してください。",
    ]
    ko = [
        "발표자료를 오늘 보내 주세요.",
        "이번 분기 코드KR-{n}입니다.",
        "회의는 금요일입니다.",
        "양식을 작성해 주세요.",
    ]
    zh = ["请提交发票原件和收据。", "会议在星期五举行。", "代码是CN-{n}。", "港口费用三月到期。"]
    out = []
    for _ in range(CHUNKS):
        parts: list[str] = []
        while sum(map(len, parts)) < (1000 if kind == "latin" else 400):  # ~1 KB of UTF-8 either way
            n = rng.randrange(1000, 9999)
            if kind == "latin":
                parts.append(f"{rng.choice(latin)} SKU-{n}" if rng.random() < 0.1 else rng.choice(latin))
            else:
                parts.append(rng.choice({"ja": ja, "ko": ko, "zh": zh}[kind]).format(n=n))
        out.append(" ".join(parts))
    return out


async def main() -> None:
    rng = random.Random(7)
    kinds = {kind: _texts(kind, rng) for kind in ("latin", "ja", "ko", "zh")}
    with tempfile.TemporaryDirectory(prefix="gptstore-bench-") as tmp:
        async with bench_servers(Path(tmp), "gptstore_bench_script_terms", redis=False) as servers:
            url = sa.make_url(servers.database_url)
            conn = await asyncpg.connect(
                host=url.query.get("host") or url.host, port=url.port, user=url.username,
                password=url.password, database=url.database,
            )  # fmt: skip
            old_body = f"SELECT CASE WHEN input ~ '{OLD.OLD_CHAR}' THEN ({OLD.OLD_BIGRAMS}) ELSE '' END"
            await conn.execute(
                "CREATE FUNCTION cjk_bigrams_0022(input text) RETURNS text"
                f" LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ {old_body} $$"
            )
            version = await conn.fetchval("SHOW server_version")
            print(
                f"gptstore cjk_bigrams benchmark: {CHUNKS:,} chunks per kind, {ROUNDS} rounds; Python "
                f"{platform.python_version()}, PostgreSQL {version}, {len(os.sched_getaffinity(0))} CPUs"
            )
            times: dict[tuple[str, str, str], list[float]] = {}
            for _ in range(ROUNDS):
                for kind, texts in kinds.items():
                    for name, function in (("0022", "cjk_bigrams_0022"), ("0030", "cjk_bigrams")):
                        await conn.execute("DROP TABLE IF EXISTS bench_chunk")
                        await conn.execute(
                            "CREATE TABLE bench_chunk (id int PRIMARY KEY, text text NOT NULL,"
                            " tsv tsvector GENERATED ALWAYS AS"
                            " (to_tsvector('simple'::regconfig, text)) STORED,"
                            " tsv_ngram tsvector GENERATED ALWAYS AS"
                            f" (to_tsvector('simple'::regconfig, {function}(text))) STORED)"
                        )
                        await conn.execute("CREATE INDEX ON bench_chunk USING gin (tsv)")
                        await conn.execute("CREATE INDEX ON bench_chunk USING gin (tsv_ngram)")
                        started = time.perf_counter()
                        await conn.copy_records_to_table(
                            "bench_chunk", records=list(enumerate(texts)), columns=["id", "text"]
                        )
                        times.setdefault((kind, name, "copy"), []).append(time.perf_counter() - started)
                        started = time.perf_counter()
                        await conn.fetchval(f"SELECT sum(length({function}(text))) FROM bench_chunk")
                        times.setdefault((kind, name, "function"), []).append(time.perf_counter() - started)
            await conn.execute("DROP TABLE IF EXISTS bench_chunk")
            await conn.close()
    print("| text | function 0022 | function 0030 | chunk COPY 0022 | chunk COPY 0030 |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        cells = [f"{statistics.median(times[(kind, n, what)]):.3f}" for what in ("function", "copy")
                 for n in ("0022", "0030")]  # fmt: skip
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
