"""Store search quality: precision and recall of the listings `q` returns, at each similarity floor and
name-similarity cut-off.

    .venv/bin/python bench/store_quality.py [--floors 0.25,0.3,...] [--names 0.3,0.4,...]

Publishes the 40 invented GPTs of `tests/data/store_search_eval.json` through the API (offline MiniLM
embeddings, as the store uses them), then runs each labelled query through the store's search
(`StoreSearch`, up to 50 results) with every pair of values of `MIN_DENSE` (the calibrated similarity a
listing needs to count as a semantic match) and `NAME_SIMILARITY` (pg_trgm word similarity of the query to a
name, for typos). A returned listing is right when the query's label names it; queries labelled with no
listing (nonsense, topics no GPT covers) should return nothing. Printed per pair: micro precision and recall
over all queries, the share of queries whose first result is relevant, the share of empty-label queries
answered with an empty page, and recall per kind of query (name, words, paraphrase, typo).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import warnings
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_app, bench_servers
from core.settings import Settings
from store.search import MIN_DENSE, NAME_SIMILARITY, StoreSearch

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "data" / "store_search_eval.json"
SECRET = "bench-secret-" + "x" * 40
LIMIT = 50


def figures(results: list[tuple[dict, list[str]]]) -> dict[str, float]:
    """Micro precision/recall, first-result precision, empty-label refusals and recall per query kind."""
    returned = right = wanted = first_right = answerable = 0
    empty_right = empty_total = 0
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for query, names in results:
        relevant = set(query["relevant"])
        hits = sum(name in relevant for name in names)
        returned += len(names)
        right += hits
        wanted += len(relevant)
        if relevant:
            answerable += 1
            first_right += bool(names) and names[0] in relevant
            per_kind[query["kind"]][0] += hits
            per_kind[query["kind"]][1] += len(relevant)
        else:
            empty_total += 1
            empty_right += not names
    out = {
        "precision": right / returned if returned else 1.0,
        "recall": right / wanted,
        "first": first_right / answerable,
        "empty": empty_right / empty_total if empty_total else 1.0,
    }
    out["f1"] = 2 * out["precision"] * out["recall"] / ((out["precision"] + out["recall"]) or 1)
    out |= {f"recall {kind}": hits / total for kind, (hits, total) in sorted(per_kind.items())}
    return out


async def run(args: argparse.Namespace, workdir: Path) -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    settings = Settings(
        database_url=None,
        data_dir=workdir / "data",
        secret_key=SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        default_plan="plus",
    )
    floors = [float(v) for v in args.floors.split(",")]
    names = [float(v) for v in args.names.split(",")]
    rows = []
    async with bench_servers(workdir, "gptstore_store_quality") as servers, AsyncExitStack() as stack:
        app = await bench_app(stack, servers, settings)
        client, headers, db, redis, settings = app.client, app.headers, app.db, app.redis, app.settings
        for gpt in spec["gpts"]:
            body = {**gpt, "instructions": "Help people.", "conversation_starters": ["Hi"]}
            gpt_id = (await client.post("/api/gpts", json=body, headers=headers)).json()["id"]
            version = await client.post(
                f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=headers
            )
            assert version.json()["review_status"] == "approved", version.text
        current: list[tuple[dict, list[str]]] = []
        for floor in floors:
            for name_cut in names:
                results = []
                async with db.sessionmaker() as session:
                    search = StoreSearch(session, settings, redis, min_dense=floor, name_similarity=name_cut)
                    for query in spec["queries"]:
                        page = await search._search(query["query"], None, LIMIT, None)
                        results.append((query, [item.name for item in page.data]))
                rows.append((floor, name_cut, figures(results)))
                if (floor, name_cut) == (args.show_floor, args.show_name):
                    current = results
    count = f"{len(spec['gpts'])} GPTs, {len(spec['queries'])} queries"
    print(f"\nstore search, {count} (* = the current values)")
    print("micro precision / recall over the returned listings; recall per kind of query")
    keys = list(rows[0][2])
    print(f"{'floor':>5} {'name':>5} " + " ".join(f"{k:>17}" for k in keys))
    for floor, name_cut, row in rows:
        mark = " *" if (floor, name_cut) == (MIN_DENSE, NAME_SIMILARITY) else ""
        print(f"{floor:5.3f} {name_cut:5.2f} " + " ".join(f"{row[k]:17.3f}" for k in keys) + mark)
    if args.misses:
        print(f"\nwrong at floor {args.show_floor}, name similarity {args.show_name}:")
        for query, found in current:
            extra = [n for n in found if n not in query["relevant"]]
            missing = [n for n in query["relevant"] if n not in found]
            if extra or missing:
                print(f"  {query['kind']:10} {query['query']!r}: extra {extra}, missing {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floors", default="0.2,0.25,0.3,0.35,0.4,0.45,0.5")
    parser.add_argument("--names", default="0.3,0.4,0.5,0.6,0.7")
    parser.add_argument("--misses", action="store_true", help="name what each query got wrong")
    parser.add_argument("--show-floor", type=float, default=MIN_DENSE, help="the floor --misses shows")
    parser.add_argument("--show-name", type=float, default=NAME_SIMILARITY, help="the cut-off --misses shows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-store-quality-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
