"""Search endpoint overhead: `POST /api/gpts/{id}/search` through a real socket, `KnowledgeService.search`
in-process, and the same SQL on a bare asyncpg connection, interleaved in one run.

    .venv/bin/python bench/endpoint.py [--chunks 200000] [--quick] [--queries 20] [--reps 5] [--profile]

Loads the synthetic corpus of `bench/retrieval.py` (clustered vectors, Zipfian text; HNSW and GIN built
after COPY) into a fresh database on embedded servers, then starts the real app under uvicorn in a
process of its own (`--serve`, as `gptstore serve` does: JSON access log, asyncio loop) and sends each
query three ways, in a shuffled order per query:

- `bare`: the search statement the service sends, with its parameters, on an asyncpg connection (a
  connection with `enable_sort = off` for the queries the service plans with sorts off: the HNSW-strategy
  ones before 7a05bb7, every one since; so the bare statement runs the same plan in one round trip);
- `service`: `KnowledgeService.search` in this process (the scope statement, the search, the sources);
- `http`: the endpoint over TCP keep-alive from a minimal HTTP/1.1 client (the server's work, not a client
  library's), with a real access token (JWT + Redis revocation check) and the JSON response parsed.

The query embedding is known in advance on both sides (the model is not measured). Prints p50/p95 of each,
the ratios to bare, the statements each layer sends, and the load average. `--breakdown` adds two layers:
`bare tx`, the service's own statements (`BEGIN`, the scope, the search, `COMMIT`) on a bare connection
opened for the rounds, and `round trip`, a `SELECT 1`. `--profile` samples the server with py-spy and
prints milliseconds per request by function. `--timeline` marks each step of a search request inside the
server (authentication, checkout, BEGIN, each statement, COMMIT, the response) and prints the median time
between steps: where the HTTP layer's time goes, waits included, which a CPU profile does not see. A
benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import BenchServers, bench_servers
from bench.retrieval import (
    SECRET,
    Capture,
    Corpus,
    Gpt,
    KnownEmbedder,
    Query,
    bulk_load,
    plan_gpts,
    progress,
    shuffled,
)
from core import migrate
from core.auth import AccountService
from core.db import SEARCH_SERVER_SETTINGS, Database, create_engine
from core.embedded import EmbeddedServers
from core.models import User
from core.settings import Settings
from retrieval import embedding as embedding_module
from retrieval.service import KnowledgeService

K = 10


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


# The server process ---------------------------------------------------------------------------------------


def serve(config_path: str) -> None:
    """The app under uvicorn, as `gptstore serve` runs it, with the bench's known query vectors."""
    import uvicorn

    from core.app import create_app
    from core.logs import configure_logging

    config = json.loads(Path(config_path).read_text())
    known = np.load(config["vectors"], allow_pickle=False)
    lookup = dict(zip(known["texts"].tolist(), known["vectors"].tolist(), strict=True))
    settings = Settings(**config["settings"])
    embedding_module._embedders[embedding_module.embedder_key(settings)] = KnownEmbedder(lookup.__getitem__)
    configure_logging(settings.log_level)
    db = Database.from_settings(settings, settings.database_url)
    count = [0, 0]  # statements on the primary's pool, on the search pool (no transaction)
    for i, pooled in enumerate((db.engine, db.search)):
        sa.event.listen(
            pooled.sync_engine, "before_cursor_execute", lambda *_, i=i: count.__setitem__(i, count[i] + 1)
        )

    def stopped(*_: object) -> None:  # uvicorn re-raises SIGTERM under this handler once it has shut down
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stopped)
    app = create_app(settings, db=db)
    timeline: list[list[tuple[str, float]]] = []
    if config.get("timeline"):
        app = timed(app, db, timeline)
    try:
        uvicorn.run(app, host="127.0.0.1", port=config["port"], log_config=None, access_log=False)
    finally:
        Path(config["statements"]).write_text(json.dumps(count))
        if config.get("timeline"):
            Path(config["timeline"]).write_text(json.dumps(timeline))


def timed(app, db: Database, timeline: list) -> Any:
    """`--timeline`: the app with marks at each step of a search request (its start, authentication, the
    session's checkout and BEGIN, every statement's start and end, the search in the service, COMMIT and
    check-in, the response), one list per request in `timeline`. A bench's instrument, not the service's."""
    import functools

    from sqlalchemy.ext.asyncio import AsyncSession

    import core.auth
    import retrieval.knowledge_search
    import retrieval.routes

    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter()))

    def around(owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            mark(f"{name} starts")
            try:
                return await original(*args, **kwargs)
            finally:
                mark(f"{name} ends")

        setattr(owner, attribute, wrapper)

    around(core.auth.AccountService, "user_for_credential", "authentication")
    around(core.auth.AccountService, "verify", "credential check")
    around(AsyncSession, "get", "session.get")
    around(retrieval.knowledge_search.KnowledgeSearch, "search", "KnowledgeSearch.search")
    around(retrieval.routes, "hit_test", "the handler's search")
    for pooled, pool in ((db.engine, ""), (db.search, "search pool ")):
        sync = pooled.sync_engine
        sa.event.listen(
            sync, "before_cursor_execute", lambda *a: mark("statement: " + " ".join(a[2].split())[:24])
        )
        sa.event.listen(sync, "after_cursor_execute", lambda *_: mark("statement ends"))
        for event in ("checkout", "checkin", "begin", "commit"):
            sa.event.listen(sync, event, lambda *_, e=pool + event: mark(e))

    async def instrumented(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/search"):
            await app(scope, receive, send)
            return
        marks.clear()
        mark("request")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                mark("response starts")
            await send(message)

        await app(scope, receive, sending)
        mark("response sent")
        timeline.append(list(marks))

    return instrumented


def print_timeline(path: Path, rounds: int) -> None:
    """Median milliseconds between consecutive marks of `timed`, over the measured rounds' requests that
    took the most common path (the last `rounds` requests)."""
    requests = json.loads(path.read_text())[-rounds:]
    paths: dict[tuple[str, ...], list] = {}
    for marks in requests:
        paths.setdefault(tuple(name for name, _ in marks), []).append(marks)
    common, runs = max(paths.items(), key=lambda item: len(item[1]))
    print(
        f"\nserver timeline (--timeline), {len(runs)} of {len(requests)} requests, median ms between steps:"
    )
    for i in range(1, len(common)):
        gap = float(np.median([(marks[i][1] - marks[i - 1][1]) * 1000 for marks in runs]))
        print(f"{gap:8.3f}  {common[i - 1]} -> {common[i]}")
    total = float(np.median([(marks[-1][1] - marks[0][1]) * 1000 for marks in runs]))
    print(f"{total:8.3f}  in all, inside the server (with the marks' own cost)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: requests with a JSON body, responses with Content-Length."""

    def __init__(self, port: int):
        self.port = port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        payload = json.dumps(body).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{head}\r\n".encode()
            + payload
        )
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(
            int(v) for k, _, v in (ln.partition(":") for ln in lines) if k.lower() == "content-length"
        )
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


@asynccontextmanager
async def corpus_servers(args: argparse.Namespace, workdir: Path) -> AsyncIterator[tuple[BenchServers, Path]]:
    """The bench's servers and the file that records its corpus: in `--corpus-dir`, a PostgreSQL data dir
    and database kept for the next run with the same size and seed; else fresh ones, dropped at the end."""
    if not args.corpus_dir:
        async with bench_servers(workdir, "gptstore_endpoint") as servers:
            yield servers, workdir / "corpus.pickle"
        return
    root = Path(args.corpus_dir).expanduser().resolve()  # noqa: ASYNC240 (once, before anything runs)
    name = f"gptstore_endpoint_{args.chunks}_{args.seed}"
    saved = root / f"{name}.pickle"
    with EmbeddedServers(root / "servers") as embedded:
        admin = create_engine(embedded.database_url, pool_size=1)
        try:
            async with admin.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                exists = await conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not (exists and saved.exists()):
                    saved.unlink(missing_ok=True)
                    await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()
        url = sa.make_url(embedded.database_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate.upgrade, url)  # new migrations since the corpus was built
        yield BenchServers(url, embedded.redis_url), saved


def queries_for(corpus: Corpus, gpts: list[Gpt], count: int) -> list[Query]:
    """`count` queries over `gpts`: a new point in one of the GPT's topics and two topic words (as
    `bench/retrieval.py` makes them, without the exact top 10, which this bench does not need)."""
    queries, seen = [], set()
    for gpt in itertools.islice(itertools.cycle(gpts), count):
        cluster = corpus.rng.choice(gpt.clusters)
        vector = corpus.vectors(np.array([cluster]))[0]
        text = " ".join(corpus.words[corpus.rng.choice(corpus.topics[cluster], 2, replace=False)])
        while text in seen:  # the embedder maps text to vector: texts must be unique
            text += " " + corpus.words[corpus.rng.choice(corpus.topics[cluster])]
        seen.add(text)
        queries.append(Query(gpt, vector, text, []))
    return queries


# Main -----------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(rng)
    gpts = plan_gpts(args.chunks, rng)
    owner = User(id=uuid.uuid4(), email="bench@bench.invalid", password_hash="x", display_name="Bench",
                 handle="bench")  # fmt: skip
    async with corpus_servers(args, workdir) as (servers, saved):
        settings = Settings(
            database_url=servers.database_url,
            redis_url=servers.redis_url,
            data_dir=workdir / "data",
            secret_key=SECRET,
            llm_provider="offline",
            embedding_provider="minilm",
        )
        engine = create_engine(servers.database_url, pool_size=4)
        search_pool = create_engine(
            servers.database_url,
            pool_size=2,
            server_settings=SEARCH_SERVER_SETTINGS,
            isolation_level="AUTOCOMMIT",
        )
        db = Database(engine, search=search_pool)
        try:
            if saved.exists():  # the corpus of an earlier run (--corpus-dir)
                corpus, gpts, owner.id, timings, load_seconds = pickle.loads(saved.read_bytes())
                progress(f"reusing the {args.chunks:,} chunks loaded by an earlier run ({saved})")
                reused = True
            else:
                reused = False
                progress(f"loading {args.chunks:,} chunks")
                tick = time.perf_counter()
                _, _, timings = await bulk_load(engine, corpus, gpts, owner.id, args.chunks)
                load_seconds = time.perf_counter() - tick
                if args.corpus_dir:
                    saved.write_bytes(pickle.dumps((corpus, gpts, owner.id, timings, load_seconds)))
            by_bucket: dict[int, list[Gpt]] = {}
            for g in gpts:
                if g.bucket is not None:
                    by_bucket.setdefault(g.bucket, []).append(g)
            per_bucket = [queries_for(corpus, gs, args.queries) for _, gs in sorted(by_bucket.items())]
            queries = [q for qs in itertools.zip_longest(*per_bucket) for q in qs if q]
            lookup = {q.text: q.vector.tolist() for q in queries}
            embedder = KnownEmbedder(lookup.__getitem__)
            np.savez(
                workdir / "vectors.npz", texts=np.array(list(lookup)), vectors=np.array(list(lookup.values()))
            )

            # The statements the service sends (the scope statement of each query for --breakdown).
            statements: dict[str, tuple[str, tuple, bool]] = {}
            scopes: dict[str, tuple[str, tuple]] = {}
            last_scope: list[tuple[str, tuple]] = []  # the scope statement of the search under way

            def watch(_conn, _cursor, statement, parameters, *_):
                if "sorts_off" in statement:
                    last_scope[:] = [(statement, tuple(parameters))]

            sa.event.listen(engine.sync_engine, "before_cursor_execute", watch)
            with Capture(engine) as capture:
                for q in queries:
                    async with db.session_scope() as session:
                        await KnowledgeService(session, settings, embedder=embedder).search(
                            q.gpt.id, q.text, k=K
                        )
                    scopes[q.text] = last_scope[0]
            sa.event.remove(engine.sync_engine, "before_cursor_execute", watch)
            service_statements = capture.statements / len(queries)
            # The bare floor is the endpoint's own search statement as the search pool sends it: planned
            # with sorts off by its connection's setting, so run bare on a connection with sorts off (an
            # HNSW-strategy search planned with sorts on would be a B-tree-and-sort plan, another query).
            # (Before the search pool, the statement of the transaction above, on a connection with sorts
            # off when that transaction had turned them off: since 7a05bb7, every one.)
            with Capture(db.search) as pooled:
                for q in queries:
                    async with db.search_session() as session:
                        await KnowledgeService(session, settings, embedder=embedder).search(
                            q.gpt.id, q.text, k=K
                        )
                    statement, parameters = pooled.last[-1]
                    statements[q.text] = (statement, parameters, True)

            port = free_port()
            config = {
                "settings": json.loads(settings.model_dump_json()) | {"secret_key": SECRET},
                "vectors": str(workdir / "vectors.npz"),
                "port": port,
                "statements": str(workdir / "statements"),
                "timeline": str(workdir / "timeline.json") if args.timeline else None,
            }
            (workdir / "config.json").write_text(json.dumps(config))
            with open(workdir / "server.log", "wb") as log:  # noqa: ASYNC230 (once, before the rounds)
                server = subprocess.Popen(  # noqa: ASYNC220
                    [sys.executable, __file__, "--serve", str(workdir / "config.json")],
                    stderr=log,
                    stdout=log,
                )
            try:
                await wait_for_port(port, server)
                token, _ = AccountService(None, settings).issue_token(owner)  # type: ignore[arg-type]
                headers = {"Authorization": f"Bearer {token}"}
                profile = workdir / "server.txt" if args.profile else None
                results = await measure(
                    db,
                    engine,
                    settings,
                    embedder,
                    queries,
                    statements,
                    scopes,
                    port,
                    headers,
                    args,
                    server.pid,
                    profile,
                )
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(60)
            on_primary, on_search_pool = json.loads((workdir / "statements").read_text())
            http_statements = (on_primary + on_search_pool) / results["requests"]
            http_transaction = "" if on_primary == 0 else " + BEGIN/COMMIT"
            if args.profile:
                print_profile(workdir / "server.txt", results["rounds"], args.top)
            if args.timeline:
                print_timeline(workdir / "timeline.json", results["rounds"])
        finally:
            await engine.dispose()
            await search_pool.dispose()

    times = results["times"]
    bare = times["bare"]
    print(
        f"\ngptstore search endpoint overhead: {args.chunks:,} chunks, {len(gpts)} GPTs,"
        f" {len(queries)} hybrid queries x {args.reps} rounds (k={K}), {os.cpu_count()} CPUs"
    )
    print(
        f"corpus {'reused; it was ' if reused else ''}built in {load_seconds:.0f} s"
        f" (generate {timings['generate']:.0f} s,"
        f" COPY {timings['copy']:.0f} s, GIN {timings.get('gin', 0):.0f} s,"
        f" HNSW {timings.get('hnsw', 0):.0f} s, VACUUM {timings['vacuum']:.0f} s)"
    )
    print(f"{'':<10} {'p50 ms':>8} {'p95 ms':>8} {'p50/bare':>9} {'p95/bare':>9} {'target':>7}  statements")
    notes = {
        "bare": "1 (the search statement)",
        "service": f"{service_statements:.1f} + BEGIN/COMMIT",
        "http": f"{http_statements:.1f}{http_transaction}"
        + (" (search pool: no transaction)" if not http_transaction else ""),
    }
    notes |= {
        "bare tx": "BEGIN, the scope and the search statement, COMMIT: the service's statements, bare",
        "round trip": "SELECT 1",
    }
    for name in times:
        p50, p95 = times[name]
        target = "<= 1.5" if name == "http" else ""
        flag = ("ok" if p50 / bare[0] <= 1.5 else "MISS") if target else ""
        print(
            f"{name:<10} {p50:8.2f} {p95:8.2f} {p50 / bare[0]:9.2f} {p95 / bare[1]:9.2f} {target:>7}"
            f" {flag:>4}  {notes[name]}"
        )
    added = results["added"]
    print(
        f"added per search (p50 of per-query differences to bare): service +{added['service']:.2f} ms,"
        f" http +{added['http']:.2f} ms; service and http return the same hits for {results['agree']:.0%} of"
        f" the queries, the bare statement's top {K} for {results['agree_bare']:.0%} (HNSW iterative scans in"
        " relaxed order differ at the edges between runs)"
    )
    print(
        f"total {(time.perf_counter() - started) / 60:.1f} min; load average {load_before[0]:.1f} at the"
        f" start, {os.getloadavg()[0]:.1f} at the end (other processes on the machine skew every figure)"
    )


async def measure(
    db, engine, settings, embedder, queries, statements, scopes, port, headers, args, pid, profile
) -> dict:
    async with engine.connect() as plain, engine.connect() as unsorted, engine.connect() as fresh:
        raw = (await plain.get_raw_connection()).driver_connection
        raw_unsorted = (await unsorted.get_raw_connection()).driver_connection
        await raw_unsorted.execute("SET enable_sort = off")
        http = HttpConnection(port)
        await http.open()

        async def bare(q) -> list[uuid.UUID]:
            statement, parameters, sort_off = statements[q.text]
            rows = await (raw_unsorted if sort_off else raw).fetch(statement, *parameters)
            return [r["id"] for r in rows]

        async def service(q) -> list[uuid.UUID]:
            async with db.session_scope() as session:
                hits = await KnowledgeService(session, settings, embedder=embedder).search(
                    q.gpt.id, q.text, k=K
                )
            return [s.hit.chunk_id for s in hits]

        async def endpoint(q) -> list[uuid.UUID]:
            status, body = await http.post(f"/api/gpts/{q.gpt.id}/search", {"query": q.text, "k": K}, headers)
            if status != 200:
                raise RuntimeError(f"{status}: {body[:300]!r}")
            return [uuid.UUID(r["chunk_id"]) for r in json.loads(body)["data"]]

        # --breakdown: the service's statements in their transaction on a bare connection (a new one, sorts
        # on as a pooled one is: the scope statement turns them off), and one round trip.
        raw_fresh = (await fresh.get_raw_connection()).driver_connection

        async def two_statements(q) -> list[uuid.UUID]:
            statement, parameters, _ = statements[q.text]
            scope, scope_parameters = scopes[q.text]
            async with raw_fresh.transaction():
                await raw_fresh.fetch(scope, *scope_parameters)
                rows = await raw_fresh.fetch(statement, *parameters)
            return [r["id"] for r in rows]

        async def round_trip(_q) -> list[uuid.UUID]:
            await raw_unsorted.fetch("SELECT 1")
            return []

        layers = {"bare": bare, "service": service, "http": endpoint}
        if args.breakdown:
            layers |= {"bare tx": two_statements, "round trip": round_trip}
        agree = agree_bare = 0
        for q in queries:  # warm-up, and the check that the layers find the same chunks
            found = [await fn(q) for fn in list(layers.values())[:3]]
            for fn in list(layers.values())[3:]:
                await fn(q)
            agree += found[1] == found[2]
            agree_bare += set(found[1]) == set(found[0])
        times: dict[str, list[float]] = {name: [] for name in layers}
        added: dict[str, list[float]] = {"service": [], "http": []}
        requests = len(queries)
        spy = None
        if profile:  # the measured rounds only: py-spy samples the server's stacks (idle threads skipped)
            spy = subprocess.Popen(  # noqa: ASYNC220 (before the rounds)
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "1000",
                 "--format", "raw", "--output", str(profile), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(2)
        for rep in range(args.reps):
            for i, q in enumerate(queries):
                this = {}
                for name in shuffled(list(layers), i * 10 + rep):
                    tick = time.perf_counter()
                    await layers[name](q)
                    this[name] = (time.perf_counter() - tick) * 1000
                    times[name].append(this[name])
                for name in added:
                    added[name].append(this[name] - this["bare"])
                requests += 1
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        http.close()
    return {
        "times": {name: percentiles(t) for name, t in times.items()},
        "added": {name: float(np.median(t)) for name, t in added.items()},
        "agree": agree / len(queries),
        "agree_bare": agree_bare / len(queries),
        "requests": requests,
        "rounds": requests - len(queries),
    }


def print_profile(path: Path, requests: int, top: int) -> None:
    """py-spy's samples of the server during the rounds, as milliseconds per request: inclusive (the
    function and what it calls) and self, for the functions on the request's path."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if not any("litestar/app.py" in f or "h11_impl.py" in f for f in frames):
            continue  # the event loop waiting, uvicorn's clock
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
    per_request = 1000 / 1000 / requests  # 1,000 samples per second
    print(
        f"\nserver profile (py-spy, {requests} requests): {total * per_request:.2f} ms of Python per request"
    )
    print(f"{'incl ms':>8} {'self ms':>8}  function")
    for frame, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        print(f"{count * per_request:8.3f} {own.get(frame, 0) * per_request:8.3f}  {frame[:150]}")
    print(f"{'self ms':>8}  function (by self time)")
    for frame, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"{count * per_request:8.3f}  {frame[:150]}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000, help="chunks to load (default 200,000)")
    parser.add_argument("--quick", action="store_true", help="5,000 chunks, 5 queries per size, 2 rounds")
    parser.add_argument("--queries", type=int, default=None, help="queries per GPT size (default 20)")
    parser.add_argument("--reps", type=int, default=None, help="measured rounds over the queries (default 5)")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy (installed)")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also the service's statements on a bare connection, a round trip",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="also the server's own timeline of a search request (median ms between its steps)",
    )
    parser.add_argument("--top", type=int, default=60, help="functions the profile lists")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--corpus-dir", help="keep the loaded corpus (embedded PostgreSQL) here and reuse it in later runs"
    )
    args = parser.parse_args()
    if args.quick:
        args.chunks = 5_000
    args.queries = args.queries or (5 if args.quick else 20)
    args.reps = args.reps or (2 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="gptstore-endpoint-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
