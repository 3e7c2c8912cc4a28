"""Offline embedding throughput: our MiniLM embedder against the fastest bare onnxruntime loop, same run.

.venv/bin/python bench/embedding.py [--folder PATH] [--chunks 128] [--rounds 9] [--screen-passes 2] [--quick]

The chunks are what ingestion makes of the files under `--folder` (default: this repository's `retrieval/`
sources and `docs/`): parsed and chunked with the offline models' 256/64 tokens. A bare loop starts from the
same texts and ends with the same unit-length mean-pooled vectors (tokenize with `tokenizers`, `session.run`,
pool in numpy), with nothing of ours in between. It screens a grid of bare variants (sessions x intra-op
threads, batch size, length-sorted or not, graph optimisation level, spinning, inter-op threads) over
`--screen-passes` passes in random orders, then runs the `--finalists` fastest, the bare loop with our
settings and our embedder for `--rounds` rounds, each round in a new random order. Each round gives a paired
ratio ours / each bare loop (the same seconds of the host's load on both sides); the figure is the median
paired ratio against the finalist with the best median passages/s, with its quartiles and a bootstrap
interval.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import onnxruntime as ort

from retrieval.chunking import chunk_and_count
from retrieval.onnx_embedder import (
    DOCUMENT_NICENESS,
    MiniLMEmbedder,
    available_cpus,
    load_tokenizer,
    load_verified,
    mean_pooled,
    single_threaded_session,
)
from retrieval.parsing import ParseError, parse_document

ROOT = Path(__file__).resolve().parent.parent
OPT_LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def folder_chunks(folders: list[Path], limit: int, seed: int = 7) -> list[str]:
    """Up to `limit` chunk texts of the files under `folders`, chunked as offline ingestion does (256/64)."""
    texts: list[str] = []
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.is_file()):
        if path.suffix not in {".py", ".md", ".txt", ".html", ".json"}:
            continue
        try:
            parsed = parse_document(path.read_bytes(), path.name)
        except ParseError:
            continue
        chunks, _ = chunk_and_count(parsed.sections, chunk_size=256, chunk_overlap=64)
        texts += [chunk.text for chunk in chunks]
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


@dataclass(frozen=True)
class Variant:
    sessions: int
    threads: int
    batch: int
    sort: bool = True
    opt: str = "all"
    spin: bool = False
    inter: int = 1
    arena: bool = True

    def __str__(self) -> str:
        extra = "" if self.inter == 1 else f", parallel x{self.inter} inter-op"
        extra += "" if self.arena else ", no memory arena"
        return (
            f"{self.sessions} session{'s' if self.sessions > 1 else ' '} x {self.threads} thread"
            f"{'s' if self.threads > 1 else ' '} batch {self.batch:2} {'sorted' if self.sort else 'as is '}"
            f" opt {self.opt:8} spin {'on ' if self.spin else 'off'}{extra}"
        )


class BareLoop:
    """Texts to unit vectors with onnxruntime and numpy only, for one `Variant`."""

    def __init__(self, variant: Variant, model: bytes, tokenizer) -> None:
        self.variant = variant
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = variant.threads
        options.inter_op_num_threads = variant.inter
        options.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL if variant.inter > 1 else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        options.graph_optimization_level = OPT_LEVELS[variant.opt]
        options.enable_cpu_mem_arena = variant.arena
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if variant.spin else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "1" if variant.spin else "0")
        self.sessions = [
            ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
            for _ in range(variant.sessions)
        ]
        self.pool = ThreadPoolExecutor(variant.sessions) if variant.sessions > 1 else None

    def run(self, texts: list[str]):
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        order = list(range(len(texts)))
        if self.variant.sort:
            order.sort(key=lambda i: len(encodings[i].ids), reverse=True)
        batches = [order[i : i + self.variant.batch] for i in range(0, len(order), self.variant.batch)]
        out = np.zeros((len(texts), 384), dtype=np.float32)

        def infer(session, batch: list[int]) -> None:
            rows = [encodings[i] for i in batch]
            width = max(len(e.ids) for e in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, e in enumerate(rows):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = e.attention_mask
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[
                0
            ]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[batch] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

        if self.pool is None:
            for batch in batches:
                infer(self.sessions[0], batch)
            return out
        next_batch = iter(batches)
        lock = threading.Lock()

        def worker(session) -> None:
            while True:
                with lock:
                    batch = next(next_batch, None)
                if batch is None:
                    return
                infer(session, batch)

        list(self.pool.map(worker, self.sessions))
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def grid(cpus: int) -> list[Variant]:
    per_core = [Variant(cpus, 1, batch) for batch in (1, 2, 4, 8)]
    per_core += [
        Variant(cpus, 1, 4, sort=False),
        Variant(cpus, 1, 1, opt="basic"),
        Variant(cpus, 1, 2, opt="basic"),
        Variant(cpus, 1, 2, opt="extended"),
        Variant(cpus, 1, 2, arena=False),
    ]
    one = [Variant(1, cpus, batch) for batch in (1, 4, 16)]
    one += [
        Variant(1, cpus, 1, spin=True),
        Variant(1, cpus, 16, sort=False),
        Variant(1, cpus, 1, opt="extended"),
        Variant(1, cpus, 1, inter=cpus),
        Variant(1, 1, 1),
    ]
    if cpus > 2:
        one.append(Variant(cpus // 2, 2, 4))
    return per_core + one


def timed(run: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Lower quartile, median, upper quartile (inclusive method: defined for one value too)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    low, middle, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, middle, high


def bootstrap_median(values: list[float], resamples: int = 2000, seed: int = 1) -> tuple[float, float]:
    """90% percentile-bootstrap interval of the median of `values`."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.05 * resamples)], medians[int(0.95 * resamples) - 1]


def screen(
    variants: list[BareLoop], sample: list[str], passes: int, rng: random.Random
) -> dict[BareLoop, tuple[float, float]]:
    """Per variant: median passages/s and median CPU ms per passage over `passes` passes, each pass in a
    new random order. CPU time counts every thread of the process: it hardly moves with the host's load."""
    rates: dict[BareLoop, list[float]] = {bare: [] for bare in variants}
    cpu_ms: dict[BareLoop, list[float]] = {bare: [] for bare in variants}
    for _ in range(passes):
        for bare in rng.sample(variants, len(variants)):
            cpu_before = time.process_time()
            rates[bare].append(timed(lambda bare=bare: bare.run(sample), len(sample)))
            cpu_ms[bare].append((time.process_time() - cpu_before) / len(sample) * 1000)
    return {bare: (statistics.median(rates[bare]), statistics.median(cpu_ms[bare])) for bare in variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, action="append", help="files to chunk (repeatable)")
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9, help="final rounds (each in a random order)")
    parser.add_argument(
        "--screen-passes", type=int, default=2, help="passes of the grid over half the chunks"
    )
    parser.add_argument("--finalists", type=int, default=3, help="fastest screened variants in the final")
    parser.add_argument("--seed", type=int, default=1, help="of the random orders")
    parser.add_argument(
        "--niceness", type=int, default=DOCUMENT_NICENESS, help="of every thread of the run (default: ours)"
    )
    parser.add_argument("--quick", action="store_true", help="48 chunks, 1 screening pass, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.rounds, args.screen_passes = 48, 2, 1
    # Before any thread exists, so every thread (onnxruntime's, ours, the bare loops') inherits it: other
    # processes on a shared host then take the same share from both sides.
    os.nice(args.niceness)
    rng = random.Random(args.seed)
    started = time.perf_counter()

    cpus = available_cpus()
    texts = folder_chunks(args.folder or [ROOT / "retrieval", ROOT / "docs"], args.chunks)
    model, tokenizer = load_verified(None, None), load_tokenizer()
    pieces = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    print(
        f"offline embedding benchmark: {len(texts)} chunks"
        f" (word pieces: median {statistics.median(pieces):.0f},"
        f" {sum(p >= 256 for p in pieces) / len(pieces):.0%} truncated at 256), {cpus} CPUs,"
        f" onnxruntime {ort.__version__}, every thread at nice {args.niceness},"
        f" load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}"
    )

    loop = asyncio.new_event_loop()
    ours = MiniLMEmbedder(niceness=args.niceness)
    before = rss_mb()
    loop.run_until_complete(ours.load())
    ours_mb = rss_mb() - before
    loop.run_until_complete(ours.embed_documents(texts[:8]))  # warm-up
    loop.run_until_complete(ours.embed_query("warm up"))

    def run_ours() -> None:
        loop.run_until_complete(ours.embed_documents(texts))

    sample = texts[: max(8, len(texts) // 2)]
    variants = grid(cpus)
    print(
        f"\nscreening {len(variants)} bare variants: {args.screen_passes} pass(es) over {len(sample)} chunks"
        " each, every pass in a new random order; median passages/s, CPU ms per passage:"
    )
    loops = [BareLoop(variant, model, tokenizer) for variant in variants]
    for bare in loops:
        bare.run(texts[:8])  # warm-up
    screened = screen(loops, sample, args.screen_passes, rng)
    for bare in loops:
        print(f"  {screened[bare][0]:6.1f}  {screened[bare][1]:5.1f} ms  {bare.variant}")
    finalists = sorted(loops, key=lambda bare: screened[bare][0], reverse=True)[: args.finalists]
    # Our settings run bare as well (info): what our code adds on top of the same onnxruntime work.
    same = Variant(ours.sessions, 1, ours.batch_size, opt=ours.graph_optimization)
    twin = next((bare for bare in loops if bare.variant == same), None)
    if twin is None:
        twin = BareLoop(same, model, tokenizer)
        twin.run(texts[:8])
    for bare in loops:
        if bare not in finalists and bare is not twin:
            bare.close()

    bare_names = {f"bare {b.variant}": b for b in finalists}
    twin_name = f"bare {twin.variant}"
    bare_names.setdefault(twin_name, twin)
    contenders: dict[str, Callable[[], object]] = {
        name: (lambda b=b: b.run(texts)) for name, b in bare_names.items()
    }
    ours_name = (
        f"ours: {ours.sessions} sessions x 1 thread, batch {ours.batch_size}, opt {ours.graph_optimization},"
        " +1 query session"
    )
    contenders[ours_name] = run_ours
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    cpu_ms: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(args.rounds):
        # A new random order each round: no contender always runs right after the same one, or first.
        for name in rng.sample(names, len(names)):
            cpu_before = time.process_time()
            rates[name].append(timed(contenders[name], len(texts)))
            cpu_ms[name].append((time.process_time() - cpu_before) / len(texts) * 1000)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"\nfinal: {args.rounds} round(s), each in a random order; median passages/s [every round];"
        " CPU ms per passage of the process (median: load-independent work)"
    )
    for name in names:
        values = " ".join(f"{v:5.1f}" for v in rates[name])
        print(f"  {medians[name]:6.1f}  [{values}]  {statistics.median(cpu_ms[name]):5.1f} ms  {name}")

    # The reference is the finalist with the best median over all rounds: the fastest the grid found.
    best = max((f"bare {b.variant}" for b in finalists), key=medians.__getitem__)
    print("\nours / each bare loop, paired by round: median [quartiles] (90% bootstrap CI of the median)")
    summary: dict[str, tuple[float, float, float]] = {}
    for name in bare_names:
        paired = [a / b for a, b in zip(rates[ours_name], rates[name], strict=True)]
        summary[name] = quartiles(paired)
        low, high = bootstrap_median(paired)
        tags = [tag for tag, hit in (("fastest", name == best), ("our settings", name == twin_name)) if hit]
        print(
            f"  {summary[name][1]:.2f} [{summary[name][0]:.2f}-{summary[name][2]:.2f}] ({low:.2f}-{high:.2f})"
            f"  {name}{'  <- ' + ', '.join(tags) if tags else ''}"
        )
    ratio = summary[best][1]
    print(
        f"\nours / fastest bare ({best.removeprefix('bare ')}), median of paired per-round ratios:"
        f" {ratio:.2f}  (target >= 0.95: {'ok' if ratio >= 0.95 else 'MISS'});"
        f" ratio of medians {medians[ours_name] / medians[best]:.2f}; load average {os.getloadavg()[0]:.1f}"
    )

    extra = load_verified(None, None)
    base = rss_mb()
    extra_session = single_threaded_session(extra, ours.graph_optimization)
    created_mb = rss_mb() - base
    mean_pooled(extra_session, tokenizer.encode_batch(sorted(texts, key=len)[-ours.batch_size :]))
    print(
        f"memory: our embedder {ours_mb:.0f} MB RSS after load ({ours.sessions + 1} sessions);"
        f" one more single-threaded session {created_mb:.0f} MB when created,"
        f" {rss_mb() - base:.0f} MB after one batch of {ours.batch_size} of the longest chunks"
    )
    print(f"wall time {time.perf_counter() - started:.0f} s")
    del extra_session
    for bare in bare_names.values():
        bare.close()
    loop.close()


if __name__ == "__main__":
    main()
