"""Streaming from a parse child (`retrieval.isolation.stream_in_child`) and ingestion that writes a large
file's first chunks while the child cuts the rest (`retrieval.jobs`, `retrieval.child_tasks`)."""

from __future__ import annotations

import asyncio
import contextlib

import psutil
import pytest
import sqlalchemy as sa

from retrieval.chunking import GROUP_CHARS, chunk_document
from retrieval.isolation import ChildLimits, running_pids, stream_in_child
from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk, KnowledgeFile
from retrieval.parsing import ParseError, parse_document
from tests.retrieval.child_generators import (
    sleep_before_the_end,
    yield_forever,
    yield_then_fail,
    yield_then_wait,
)
from tests.retrieval.test_ingestion import FakeEmbedder, chunk_ords, create_gpt, file_state, upload

LIMITS = ChildLimits(60, 2**31)


async def test_items_arrive_while_the_child_still_runs(tmp_path):
    signal = tmp_path / "go"
    got = []
    async with contextlib.aclosing(
        stream_in_child(yield_then_wait, str(signal), limits=LIMITS, what="t")
    ) as items:
        async for item in items:
            got.append(item)
            signal.touch()
    assert got == [1, 2]
    assert not running_pids()


async def test_an_error_after_some_items_is_raised_after_them():
    got = []
    with pytest.raises(ParseError) as raised:
        async with contextlib.aclosing(stream_in_child(yield_then_fail, limits=LIMITS, what="t")) as items:
            async for item in items:
                got.append(item)
    assert got == ["first"]
    assert raised.value.code == "invalid_file" and "damaged" in raised.value.message
    assert not running_pids()


async def test_leaving_early_kills_the_child():
    async with contextlib.aclosing(stream_in_child(yield_forever, limits=LIMITS, what="t")) as items:
        async for _ in items:
            assert running_pids()
            break
    assert not running_pids()


async def test_the_time_limit_ends_a_child_that_streams_too_long():
    got = []
    with pytest.raises(ParseError) as raised:
        limits = ChildLimits(5, 2**31)  # the start of a child on a loaded host fits in it
        async with contextlib.aclosing(
            stream_in_child(sleep_before_the_end, limits=limits, what="t")
        ) as items:
            async for item in items:
                got.append(item)
    assert got == ["early"]
    assert raised.value.code == "parse_timeout"
    assert not running_pids()


def large_markdown(sections: int) -> str:
    return "\n\n".join(
        f"## Harbour {n}\n\n"
        + " ".join(f"Berth {n}-{i} costs {i * 7 % 97} kroner a night." for i in range(60))
        for n in range(sections)
    )


async def test_a_file_cut_in_several_parts_is_written_whole_and_in_order(
    client, creator_headers, db, settings, session
):
    text = large_markdown(240)
    assert len(text) > 3 * GROUP_CHARS  # several parts
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "harbours.md", text.encode())
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder()) == "completed"
    row = await session.get(KnowledgeFile, file_id)
    sections = parse_document(text.encode(), "harbours.md").sections
    expected = chunk_document(sections, chunk_size=row.chunk_size, chunk_overlap=row.chunk_overlap)
    state = await file_state(client, creator_headers, gpt_id, file_id)
    assert state["chunk_count"] == state["progress"]["chunks_total"] == len(expected)
    assert await chunk_ords(session, file_id) == list(range(len(expected)))
    texts = list(
        await session.scalars(
            sa.select(KnowledgeChunk.text)
            .where(KnowledgeChunk.file_id == file_id)
            .order_by(KnowledgeChunk.ord)
        )
    )
    assert texts == [c.text for c in expected]


async def test_a_file_over_the_token_limit_in_a_later_part_leaves_no_chunk(
    client, creator_headers, db, settings, session
):
    text = large_markdown(240)
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "harbours.md", text.encode())
    words = len(text.split())
    settings.max_file_tokens = words + 10  # passes the word bound, fails on the tokens of a later part
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder()) == "failed"
    row = await session.get(KnowledgeFile, file_id)
    assert row.error_code == "too_large" and f"the limit is {words + 10:,}" in row.error_message
    assert await chunk_ords(session, file_id) == []
    assert not running_pids()


@pytest.mark.parametrize("delay", [0.001, 0.005])
async def test_a_second_cancellation_while_the_child_is_stopped_leaves_nothing_behind(delay):
    started = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(stream_in_child(yield_forever, limits=LIMITS, what="t")) as items:
            async for _ in items:
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    pids = list(running_pids())
    task.cancel()
    await asyncio.sleep(delay)  # the first cancellation is in the clean-up, waiting for the child
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not running_pids()  # the old clean-up left the child listed here (a stale entry)
    for pid in pids:  # killed, not only forgotten (its forkserver reaps it: a zombie until then)
        with contextlib.suppress(psutil.NoSuchProcess):
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
